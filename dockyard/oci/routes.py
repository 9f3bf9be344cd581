"""The OCI Distribution v1.1 front door (`/v2/...`): parse, call the core, answer.

Paths are matched by their fixed suffixes rather than by a regex router, since
repository names contain slashes and every request passes through here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from dockyard.addresses import account_for_host, repository_arn
from dockyard.auth.authorizer import authorizer_for, deny_reason, request_context
from dockyard.auth.policy import ContextValue
from dockyard.auth.principals import Principal
from dockyard.blob_serving import blob_response
from dockyard.core.account_settings import blob_mounting_enabled
from dockyard.core.errors import (
    Denied,
    DomainError,
    ManifestTooLarge,
    RangeInvalid,
    SizeInvalid,
    UploadInvalid,
)
from dockyard.core.images import PULL_TIME_RESOLUTION
from dockyard.core.manifests import is_index, pick_platform_child, referrers_index
from dockyard.core.media_types import MAX_MANIFEST_BYTES, OCI_INDEX
from dockyard.core.names import validate_repository_name
from dockyard.oci.auth import AuthFailed, OciAuthenticator
from dockyard.oci.errors import API_VERSION_HEADER, domain_error_response, error_response
from dockyard.oci.manifest_deletion import delete_manifest
from dockyard.registry import Registry

log = logging.getLogger("dockyard.oci")
_CONTENT_RANGE_RE = re.compile(r"^(\d+)-(\d+)$")
VERSION = {API_VERSION_HEADER[0]: API_VERSION_HEADER[1]}


@dataclass(frozen=True, slots=True)
class Route:
    kind: str
    name: str = ""
    arg: str = ""


def match(path: str) -> Route | None:
    """Split `/v2/<name>/<kind>/<arg>` by the suffixes the spec defines."""
    if not path.startswith("/v2"):
        return None
    rest = path[3:]
    if rest in ("", "/"):
        return Route("base")
    rest = rest[1:]
    if rest == "_catalog":
        return Route("catalog")
    if rest.endswith("/tags/list"):
        return Route("tags", rest[: -len("/tags/list")])
    if rest.endswith("/blobs/uploads/") or rest.endswith("/blobs/uploads"):
        return Route("uploads", rest[: rest.rindex("/blobs/uploads")])
    parts = rest.rsplit("/", 3)
    if len(parts) == 4 and parts[1] == "blobs" and parts[2] == "uploads":
        return Route("upload", parts[0], parts[3])
    head, _, arg = rest.rpartition("/")
    name, _, kind = head.rpartition("/")
    if kind in ("manifests", "blobs", "referrers") and name and arg:
        return Route(kind, name, arg)
    return None


Handler = Callable[[Request, Route], Awaitable[Response]]

# The IAM action ECR checks for each registry operation (ecr.md 1.4).
IAM_ACTIONS: dict[tuple[str, str], str] = {
    ("catalog", "GET"): "ecr:DescribeRepositories",
    ("tags", "GET"): "ecr:ListImages",
    ("manifests", "GET"): "ecr:BatchGetImage",
    ("manifests", "HEAD"): "ecr:BatchGetImage",
    ("manifests", "PUT"): "ecr:PutImage",
    ("manifests", "DELETE"): "ecr:BatchDeleteImage",
    ("blobs", "GET"): "ecr:GetDownloadUrlForLayer",
    ("blobs", "HEAD"): "ecr:BatchCheckLayerAvailability",
    ("blobs", "DELETE"): "ecr:BatchDeleteImage",
    ("uploads", "POST"): "ecr:InitiateLayerUpload",
    ("upload", "GET"): "ecr:UploadLayerPart",
    ("upload", "PATCH"): "ecr:UploadLayerPart",
    ("upload", "PUT"): "ecr:CompleteLayerUpload",
    ("upload", "DELETE"): "ecr:UploadLayerPart",
    ("referrers", "GET"): "ecr:BatchGetImage",
}


class OciApp:
    """ASGI app for everything under /v2."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.auth = OciAuthenticator(registry)
        # Shared with the ECR door, so a policy change made here is seen at once by both.
        self.authorizer = authorizer_for(registry)
        self._tasks: set[asyncio.Future[None]] = set()
        self.routes: dict[tuple[str, str], Handler] = {
            ("base", "GET"): self.base,
            ("base", "HEAD"): self.base,
            ("catalog", "GET"): self.catalog,
            ("tags", "GET"): self.tags,
            ("manifests", "GET"): self.get_manifest,
            ("manifests", "HEAD"): self.get_manifest,
            ("manifests", "PUT"): self.put_manifest,
            ("manifests", "DELETE"): self.delete_manifest,
            ("blobs", "GET"): self.get_blob,
            ("blobs", "HEAD"): self.get_blob,
            ("blobs", "DELETE"): self.delete_blob,
            ("uploads", "POST"): self.start_upload,
            ("upload", "GET"): self.upload_status,
            ("upload", "PATCH"): self.patch_upload,
            ("upload", "PUT"): self.finish_upload,
            ("upload", "DELETE"): self.cancel_upload,
            ("referrers", "GET"): self.referrers,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        path = _decoded_path(request)
        if any("\x00" in value for value in request.query_params.values()):
            # No tag, digest or filter contains NUL, and databases refuse to compare with one.
            # (In the path, name, tag and digest validation already refuses it.)
            return error_response(400, "UNSUPPORTED", "the query string contains a NUL character")
        route = match(path)
        if route is None:
            # Not an endpoint of the spec: a plain 404, as Distribution answers (the JSON error
            # envelope may only carry the spec's codes, and none of them means "no such route").
            return Response(
                b"404 page not found\n", status_code=404, headers=VERSION, media_type="text/plain"
            )
        handler = self.routes.get((route.kind, request.method))
        if handler is None:
            return error_response(405, "UNSUPPORTED", f"{request.method} is not supported on this endpoint")
        try:
            principal = self.auth.authenticate(request)
        except AuthFailed as failed:
            return failed.response
        account = account_for_host(self.registry.settings, request.headers.get("host"))
        request.scope["dockyard.principal"] = principal
        request.scope["dockyard.account"] = account
        try:
            if route.name:
                # Before any lookup: an invalid name names nothing (and may hold bytes, such as
                # NUL, that a database refuses). Anonymous callers get the challenge instead.
                try:
                    validate_repository_name(route.name)
                except DomainError as err:
                    if principal is None:
                        return self.auth.unauthorized(request, "Not Authorized")
                    return domain_error_response(err)
            refused = await self._authorize(request, route, principal, account)
            if refused is not None:
                return refused
            return await handler(request, route)
        except DomainError as err:
            return domain_error_response(err)
        except ClientDisconnect:
            return error_response(
                400, "BLOB_UPLOAD_INVALID", "client disconnected before the body was complete"
            )
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(500, "UNKNOWN", "internal server error; see the server log")

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run bookkeeping (pull times) after the response, without making the client wait."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background bookkeeping failed: %s", task.exception())

    def account(self, request: Request) -> str:
        return str(request.scope["dockyard.account"])

    # ---------------------------------------------------------------- authorization
    def _trusted(self, principal: Principal | None, account: str) -> bool:
        """The root user in its own account: only a repository policy's Deny can stop it."""
        return principal is not None and principal.is_root and principal.account_id == account

    def _context(self, request: Request) -> dict[str, ContextValue]:
        found = request.scope.get("dockyard.context")
        if found is None:
            client = request.client
            found = request_context(client.host if client else None, request.url.scheme == "https")
            request.scope["dockyard.context"] = found
        return dict(found)

    def _denied(
        self, request: Request, principal: Principal | None, action: str, resource: str, why: str
    ) -> Response:
        if principal is None:
            return self.auth.unauthorized(request)
        return error_response(
            403,
            "DENIED",
            f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}",
        )

    async def _allowed(
        self, request: Request, principal: Principal | None, action: str, account: str, name: str
    ) -> tuple[bool, str, str]:
        """(allowed, resource ARN, AWS's reason tail) for ``action`` on repository ``name``."""
        resource = repository_arn(account, self.registry.settings.region, name)
        if name == "*":
            policy = None
        elif self._trusted(principal, account):
            # Root's common case (no policy) must stay query-free: a copy at most a few seconds old.
            policy = await self.authorizer.cached_repository_policy(account, name)
        else:
            policy = await self.authorizer.repository_policy(account, name)
        decision = await self.authorizer.check(
            principal,
            action,
            resource,
            account,
            policy,
            self._context(request),
            repository=None if name == "*" else name,
        )
        return decision.allowed, resource, deny_reason(decision, action, principal, account)

    def _create_check(self, request: Request, route: Route) -> Callable[[], Coroutine[Any, Any, None]]:
        """The ``ecr:CreateRepository`` check a push runs before creating its repository."""

        async def check() -> None:
            principal = request.scope.get("dockyard.principal")
            action = "ecr:CreateRepository"
            allowed, resource, why = await self._allowed(
                request, principal, action, self.account(request), route.name
            )
            if not allowed:
                who = "anonymous" if principal is None else principal.arn
                raise Denied(
                    f"User: {who} is not authorized to perform: {action} on resource: {resource} {why}"
                )

        return check

    async def _authorize(
        self, request: Request, route: Route, principal: Principal | None, account: str
    ) -> Response | None:
        """None when the request may go on, else the refusal (401 challenge when anonymous)."""
        if route.kind == "base":
            return self.auth.unauthorized(request) if principal is None else None
        action = IAM_ACTIONS.get((route.kind, request.method))
        if action is None:
            return self._denied(request, principal, "ecr:*", "*", "")
        # The catalog lists only what the caller may describe; a caller from outside the account
        # first needs the registry (not a repository) to let it list at all.
        name = "*" if route.kind == "catalog" else route.name
        if route.kind == "catalog" and principal is not None and principal.account_id == account:
            return None
        allowed, resource, why = await self._allowed(request, principal, action, account, name)
        if not allowed:
            return self._denied(request, principal, action, resource, why)
        if route.kind == "uploads" and request.query_params.get("mount"):
            # The caller must be able to read the source; without `from` the source is any
            # repository of the account, so the right is needed on all of them.
            source = request.query_params.get("from") or "*"
            allowed_source, _, _ = await self._allowed(
                request, principal, "ecr:GetDownloadUrlForLayer", account, source
            )
            request.scope["dockyard.mount_allowed"] = allowed_source
        return None

    # ---------------------------------------------------------------- base, listings
    async def base(self, request: Request, route: Route) -> Response:
        return Response(b"{}", headers=VERSION, media_type="application/json")

    async def catalog(self, request: Request, route: Route) -> Response:
        n, last = _pagination(request)
        account = self.account(request)
        principal = request.scope.get("dockyard.principal")
        region = self.registry.settings.region
        context = self._context(request)
        want = None if n is None else n + 1
        batch_size = 1000 if want is None else max(want, 1)
        names: list[str] = []
        while want is None or len(names) < want:
            batch = await self.registry.repositories.list_names(account, last, batch_size)
            if not batch:
                break
            allowed = await self.authorizer.visible(
                principal,
                "ecr:DescribeRepositories",
                account,
                batch,
                lambda name: repository_arn(account, region, name),
                context,
            )
            names.extend(name for name in batch if name in allowed)
            if len(batch) < batch_size:
                break
            last = batch[-1]
        if want is not None:
            names = names[:want]
        body, link = _page(names, n, "/v2/_catalog")
        return JSONResponse({"repositories": body}, headers={**VERSION, **link})

    async def tags(self, request: Request, route: Route) -> Response:
        n, last = _pagination(request)
        names = await self.registry.manifests.list_tags(
            self.account(request), route.name, last, None if n is None else n + 1
        )
        body, link = _page(names, n, f"/v2/{route.name}/tags/list")
        return JSONResponse({"name": route.name, "tags": body}, headers={**VERSION, **link})

    async def referrers(self, request: Request, route: Route) -> Response:
        artifact_type = request.query_params.get("artifactType")
        found = await self.registry.manifests.referrers(
            self.account(request), route.name, route.arg, artifact_type
        )
        headers = dict(VERSION)
        if artifact_type is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        return Response(referrers_index(found), headers=headers, media_type=OCI_INDEX)

    # ---------------------------------------------------------------- manifests
    async def get_manifest(self, request: Request, route: Route) -> Response:
        manifests = self.registry.manifests
        manifest = await manifests.get(self.account(request), route.name, route.arg)
        accepted = _accepted_types(request)
        if (
            accepted
            and is_index(manifest.media_type)
            and manifest.media_type not in accepted
            and ":" not in route.arg
        ):
            child = pick_platform_child(manifest.content, accepted)
            if child is not None:
                found = await manifests.get_child(manifest.repository_id, child)
                manifest = found or manifest
        headers = {
            **VERSION,
            "Docker-Content-Digest": manifest.digest,
            "ETag": f'"{manifest.digest}"',
            "Content-Length": str(len(manifest.content)),
        }
        if request.method == "GET" and manifest.pull_time_stale(PULL_TIME_RESOLUTION):
            principal = request.scope.get("dockyard.principal")
            arn = principal.arn if principal is not None else None
            self._background(self.registry.images.record_pull([manifest.id], arn))
        body = b"" if request.method == "HEAD" else manifest.content
        return Response(body, headers=headers, media_type=manifest.media_type)

    async def put_manifest(self, request: Request, route: Route) -> Response:
        body = await _read_limited(request, MAX_MANIFEST_BYTES)
        repo = await self.registry.repository_for_push(
            self.account(request), route.name, self._create_check(request, route)
        )
        result = await self.registry.manifests.put(
            repo,
            route.arg,
            body,
            request.headers.get("content-type"),
            request.query_params.getlist("tag"),
        )
        headers = {
            **VERSION,
            "Location": f"/v2/{route.name}/manifests/{result.digest}",
            "Docker-Content-Digest": result.digest,
            "Content-Length": "0",
        }
        if result.subject:
            headers["OCI-Subject"] = result.subject
        response = Response(b"", status_code=201, headers=headers)
        if request.query_params.getlist("tag"):
            for tag in result.tags:
                response.headers.append("OCI-Tag", tag)
        return response

    async def delete_manifest(self, request: Request, route: Route) -> Response:
        await delete_manifest(self.registry.image_deletion, self.account(request), route.name, route.arg)
        return Response(b"", status_code=202, headers={**VERSION, "Content-Length": "0"})

    # ---------------------------------------------------------------- blobs
    async def get_blob(self, request: Request, route: Route) -> Response:
        info = await self.registry.blobs.stat(self.account(request), route.name, route.arg)
        headers = {
            **VERSION,
            "Docker-Content-Digest": info.digest,
            "ETag": f'"{info.digest}"',
            "Accept-Ranges": "bytes",
            "Cache-Control": "max-age=31536000",
        }

        def unsatisfiable(size: int, range_header: str) -> Response:
            return error_response(
                416,
                "BLOB_UNKNOWN" if size == 0 else "SIZE_INVALID",
                f"range {range_header[:100]!r} cannot be satisfied by a {size}-byte blob",
                headers={"Content-Range": f"bytes */{size}"},
            )

        return blob_response(request, self.registry.store, info, headers, unsatisfiable)

    async def delete_blob(self, request: Request, route: Route) -> Response:
        await self.registry.blobs.unlink(self.account(request), route.name, route.arg)
        return Response(b"", status_code=202, headers={**VERSION, "Content-Length": "0"})

    # ---------------------------------------------------------------- uploads
    async def start_upload(self, request: Request, route: Route) -> Response:
        params = request.query_params
        account = self.account(request)
        repo = await self.registry.repository_for_push(
            account, route.name, self._create_check(request, route)
        )
        mount = params.get("mount")
        # ECR mounts only when the account enabled BLOB_MOUNTING; otherwise the client uploads.
        if (
            mount
            and request.scope.get("dockyard.mount_allowed", True)
            and await blob_mounting_enabled(self.registry.db, account, self.registry.account_setting_defaults)
        ):
            info = await self.registry.blobs.mount(repo, mount, params.get("from"))
            if info is not None:
                return _blob_created(route.name, info.digest)
        digest = params.get("digest")
        if digest:
            info = await self.registry.blobs.put_monolithic(repo, digest, _body(request))
            return _blob_created(route.name, info.digest)
        upload = await self.registry.blobs.start_upload(repo, params.get("digest-algorithm", "sha256"))
        return _upload_accepted(route.name, upload.id, 0)

    async def upload_status(self, request: Request, route: Route) -> Response:
        repo = await self.registry.repositories.get(self.account(request), route.name)
        upload = await self.registry.blobs.get_upload(repo, route.arg)
        return _upload_accepted(route.name, upload.id, upload.size, status=204)

    async def patch_upload(self, request: Request, route: Route) -> Response:
        repo = await self.registry.repositories.get(self.account(request), route.name)
        start, expected = _chunk_range(request)
        try:
            upload = await self.registry.blobs.append(repo, route.arg, _body(request), start, expected)
        except RangeInvalid as err:
            return domain_error_response(err, _range_headers(route.name, route.arg, err.current_size))
        return _upload_accepted(route.name, upload.id, upload.size)

    async def finish_upload(self, request: Request, route: Route) -> Response:
        repo = await self.registry.repositories.get(self.account(request), route.name)
        digest = request.query_params.get("digest", "")
        start, _ = _chunk_range(request)
        body = _body(request) if _has_body(request) else None
        if start is not None:
            upload = await self.registry.blobs.get_upload(repo, route.arg)
            if start != upload.size:
                err = RangeInvalid(
                    f"chunk starts at byte {start} but the upload has {upload.size} bytes", upload.size
                )
                return domain_error_response(err, _range_headers(route.name, route.arg, upload.size))
        info = await self.registry.blobs.complete(repo, route.arg, digest, body)
        return _blob_created(route.name, info.digest)

    async def cancel_upload(self, request: Request, route: Route) -> Response:
        repo = await self.registry.repositories.get(self.account(request), route.name)
        await self.registry.blobs.cancel(repo, route.arg)
        return Response(b"", status_code=204, headers=VERSION)


# -------------------------------------------------------------------- helpers
def _decoded_path(request: Request) -> str:
    """The path as the client sent it, percent-decoded here: some servers drop control
    characters while decoding, which would turn an invalid name like `a%0Ab` into a valid one."""
    raw = request.scope.get("raw_path")
    if raw:
        return unquote(raw.decode("latin-1").split("?", 1)[0])
    return request.url.path


def _body(request: Request) -> AsyncIterator[bytes]:
    return request.stream()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


# A rejected body is still read (and discarded) up to this many bytes: answering before the client
# has finished sending makes the server close the connection mid-request, and most clients then
# report "connection reset" instead of the 413 (nginx's lingering close exists for the same reason).
DRAIN_LIMIT = 64 * 1024 * 1024


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large: str | None = None
    if declared and declared.isdigit() and int(declared) > limit:
        too_large = f"manifest is {declared} bytes; the limit is {limit} (4 MiB)"
    buf = bytearray()
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if too_large is None and seen > limit:
            too_large = f"manifest exceeds the {limit}-byte (4 MiB) limit"
        if too_large is None:
            buf += chunk
        elif seen > DRAIN_LIMIT:
            break
    if too_large is not None:
        raise ManifestTooLarge(too_large)
    return bytes(buf)


def _chunk_range(request: Request) -> tuple[int | None, int | None]:
    """(first byte, length) from Content-Range / Content-Length."""
    length_header = request.headers.get("content-length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    content_range = request.headers.get("content-range")
    if content_range is None:
        return None, length
    m = _CONTENT_RANGE_RE.fullmatch(content_range.strip())
    if not m:
        raise UploadInvalid(f"malformed Content-Range {content_range[:100]!r}; expected <start>-<end>")
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise UploadInvalid(f"Content-Range {content_range!r} ends before it starts")
    if length is not None and length != end - start + 1:
        raise SizeInvalid(f"Content-Length {length} does not match Content-Range {content_range}")
    return start, end - start + 1


def _range_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


def _upload_accepted(name: str, upload_id: str, size: int, status: int = 202) -> Response:
    headers = {**VERSION, **_range_headers(name, upload_id, size), "Content-Length": "0"}
    return Response(b"", status_code=status, headers=headers)


def _blob_created(name: str, digest: str) -> Response:
    headers = {
        **VERSION,
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    }
    return Response(b"", status_code=201, headers=headers)


def _accepted_types(request: Request) -> set[str]:
    types: set[str] = set()
    for header in request.headers.getlist("accept"):
        for part in header.split(","):
            media_type = part.split(";", 1)[0].strip()
            if media_type and media_type != "*/*":
                types.add(media_type)
    return types


def _pagination(request: Request) -> tuple[int | None, str | None]:
    raw_n = request.query_params.get("n")
    n: int | None = None
    if raw_n is not None and raw_n != "":
        if not raw_n.isdigit():
            raise UploadInvalid(f"n must be a non-negative integer, not {raw_n[:20]!r}")
        n = min(int(raw_n), 10000)
    return n, request.query_params.get("last") or None


def _page(items: list[str], n: int | None, path: str) -> tuple[list[str], dict[str, str]]:
    if n == 0:
        return [], {}
    if n is None or len(items) <= n:
        return items, {}
    items = items[:n]
    query = urlencode({"n": n, "last": items[-1]}, quote_via=quote) if items else ""
    return items, {"Link": f'<{path}?{query}>; rel="next"'}
