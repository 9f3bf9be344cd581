"""The blob store interface: upload sessions being written, and published blobs by key.

A store only holds bytes; the metadata database decides what exists. Every
publish gets a key of its own, recorded in the blob's row, so a garbage
collector deleting an old copy can never remove bytes a newer row points to,
whatever the interleaving. Stores are interchangeable (filesystem, S3-compatible
object storage), so nothing above this layer knows about paths or multipart uploads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard.store.free_space import Volume


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive


@dataclass(frozen=True, slots=True)
class StoredItem:
    """Something the store holds, as listed for the orphan sweep (`BlobStore.stored`)."""

    session: str  # the upload id that wrote it: every key the store makes is its session's
    key: str  # the published key a blob row would name; "" for a session's unpublished bytes
    modified: datetime  # the last write to it (aware, UTC)
    size: int
    handle: Any = None  # the store's own reference, for `delete_stored`


class UploadWriter(ABC):
    """Appends to one upload session; `write` calls arrive in order."""

    @abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abstractmethod
    async def close(self) -> Any:
        """Finish this request's writes; returns the session's new store state (see `create_upload`)."""


class BlobStore(ABC):
    # Whether an unfinished upload's bytes can be read back (to rebuild a hash on another
    # node or after a restart); when not, they become readable after `finish_upload`.
    can_read_uploads = True

    # ---------------------------------------------------------------- upload sessions
    @abstractmethod
    async def create_upload(self, upload_id: str) -> Any:
        """Start a session; returns the store's state for it (JSON), kept with the session's row."""

    @abstractmethod
    async def open_upload(self, upload_id: str, offset: int, state: Any = None) -> UploadWriter:
        """Continue an upload at `offset`, discarding anything a crashed write left past it."""

    async def finish_upload(self, upload_id: str, size: int, state: Any = None) -> None:  # noqa: B027
        """Make all of the upload's bytes readable with `read_upload`, before verification."""

    @abstractmethod
    def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        """The first `size` bytes of an upload (to verify its digest)."""

    @abstractmethod
    async def publish(self, upload_id: str, digest: str, size: int) -> str:
        """Make a finished, verified upload durable under a new key, and return the key."""

    @abstractmethod
    async def delete_upload(self, upload_id: str, state: Any = None) -> None:
        """Drop a session's bytes (cancelled, failed, purged, or its content already stored)."""

    async def recover_published(self, upload_id: str, digest: str, size: int) -> str | None:
        """The key an interrupted completion of this session already published its `size`
        verified bytes of `digest` under, when the process died before the blob's row
        committed; None otherwise. Lets the client's retry finish the upload (its bytes are
        no longer where the session left them)."""
        return None

    async def cleanup_upload(self, upload_id: str) -> None:  # noqa: B027
        """Remove a published session's leftovers (not the published bytes)."""

    # ---------------------------------------------------------------- published blobs
    @abstractmethod
    def read(self, key: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]: ...

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def delete_many(self, keys: list[str]) -> None:
        """Delete published blobs (garbage collection); missing keys are not an error."""

    # ---------------------------------------------------------------- orphan sweep
    @abstractmethod
    def stored(self) -> AsyncIterator[StoredItem]:
        """Everything the store holds, published or not, for garbage collection to find what no
        row names.

        Invariants the sweep relies on: every byte the store keeps is in some listed item (S3
        multipart uploads included); an item's `key` is exactly what `publish` returned for it
        (so a blob row's `storage_key` names it); `session` is the upload id that wrote it (so a
        live upload row names it); `modified` is no earlier than the last write to it, so an
        item written within the grace period is never old enough to sweep. Items may be listed
        in any order; an item deleted or created during the listing may or may not appear.
        """

    @abstractmethod
    async def delete_stored(self, items: list[StoredItem]) -> None:
        """Delete listed items (orphans); ones already gone are not an error."""

    def local_path(self, key: str) -> str | None:
        """A filesystem path for zero-copy serving, when the store has one."""
        return None

    # The bytes of its volume upload writes leave free (a filesystem store's floor, see
    # `store/free_space.py`); 0 where the store's space is not the server's (object storage).
    min_free = 0

    def volume(self) -> Volume | None:
        """Free space where the store writes, when it is a local volume (readiness, metrics)."""
        return None

    def download_url(self, key: str) -> str | None:
        """A URL clients may fetch the blob from directly (a presigned redirect), if any."""
        return None

    async def check(self) -> None:  # noqa: B027
        """Raise if the store is unreachable or unwritable (`dockyard check`, readiness)."""
