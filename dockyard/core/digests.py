"""Content digests (`<algorithm>:<hex>`), as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dockyard.core.errors import DigestInvalid

# Registered algorithms and the exact length of their lowercase hex encodings.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse_digest(value: str | None) -> Digest:
    """Parse and validate a digest, refusing unknown algorithms and bad encodings."""
    if not value:
        raise DigestInvalid("a digest is required")
    m = _DIGEST_RE.fullmatch(value)
    if not m:
        raise DigestInvalid(f"invalid digest {value!r}: expected <algorithm>:<hex>")
    algorithm, hexpart = m.groups()
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}; supported: {', '.join(ALGORITHMS)}")
    if len(hexpart) != length or not all(c in "0123456789abcdef" for c in hexpart):
        raise DigestInvalid(f"invalid {algorithm} digest {value!r}: expected {length} lowercase hex digits")
    return Digest(algorithm, hexpart)


def is_digest(value: str) -> bool:
    return ":" in value


def new_hasher(algorithm: str) -> Any:
    if algorithm not in ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
