"""The blob store interface: bytes by digest, and upload sessions being written.

A store only holds bytes; the metadata database decides what exists. Stores
are interchangeable (filesystem now, S3-compatible object storage later), so
nothing above this layer knows about paths, keys or multipart uploads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive


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
        """The first `size` bytes of an upload (to rebuild a hash after a restart)."""

    @abstractmethod
    async def commit_upload(self, upload_id: str, digest: str, size: int) -> None:
        """Atomically publish the upload's bytes as blob `digest` (kept once if it exists)."""

    @abstractmethod
    async def delete_upload(self, upload_id: str, state: Any = None) -> None: ...

    async def delete_many(self, digests: list[str]) -> None:
        """Delete blobs in bulk (garbage collection); stores with batch deletes override it."""
        for digest in digests:
            await self.delete(digest)

    def download_url(self, digest: str) -> str | None:
        """A URL clients may fetch the blob from directly (a presigned redirect), if any."""
        return None

    async def check(self) -> None:  # noqa: B027
        """Raise if the store is unreachable or unwritable (`dockyard check`, readiness)."""

    @abstractmethod
    async def exists(self, digest: str) -> bool: ...

    @abstractmethod
    async def delete(self, digest: str) -> None: ...

    @abstractmethod
    def read(self, digest: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]: ...

    def local_path(self, digest: str) -> str | None:
        """A filesystem path for zero-copy serving, when the store has one."""
        return None
