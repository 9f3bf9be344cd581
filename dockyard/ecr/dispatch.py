"""The AWS JSON 1.1 front door: ``POST /`` with ``X-Amz-Target``, as the ECR SDKs call it.

Everything protocol-shaped lives here (target routing, body limits, JSON parsing, model
validation, output serialisation, AWS error documents) so that handlers only see
validated Python values and return plain dicts, and every failure reaches the client in
the form botocore understands.
"""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from dockyard import untrusted_json
from dockyard.ecr import model
from dockyard.ecr.errors import (
    EcrError,
    invalid_parameter,
    not_implemented,
    serialization,
    server_error,
    unknown_operation,
)

log = logging.getLogger("dockyard.ecr")

TARGET_PREFIX = f"{model.service_model().metadata['targetPrefix']}."
CONTENT_TYPE = "application/x-amz-json-1.1"
ACCEPTED_CONTENT_TYPES = frozenset({CONTENT_TYPE, "application/json"})
# UploadLayerPart carries up to 20 MiB of layer data, base64-encoded (x4/3) inside JSON.
DEFAULT_MAX_BODY = 32 * 1024 * 1024

CallerT = TypeVar("CallerT")
Handler = Callable[[CallerT, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]
Authenticate = Callable[[Request, bytes], Awaitable[CallerT]]
Endpoint = Callable[[Request], Awaitable[Response]]

_current_request: contextvars.ContextVar[Request] = contextvars.ContextVar("dockyard_ecr_request")
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("dockyard_ecr_request_id")
_current_operation: contextvars.ContextVar[str] = contextvars.ContextVar("dockyard_ecr_operation")


def current_request() -> Request:
    """The HTTP request being served (for handlers that need e.g. the Host for URIs)."""
    return _current_request.get()


def current_request_id() -> str:
    """The ``x-amzn-RequestId`` of the request being served (for logs and events)."""
    return _current_request_id.get()


def current_operation() -> str:
    """The ECR action name of the request being served."""
    return _current_operation.get()


def _json_response(
    status: int, document: Mapping[str, Any], request_id: str, error: str | None = None
) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if error is not None:
        headers["x-amzn-ErrorType"] = error
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type=CONTENT_TYPE)


def error_response(error: EcrError, request_id: str | None = None) -> Response:
    """An AWS JSON error document for ``error``."""
    return _json_response(error.status, error.to_body(), request_id or str(uuid.uuid4()), error.code)


def _operation_from(request: Request) -> str:
    target = request.headers.get("x-amz-target")
    if not target:
        raise unknown_operation("Missing X-Amz-Target header")
    prefix, dot, action = target.partition(".")
    if not dot or f"{prefix}." != TARGET_PREFIX or not action:
        raise unknown_operation(f"Unknown operation {target}")
    if action not in model.operation_names():
        raise unknown_operation(f"Unknown operation {target}")
    return action


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES:
        raise serialization(f"Unsupported Content-Type '{content_type}'; use {CONTENT_TYPE}")


async def _read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than ``limit`` bytes without buffering all of it."""
    too_large = serialization(f"Request body is larger than the limit of {limit} bytes", status=413)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = untrusted_json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise serialization("Request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise serialization("Request body must be a JSON object")
    return document


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def make_endpoint(
    handlers: Mapping[str, Handler[CallerT]],
    authenticate: Authenticate[CallerT],
    *,
    max_body: int = DEFAULT_MAX_BODY,
) -> Endpoint:
    """Build the Starlette endpoint for ``POST /``.

    ``handlers`` maps ECR action names to ``async (caller, params) -> result``; params are
    already validated against the model and results are serialised through it.
    ``authenticate(request, body)`` returns the caller or raises EcrError.
    """
    known = set(model.operation_names())
    unknown = sorted(set(handlers) - known)
    if unknown:
        raise ValueError(f"handlers for operations ECR does not have: {', '.join(unknown)}")
    table = dict(handlers)

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        request_id = scope.get("dockyard.request_id") or str(uuid.uuid4())
        request_token = _current_request.set(request)
        id_token = _current_request_id.set(request_id)
        operation = "-"
        op_token = _current_operation.set(operation)
        try:
            operation = _operation_from(request)
            _current_operation.set(operation)
            scope["dockyard.operation"] = operation  # a model operation name: bounded, for metrics
            _check_content_type(request)
            body = await _read_body(request, max_body)
            caller = await authenticate(request, body)
            handler = table.get(operation)
            if handler is None:
                raise not_implemented(operation)
            document = _parse_json(body)
            if _contains_nul(document):
                # Databases cannot store or compare strings with NUL: refuse them up front.
                raise invalid_parameter("Request parameters cannot contain NUL characters")
            params = model.validate_input(operation, document)
            scope["dockyard.repository"] = params.get("repositoryName")
            result = await handler(caller, params)
            document = model.serialize_output(operation, result)
            return _json_response(200, document, request_id)
        except EcrError as error:
            scope["dockyard.error"] = error.code  # on the request's access line (dockyard.observability)
            log.debug("ecr %s %s -> %s %s", operation, request_id, error.status, error.code)
            return error_response(error, request_id)
        except Exception:
            log.exception("ecr %s %s failed", operation, request_id)
            return error_response(server_error(), request_id)
        finally:
            _current_operation.reset(op_token)
            _current_request_id.reset(id_token)
            _current_request.reset(request_token)

    return endpoint
