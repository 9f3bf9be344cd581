"""Answering a blob GET/HEAD, shared by `/v2/.../blobs/` and GetDownloadUrlForLayer's URLs.

Whole-blob GETs go zero-copy (the ASGI `pathsend` extension: Granian sends the file
itself) or, for object stores configured to redirect, to a presigned URL; ranges
stream from the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from dockyard.core.blobs import BlobInfo
from dockyard.store.blobs.base import BlobStore, ByteRange

OCTET = "application/octet-stream"
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")

# (size, Range header) -> the response to an unsatisfiable range
RangeError = Callable[[int, str], Response]


def parse_range(header: str, size: int) -> ByteRange | None:
    """One `bytes=` range (first-last, first-, or -suffix) clipped to the blob; None if unsatisfiable."""
    m = _RANGE_RE.fullmatch(header.strip())
    if not m or size == 0:
        return None
    first, last = m.group(1), m.group(2)
    if first == "":
        if last == "" or int(last) == 0:
            return None
        return ByteRange(max(size - int(last), 0), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        return None
    return ByteRange(start, end)


def blob_response(
    request: Request, store: BlobStore, info: BlobInfo, headers: dict[str, str], range_error: RangeError
) -> Response:
    if request.method == "HEAD":
        headers["Content-Length"] = str(info.size)
        return Response(b"", headers=headers, media_type=OCTET)
    range_header = request.headers.get("range")
    if range_header is not None:
        byte_range = parse_range(range_header, info.size)
        if byte_range is None:
            return range_error(info.size, range_header)
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{info.size}"
        headers["Content-Length"] = str(byte_range.end - byte_range.start + 1)
        return StreamingResponse(
            store.read(info.key, byte_range), status_code=206, headers=headers, media_type=OCTET
        )
    url = store.download_url(info.key)
    if url is not None:
        return RedirectResponse(url, status_code=307, headers=headers)
    path = store.local_path(info.key)
    if path is not None:
        return FileResponse(path, headers=headers, media_type=OCTET)
    headers["Content-Length"] = str(info.size)
    return StreamingResponse(store.read(info.key), headers=headers, media_type=OCTET)
