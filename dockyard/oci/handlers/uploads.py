"""`/v2/<name>/blobs/uploads/[<id>]`: start (POST, also monolithic and cross-repository mount),
append (PATCH), complete (PUT), inspect (GET) and cancel (DELETE) a blob upload."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from dockyard.core.account_settings import blob_mounting_enabled
from dockyard.core.errors import RangeInvalid, SizeInvalid, StorageFull, UploadInvalid
from dockyard.oci.access import create_check
from dockyard.oci.errors import domain_error_response
from dockyard.oci.handlers.base import VERSION, Door, Route, account_of

_CONTENT_RANGE_RE = re.compile(r"^(\d+)-(\d+)$")


async def start_upload(door: Door, request: Request, route: Route) -> Response:
    params = request.query_params
    account = account_of(request)
    registry = door.registry
    may_create = create_check(door, request, route)
    repo = await registry.push_targets.repository_for_push(account, route.name, may_create)
    mount = params.get("mount")
    # ECR mounts only when the account enabled BLOB_MOUNTING; otherwise the client uploads.
    if (
        mount
        and request.scope.get("dockyard.mount_allowed", True)
        and await blob_mounting_enabled(registry.db, account, registry.account_setting_defaults)
    ):
        info = await registry.blobs.mount(repo, mount, params.get("from"))
        if info is not None:
            return _blob_created(route.name, info.digest)
    digest = params.get("digest")
    if digest:
        body = RequestBody(request)
        async with body.drained_on_refusal():
            info = await registry.blobs.put_monolithic(repo, digest, body)
        return _blob_created(route.name, info.digest)
    upload = await registry.blobs.start_upload(repo, params.get("digest-algorithm", "sha256"))
    return _upload_accepted(route.name, upload.id, 0)


async def upload_status(door: Door, request: Request, route: Route) -> Response:
    repo = await door.registry.repositories.get(account_of(request), route.name)
    upload = await door.registry.blobs.get_upload(repo, route.arg)
    return _upload_accepted(route.name, upload.id, upload.size, status=204)


async def patch_upload(door: Door, request: Request, route: Route) -> Response:
    repo = await door.registry.repositories.get(account_of(request), route.name)
    start, expected = _chunk_range(request)
    body = RequestBody(request)
    try:
        async with body.drained_on_refusal():
            upload = await door.registry.blobs.append(repo, route.arg, body, start, expected)
    except RangeInvalid as err:
        return domain_error_response(err, _range_headers(route.name, route.arg, err.current_size))
    return _upload_accepted(route.name, upload.id, upload.size)


async def finish_upload(door: Door, request: Request, route: Route) -> Response:
    repo = await door.registry.repositories.get(account_of(request), route.name)
    digest = request.query_params.get("digest", "")
    start, _ = _chunk_range(request)
    body = RequestBody(request) if _has_body(request) else None
    if start is not None:
        upload = await door.registry.blobs.get_upload(repo, route.arg)
        if start != upload.size:
            err = RangeInvalid(
                f"chunk starts at byte {start} but the upload has {upload.size} bytes", upload.size
            )
            return domain_error_response(err, _range_headers(route.name, route.arg, upload.size))
    if body is None:
        info = await door.registry.blobs.complete(repo, route.arg, digest, None)
    else:
        async with body.drained_on_refusal():
            info = await door.registry.blobs.complete(repo, route.arg, digest, body)
    return _blob_created(route.name, info.digest)


async def cancel_upload(door: Door, request: Request, route: Route) -> Response:
    repo = await door.registry.repositories.get(account_of(request), route.name)
    await door.registry.blobs.cancel(repo, route.arg)
    return Response(b"", status_code=204, headers=VERSION)


# A body refused mid-way (a full disk) is still read, and discarded, up to this many bytes:
# answering before the client has sent it all makes the server reset the connection, and the
# client then reports that instead of the retryable 503 (nginx's lingering close, in the app).
DRAIN_LIMIT = 64 * 1024 * 1024


class RequestBody:
    """The request body as the domain reads it, resumable where the domain stopped reading."""

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream()
        self.done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            self.done = True
            raise

    @contextlib.asynccontextmanager
    async def drained_on_refusal(self) -> AsyncIterator[None]:
        """On a full disk, read the rest of the body (up to DRAIN_LIMIT) before answering."""
        try:
            yield
        except StorageFull:
            seen = 0
            while not self.done and seen <= DRAIN_LIMIT:
                try:
                    seen += len(await self.__anext__())
                except StopAsyncIteration:
                    break
                except Exception:  # the client went away: nothing left to answer
                    break
            raise


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


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
