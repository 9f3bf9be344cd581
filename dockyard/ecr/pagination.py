"""Opaque, tamper-proof ``nextToken`` values for paginated ECR operations.

A token carries the handler's cursor (e.g. the last key seen) so listing stays stateless.
It is a JWE (``dir`` + A256GCM) so clients can neither read nor forge cursors, and it is
bound to the operation that issued it so a ListImages token cannot be replayed into
DescribeRepositories.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from dockyard.ecr.errors import EcrError, invalid_parameter

_ALGORITHMS = ("dir", "A256GCM")
_HEADER = {"alg": "dir", "enc": "A256GCM"}
_KDF_INFO = b"dockyard/ecr/nextToken/v1"

INVALID_TOKEN_MESSAGE = "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"


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
