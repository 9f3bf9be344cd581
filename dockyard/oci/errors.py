"""Distribution-spec error envelope, and the mapping from domain errors to its codes."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from dockyard.core import errors as e

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")

# domain error -> (HTTP status, OCI error code)
CODES: dict[type[e.DomainError], tuple[int, str]] = {
    e.NameInvalid: (400, "NAME_INVALID"),
    e.RepositoryNotFound: (404, "NAME_UNKNOWN"),
    e.DigestInvalid: (400, "DIGEST_INVALID"),
    e.BlobUnknown: (404, "BLOB_UNKNOWN"),
    e.UploadUnknown: (404, "BLOB_UPLOAD_UNKNOWN"),
    e.UploadInvalid: (400, "BLOB_UPLOAD_INVALID"),
    e.StorageFull: (503, "UNAVAILABLE"),  # as Distribution's errcode.ErrorCodeUnavailable
    e.RangeInvalid: (416, "BLOB_UPLOAD_INVALID"),
    e.SizeInvalid: (400, "SIZE_INVALID"),
    e.ManifestInvalid: (400, "MANIFEST_INVALID"),
    e.ManifestBlobUnknown: (400, "MANIFEST_BLOB_UNKNOWN"),
    e.ManifestUnknown: (404, "MANIFEST_UNKNOWN"),
    e.ManifestTooLarge: (413, "SIZE_INVALID"),
    e.TagInvalid: (400, "TAG_INVALID"),
    e.TagImmutable: (400, "TAG_INVALID"),
    e.ImageReferenced: (409, "DENIED"),
    e.Unsupported: (405, "UNSUPPORTED"),
    e.Denied: (403, "DENIED"),
    e.RepositoryAlreadyExists: (409, "DENIED"),
    e.RepositoryNotEmpty: (409, "DENIED"),
}


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]})
    all_headers = {API_VERSION_HEADER[0]: API_VERSION_HEADER[1], **(headers or {})}
    return Response(body, status_code=status, headers=all_headers, media_type="application/json")


def domain_error_response(err: e.DomainError, headers: dict[str, str] | None = None) -> Response:
    for cls in type(err).__mro__:
        if cls in CODES:
            status, code = CODES[cls]
            break
    else:
        status, code = 400, "UNSUPPORTED"
    if status == 503:
        headers = {"Retry-After": "60", **(headers or {})}
    return error_response(status, code, err.message, err.detail, headers)
