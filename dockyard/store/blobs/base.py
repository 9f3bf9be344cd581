"""The blob store interface: bytes by digest, and upload sessions being written.

A store only holds bytes; the metadata database decides what exists. Stores
are interchangeable (filesystem now, S3-compatible object storage later), so
nothing above this layer knows about paths, keys or multipart uploads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive


class UploadWriter(ABC):
    """Appends to one upload session; `write` calls arrive in order."""

    @abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abstractmethod
    async def close(self) -> int:
        """Make the written bytes durable; returns the new upload size."""


class BlobStore(ABC):
    @abstractmethod
    async def create_upload(self, upload_id: str) -> None: ...

    @abstractmethod
    async def open_upload(self, upload_id: str, offset: int) -> UploadWriter:
        """Continue an upload at `offset`, discarding anything a crashed write left past it."""

    @abstractmethod
    def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        """The first `size` bytes of an upload (to rebuild a hash after a restart)."""

    @abstractmethod
    async def commit_upload(self, upload_id: str, digest: str, size: int) -> None:
        """Atomically publish the upload's bytes as blob `digest` (kept once if it exists)."""

    @abstractmethod
    async def delete_upload(self, upload_id: str) -> None: ...

    @abstractmethod
    async def exists(self, digest: str) -> bool: ...

    @abstractmethod
    async def delete(self, digest: str) -> None: ...

    @abstractmethod
    def read(self, digest: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]: ...

    def local_path(self, digest: str) -> str | None:
        """A filesystem path for zero-copy serving, when the store has one."""
        return None
