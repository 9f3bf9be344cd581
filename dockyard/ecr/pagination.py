"""Opaque, tamper-proof ``nextToken`` values for paginated ECR operations: the one pager of
every ECR action.

A token carries the handler's cursor (e.g. the last key seen) so listing stays stateless.
It is a JWE (``dir`` + A256GCM) so clients can neither read nor forge cursors, and it is
bound to the operation that issued it so a ListImages token cannot be replayed into
DescribeRepositories.

Two payloads, both sealed with the server-wide key (`pagination_key`):

* a scoped cursor (`open_cursor` / `seal_cursor`): any JSON cursor, valid only for the same
  listing (``scope``: repository, filters...) and for ``TOKEN_MAX_AGE`` seconds;
* a name cursor (`page_start` / `next_token`): the last name listed in one account
  (DescribeRepositories, DescribeRepositoryCreationTemplates).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from dockyard.core import server_keys
from dockyard.ecr.errors import EcrError, invalid_parameter

if TYPE_CHECKING:
    from dockyard.ecr.actions.base import Call, Params

_ALGORITHMS = ("dir", "A256GCM")
_HEADER = {"alg": "dir", "enc": "A256GCM"}
_KDF_INFO = b"dockyard/ecr/nextToken/v1"

INVALID_TOKEN_MESSAGE = "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"

DEFAULT_PAGE_SIZE = 100  # what ECR returns when maxResults is not given
TOKEN_MAX_AGE = 24 * 3600  # scoped cursors older than this are refused


def _derive_key(key: bytes) -> OctKey:
    """Derive the 256-bit content key, so any server secret length works and the secret
    is never used directly for a second purpose."""
    if len(key) < 16:
        raise ValueError("pagination key must be at least 16 bytes")
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(key)
    return OctKey.import_key(material)


def encode_token(payload: dict[str, Any], key: bytes, operation: str) -> str:
    """Seal ``payload`` (JSON-serialisable) into a nextToken for ``operation``."""
    body = {"op": operation, "iat": int(time.time()), "p": payload}
    plaintext = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return jwe.encrypt_compact(dict(_HEADER), plaintext, _derive_key(key), algorithms=_ALGORITHMS)


def decode_token(token: Any, key: bytes, operation: str, max_age: float | None = None) -> dict[str, Any]:
    """Open a nextToken issued by ``encode_token`` for the same operation.

    Raises InvalidParameterException for anything tampered with, foreign, from another
    operation, or older than ``max_age`` seconds (when given).
    """
    content_key = _derive_key(key)
    if not isinstance(token, str) or not token:
        raise _invalid()
    try:
        sealed = jwe.decrypt_compact(token, content_key, algorithms=_ALGORITHMS)
        body = json.loads(sealed.plaintext or b"")
    except (JoseError, ValueError, TypeError):
        raise _invalid() from None
    if not isinstance(body, dict) or body.get("op") != operation or not isinstance(body.get("p"), dict):
        raise _invalid()
    if max_age is not None:
        issued = body.get("iat")
        if not isinstance(issued, int) or time.time() - issued > max_age:
            raise _invalid()
    payload: dict[str, Any] = body["p"]
    return payload


def _invalid() -> EcrError:
    return invalid_parameter(INVALID_TOKEN_MESSAGE)


def bad_token() -> EcrError:
    """The error for a nextToken whose cursor is not what the listing expects."""
    return _invalid()


async def pagination_key(call: Call) -> bytes:
    """The server-wide nextToken sealing key (shared by every node through the database)."""
    return await server_keys.pagination_key(call.registry.db)


async def open_cursor(call: Call, params: Params, scope: dict[str, Any]) -> dict[str, Any] | None:
    """The cursor in `nextToken` (None for the first page), which must come from the same
    operation and listing."""
    token = params.get("nextToken")
    if token is None:
        return None
    payload = decode_token(token, await pagination_key(call), call.operation, TOKEN_MAX_AGE)
    if payload.get("scope") != scope:
        raise _invalid()
    return payload


async def seal_cursor(call: Call, scope: dict[str, Any], cursor: Any) -> str:
    """The nextToken that continues the listing ``scope`` after ``cursor``."""
    return encode_token({"scope": scope, "c": cursor}, await pagination_key(call), call.operation)


async def page_start(call: Call, params: Params, account_id: str) -> str | None:
    """The name a name-cursor nextToken carries (None for the first page); tokens are per account."""
    token = params.get("nextToken")
    if token is None:
        return None
    payload = decode_token(token, await pagination_key(call), call.operation)
    if payload.get("a") != account_id or not isinstance(payload.get("after"), str):
        raise _invalid()
    return str(payload["after"])


async def next_token(call: Call, account_id: str, after: str) -> str:
    """The name-cursor nextToken that continues an account's listing after the name ``after``."""
    return encode_token({"a": account_id, "after": after}, await pagination_key(call), call.operation)
