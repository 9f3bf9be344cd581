"""nextToken sealing: round trip, tamper detection, operation binding."""

from __future__ import annotations

import base64
import time

import pytest

from dockyard.ecr.errors import EcrError
from dockyard.ecr.pagination import INVALID_TOKEN_MESSAGE, decode_token, encode_token

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def rejected(token: object, key: bytes = KEY, operation: str = "ListImages") -> EcrError:
    with pytest.raises(EcrError) as info:
        decode_token(token, key, operation)
    assert info.value.code == "InvalidParameterException"
    assert info.value.message == INVALID_TOKEN_MESSAGE
    return info.value


def test_round_trip() -> None:
    payload = {"after": "sha256:abc", "n": 3, "nested": {"x": [1, 2]}}
    token = encode_token(payload, KEY, "ListImages")
    assert decode_token(token, KEY, "ListImages") == payload


def test_token_is_opaque() -> None:
    token = encode_token({"after": "secret-repo-name"}, KEY, "DescribeRepositories")
    assert "secret-repo-name" not in token
    for part in token.split("."):
        padded = part + "=" * (-len(part) % 4)
        assert b"secret-repo-name" not in base64.urlsafe_b64decode(padded)


def test_tokens_differ_each_time() -> None:
    assert encode_token({"a": 1}, KEY, "ListImages") != encode_token({"a": 1}, KEY, "ListImages")


def test_wrong_operation_rejected() -> None:
    token = encode_token({"a": 1}, KEY, "ListImages")
    rejected(token, operation="DescribeImages")


def test_foreign_key_rejected() -> None:
    rejected(encode_token({"a": 1}, OTHER_KEY, "ListImages"))


@pytest.mark.parametrize("index", [0, 2, 3, 4])
def test_tampered_parts_rejected(index: int) -> None:
    token = encode_token({"a": 1}, KEY, "ListImages")
    parts = token.split(".")
    part = parts[index]
    flipped = ("A" if part[0] != "A" else "B") + part[1:]
    parts[index] = flipped
    rejected(".".join(parts))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c.d.e", 42, None, "...."])
def test_garbage_rejected(token: object) -> None:
    rejected(token)


def test_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    token = encode_token({"a": 1}, KEY, "ListImages")
    assert decode_token(token, KEY, "ListImages", max_age=60) == {"a": 1}
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(EcrError):
        decode_token(token, KEY, "ListImages", max_age=60)


def test_short_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        encode_token({}, b"short", "ListImages")
