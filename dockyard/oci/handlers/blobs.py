"""`/v2/<name>/blobs/<digest>`: fetch (GET, HEAD with ranges) and unlink (DELETE) a blob."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.blob_serving import blob_response
from dockyard.oci.errors import error_response
from dockyard.oci.handlers.base import VERSION, Door, Route, account_of


async def get_blob(door: Door, request: Request, route: Route) -> Response:
    info = await door.registry.blobs.stat(account_of(request), route.name, route.arg)
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

    return blob_response(request, door.registry.store, info, headers, unsatisfiable)


async def delete_blob(door: Door, request: Request, route: Route) -> Response:
    await door.registry.blobs.unlink(account_of(request), route.name, route.arg)
    return Response(b"", status_code=202, headers={**VERSION, "Content-Length": "0"})
