"""The condition keys a request brings to policy evaluation, built in one place for every door.

A door describes where a request came from (:class:`RequestOrigin`) and, when the request
carries tags, what they are; everything else (the time, which keys exist) is decided here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import clock
from dockyard.auth.policy import ContextValue


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a request came from, as the server saw it (no proxy headers are trusted)."""

    peer: str | None = None  # the client's address, for aws:SourceIp
    scheme: str = "http"  # "https" when it reached us over TLS, for aws:SecureTransport

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any]) -> RequestOrigin:
        """The origin of an ASGI HTTP request (its ``client`` and ``scheme``)."""
        client = scope.get("client")
        return cls(client[0] if client else None, scope.get("scheme", "http"))


def request_context(
    origin: RequestOrigin, request_tags: Mapping[str, str] | None = None
) -> dict[str, ContextValue]:
    """The condition keys a door knows about a request (``aws:SourceIp``, ``aws:SecureTransport``,
    ``aws:CurrentTime``; ``aws:RequestTag/*`` and ``aws:TagKeys`` when the request carries tags)."""
    context: dict[str, ContextValue] = {
        "aws:SecureTransport": origin.scheme == "https",
        "aws:CurrentTime": clock.now(),
    }
    if origin.peer:
        context["aws:SourceIp"] = origin.peer
    if request_tags is not None:
        for key, value in request_tags.items():
            context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"] = list(request_tags)
    return context
