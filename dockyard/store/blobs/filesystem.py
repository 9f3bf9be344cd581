"""Blobs as files: `blobs/<alg>/<2 hex>/<hex>` plus `uploads/<id>` being written.

Publishing is fsync + rename, so a blob path either holds the verified bytes or
does not exist; a crash mid-upload leaves only an upload file, which the next
append truncates back to the size the database recorded.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread

from dockyard.store.blobs.base import BlobStore, ByteRange, UploadWriter

READ_CHUNK = 1024 * 1024


class FileUploadWriter(UploadWriter):
    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._size = offset

    async def write(self, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)

    async def close(self) -> Any:
        # Durability of upload bytes is settled once, at commit (fsync before rename).
        os.close(self._fd)
        return None


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._uploads = self.root / "uploads"
        self._blobs = self.root / "blobs"
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._blobs.mkdir(parents=True, exist_ok=True)

    def _upload_path(self, upload_id: str) -> Path:
        # Upload ids are UUIDs minted by the server; refuse anything else reaching a path.
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError("bad upload id")
        return self._uploads / upload_id

    def blob_path(self, digest: str) -> Path:
        algorithm, hexpart = digest.split(":", 1)
        return self._blobs / algorithm / hexpart[:2] / hexpart

    async def create_upload(self, upload_id: str) -> Any:
        self._upload_path(upload_id).touch(exist_ok=False)
        return None

    async def open_upload(self, upload_id: str, offset: int, state: Any = None) -> UploadWriter:
        path = self._upload_path(upload_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return FileUploadWriter(fd, offset)

    async def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        async for chunk in self._read_file(self._upload_path(upload_id), 0, size):
            yield chunk

    async def commit_upload(self, upload_id: str, digest: str, size: int) -> None:
        src = self._upload_path(upload_id)
        dst = self.blob_path(digest)
        await anyio.to_thread.run_sync(self._publish, src, dst, size)

    @staticmethod
    def _publish(src: Path, dst: Path, size: int) -> None:
        if dst.exists():
            src.unlink(missing_ok=True)
            return
        with open(src, "r+b") as f:
            f.truncate(size)
            os.fsync(f.fileno())
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        dir_fd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def delete_upload(self, upload_id: str, state: Any = None) -> None:
        self._upload_path(upload_id).unlink(missing_ok=True)

    async def exists(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    async def delete(self, digest: str) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    async def read(self, digest: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        path = self.blob_path(digest)
        if byte_range is None:
            start, length = 0, path.stat().st_size
        else:
            start, length = byte_range.start, byte_range.end - byte_range.start + 1
        async for chunk in self._read_file(path, start, length):
            yield chunk

    @staticmethod
    async def _read_file(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
        fd = os.open(path, os.O_RDONLY)
        try:
            remaining = length
            offset = start
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(os.pread, fd, min(READ_CHUNK, remaining), offset)
                if not chunk:
                    break
                offset += len(chunk)
                remaining -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def local_path(self, digest: str) -> str | None:
        return str(self.blob_path(digest))

    async def check(self) -> None:
        probe = self._uploads / f".check-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
