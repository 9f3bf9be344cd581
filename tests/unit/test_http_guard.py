"""Requests refused before any door (issue 16, defect 5), as ASGI scopes any server may send."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.http_guard import refusal


def scope(*headers: tuple[bytes, bytes], version: str = "1.1") -> dict[str, Any]:
    return {"type": "http", "http_version": version, "headers": list(headers)}


@pytest.mark.parametrize(
    "host", [b"127.0.0.1:5000", b"[::1]:5000", b"[::1]", b"registry.example.com", b"localhost", b"a-b.c_d~e"]
)
def test_hosts_accepted(host: bytes) -> None:
    assert refusal(scope((b"host", host))) is None


@pytest.mark.parametrize(
    "host",
    [b'evil.example", x="y', b"a b", b"a\\b", b"h:1:2", b"[::1", b"", b"h/p", b"h\r\nx: y", b"h:123456"],
)
def test_hosts_refused(host: bytes) -> None:
    assert refusal(scope((b"host", host))) is not None


def test_one_host_required_on_http_1_1() -> None:
    assert refusal(scope()) is not None
    assert refusal(scope(version="1.0")) is None
    assert refusal(scope((b"host", b"a"), (b"host", b"b"))) is not None


def test_body_framed_two_ways_refused() -> None:
    both = scope((b"host", b"h"), (b"transfer-encoding", b"chunked"), (b"content-length", b"5"))
    assert refusal(both) is not None
    assert refusal(scope((b"host", b"h"), (b"content-length", b"5"))) is None
    assert refusal(scope((b"host", b"h"), (b"transfer-encoding", b"chunked"))) is None
