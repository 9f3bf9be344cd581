"""`/v2/<name>/manifests/<reference>`: get (GET, HEAD), put (PUT) and delete (DELETE) manifests."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.core.errors import ManifestTooLarge
from dockyard.core.images import PULL_TIME_RESOLUTION
from dockyard.core.manifests import is_index, pick_platform_child
from dockyard.core.media_types import MAX_MANIFEST_BYTES
from dockyard.oci import manifest_deletion
from dockyard.oci.access import create_check
from dockyard.oci.handlers.base import VERSION, Door, Route, account_of


async def get_manifest(door: Door, request: Request, route: Route) -> Response:
    manifests = door.registry.manifests
    manifest = await manifests.get(account_of(request), route.name, route.arg)
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
        door.background(door.registry.images.record_pull([manifest.id], arn))
    body = b"" if request.method == "HEAD" else manifest.content
    return Response(body, headers=headers, media_type=manifest.media_type)


async def put_manifest(door: Door, request: Request, route: Route) -> Response:
    body = await _read_limited(request, MAX_MANIFEST_BYTES)
    repo = await door.registry.push_targets.repository_for_push(
        account_of(request), route.name, create_check(door, request, route)
    )
    result = await door.registry.manifests.put(
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


async def delete_manifest(door: Door, request: Request, route: Route) -> Response:
    await manifest_deletion.delete_manifest(
        door.registry.image_deletion, account_of(request), route.name, route.arg
    )
    return Response(b"", status_code=202, headers={**VERSION, "Content-Length": "0"})


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


def _accepted_types(request: Request) -> set[str]:
    types: set[str] = set()
    for header in request.headers.getlist("accept"):
        for part in header.split(","):
            media_type = part.split(";", 1)[0].strip()
            if media_type and media_type != "*/*":
                types.add(media_type)
    return types
