"""The OCI Distribution v1.1 front door (`/v2/...`): match the path, authenticate, authorize,
hand the request to its handler (:mod:`dockyard.oci.handlers`) and turn domain errors into
the spec's error envelope.

Paths are matched by their fixed suffixes rather than by a regex router, since
repository names contain slashes and every request passes through here.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.addresses import account_for_host
from dockyard.core.errors import DomainError
from dockyard.core.names import validate_repository_name
from dockyard.oci.access import check_route
from dockyard.oci.auth import AuthFailed
from dockyard.oci.errors import domain_error_response, error_response
from dockyard.oci.handlers import blobs, listings, manifests, uploads
from dockyard.oci.handlers.base import VERSION, Door, Handler, Route
from dockyard.registry import Registry

log = logging.getLogger("dockyard.oci")


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


ROUTES: dict[tuple[str, str], Handler] = {
    ("base", "GET"): listings.base,
    ("base", "HEAD"): listings.base,
    ("catalog", "GET"): listings.catalog,
    ("tags", "GET"): listings.tags,
    ("manifests", "GET"): manifests.get_manifest,
    ("manifests", "HEAD"): manifests.get_manifest,
    ("manifests", "PUT"): manifests.put_manifest,
    ("manifests", "DELETE"): manifests.delete_manifest,
    ("blobs", "GET"): blobs.get_blob,
    ("blobs", "HEAD"): blobs.get_blob,
    ("blobs", "DELETE"): blobs.delete_blob,
    ("uploads", "POST"): uploads.start_upload,
    ("upload", "GET"): uploads.upload_status,
    ("upload", "PATCH"): uploads.patch_upload,
    ("upload", "PUT"): uploads.finish_upload,
    ("upload", "DELETE"): uploads.cancel_upload,
    ("referrers", "GET"): listings.referrers,
}

# The route class of each endpoint: the `operation` label of the request metrics and access log.
OPERATIONS: dict[tuple[str, str], str] = {
    ("base", "GET"): "base",
    ("base", "HEAD"): "base",
    ("catalog", "GET"): "catalog",
    ("tags", "GET"): "tags_list",
    ("manifests", "GET"): "manifest_get",
    ("manifests", "HEAD"): "manifest_head",
    ("manifests", "PUT"): "manifest_put",
    ("manifests", "DELETE"): "manifest_delete",
    ("blobs", "GET"): "blob_get",
    ("blobs", "HEAD"): "blob_head",
    ("blobs", "DELETE"): "blob_delete",
    ("uploads", "POST"): "upload_start",
    ("upload", "GET"): "upload_status",
    ("upload", "PATCH"): "upload_patch",
    ("upload", "PUT"): "upload_finish",
    ("upload", "DELETE"): "upload_cancel",
    ("referrers", "GET"): "referrers",
}


class OciApp:
    """ASGI app for everything under /v2."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.door = Door(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        path = decoded_path(request)
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
        handler = ROUTES.get((route.kind, request.method))
        if handler is None:
            request.scope["dockyard.operation"] = "unsupported_method"
            return error_response(405, "UNSUPPORTED", f"{request.method} is not supported on this endpoint")
        request.scope["dockyard.operation"] = OPERATIONS[(route.kind, request.method)]
        request.scope["dockyard.repository"] = route.name or None
        door = self.door
        try:
            principal = door.auth.authenticate(request)
        except AuthFailed as failed:
            return failed.response
        account = account_for_host(
            self.registry.settings,
            request.headers.get("host"),
            principal.account_id if principal is not None else None,
        )
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
                        return door.auth.unauthorized(request, "Not Authorized")
                    return domain_error_response(err)
            refused = await check_route(door, request, route, principal, account)
            if refused is not None:
                return refused
            return await handler(door, request, route)
        except DomainError as err:
            return domain_error_response(err)
        except ClientDisconnect:
            return error_response(
                400, "BLOB_UPLOAD_INVALID", "client disconnected before the body was complete"
            )
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(500, "UNKNOWN", "internal server error; see the server log")


def decoded_path(request: Request) -> str:
    """The path as the client sent it, percent-decoded here: some servers drop control
    characters while decoding, which would turn an invalid name like `a%0Ab` into a valid one."""
    raw = request.scope.get("raw_path")
    if raw:
        return unquote(raw.decode("latin-1").split("?", 1)[0])
    return request.url.path
