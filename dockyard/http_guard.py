"""Requests refused before any door sees them (RFC 9112 3.2 and 6.3): a malformed, missing or
repeated Host, and a body framed two ways.

The Host header reaches responses (the `WWW-Authenticate` realm, ECR's endpoint URLs), so a
value that is not a host could inject header parameters. Granian already frames a request
carrying both Transfer-Encoding and Content-Length by Transfer-Encoding alone, drops
Content-Length and closes the connection; refusing it here too covers any other ASGI server.
"""

from __future__ import annotations

import re

from starlette.types import Scope

# RFC 3986 host (IP-literal, IPv4address or reg-name) and an optional port.
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?")


def refusal(scope: Scope) -> str | None:
    """Why this HTTP request must get a 400, or None."""
    hosts: list[bytes] = []
    framed_by_length = framed_by_encoding = False
    for name, value in scope.get("headers", ()):
        if name == b"host":
            hosts.append(value)
        elif name == b"content-length":
            framed_by_length = True
        elif name == b"transfer-encoding":
            framed_by_encoding = True
    if framed_by_length and framed_by_encoding:
        return "a request must not carry both Transfer-Encoding and Content-Length"
    if len(hosts) > 1:
        return "a request must carry one Host header"
    if not hosts:
        return "an HTTP/1.1 request must carry a Host header" if scope.get("http_version") == "1.1" else None
    if _HOST.fullmatch(hosts[0]) is None:
        return "the Host header is not a valid host[:port]"
    return None
