"""The base of every expected failure, below every layer that raises one.

The domain (:mod:`dockyard.core.errors`) and identity (:mod:`dockyard.auth.identity`) both raise
subclasses; each front door translates them, so neither needs to import the other to share it.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure; `detail` is extra JSON for clients."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class StorageFull(DomainError):
    """The blob store or the database has no space left; the write was dropped (retry once space
    returns). Here, not in the domain, because the store raises it."""
