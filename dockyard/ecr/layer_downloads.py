"""`GET /layers/<token>`: the URLs GetDownloadUrlForLayer hands out, served by Dockyard.

Like an S3 pre-signed URL, the token is the only credential: a valid, unexpired
token streams the blob (Range supported, zero-copy for whole-file GETs, exactly as
the /v2/ blob GET does); an expired or tampered one gets 403 with an S3-style
`AccessDenied` document.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.blob_serving import blob_response
from dockyard.core.errors import DomainError
from dockyard.core.layer_urls import PATH_PREFIX, LayerUrlInvalid, signer_for
from dockyard.registry import Registry

log = logging.getLogger("dockyard.ecr")
OCTET = "application/octet-stream"


async def serve_layer_download(registry: Registry, scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    response = await _handle(registry, request)
    await response(scope, receive, send)


async def _handle(registry: Registry, request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return _error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
    token = request.url.path[len(PATH_PREFIX) :]
    signer = await signer_for(registry.db)
    try:
        grant = signer.verify(token)
    except LayerUrlInvalid as err:
        return _error(403, "AccessDenied", "Request has expired" if err.expired else err.message)
    try:
        info = await registry.blobs.stat(grant.account_id, grant.repository, grant.digest)
    except DomainError:
        return _error(404, "NoSuchKey", "The specified key does not exist.")
    except Exception:
        log.exception("layer download of %s failed", grant.digest)
        return _error(500, "InternalError", "We encountered an internal error. Please try again.")
    headers = {
        "ETag": f'"{info.digest}"',
        "Docker-Content-Digest": info.digest,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=3600",
    }

    def unsatisfiable(size: int, _range_header: str) -> Response:
        return _error(
            416,
            "InvalidRange",
            "The requested range is not satisfiable",
            {"Content-Range": f"bytes */{size}"},
        )

    return blob_response(request, registry.store, info, headers, unsatisfiable)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, headers=headers, media_type="application/xml")
