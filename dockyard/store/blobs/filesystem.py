"""Blobs as files: `blobs/<alg>/<2 hex>/<hex>.<upload id>`, and `uploads/<id>` being written.

Publishing is fsync + rename (+ fsync of the directory), so a published path either
holds verified bytes or does not exist; a crash mid-upload leaves only an upload
file, which the next append truncates back to the size the database recorded.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from dockyard.store.blobs.base import BlobStore, ByteRange, StoredItem, UploadWriter
from dockyard.store.free_space import Volume, check_floor, volume

READ_CHUNK = 1024 * 1024


class FileUploadWriter(UploadWriter):
    def __init__(self, fd: int, min_free: int = 0) -> None:
        self._fd = fd
        self._min_free = min_free

    async def write(self, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        if self._min_free:
            check_floor(self._fd, len(data), self._min_free)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    async def close(self) -> Any:
        # Durability of upload bytes is settled once, at publish (fsync before rename).
        os.close(self._fd)
        return None


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path, min_free: int = 0) -> None:
        """`min_free`: bytes of the volume upload writes leave free (see `store/free_space.py`)."""
        self.root = Path(root).resolve()
        self.min_free = min_free
        self._uploads = self.root / "uploads"
        self._blobs = self.root / "blobs"
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._blobs.mkdir(parents=True, exist_ok=True)

    def _upload_path(self, upload_id: str) -> Path:
        # Upload ids are UUIDs minted by the server; refuse anything else reaching a path.
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError("bad upload id")
        return self._uploads / upload_id

    def _key_path(self, key: str) -> Path:
        path = (self._blobs / key).resolve()
        if self._blobs not in path.parents:
            raise ValueError(f"blob key outside the store: {key!r}")
        return path

    async def create_upload(self, upload_id: str) -> Any:
        self._upload_path(upload_id).touch(exist_ok=False)
        return None

    async def open_upload(self, upload_id: str, offset: int, state: Any = None) -> UploadWriter:
        # No O_CREAT: a session whose file is gone (published, or lost) must not restart as zeros.
        fd = os.open(self._upload_path(upload_id), os.O_WRONLY)
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return FileUploadWriter(fd, self.min_free)

    async def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        async for chunk in _read_file(self._upload_path(upload_id), 0, size):
            yield chunk

    @staticmethod
    def _published_key(upload_id: str, digest: str) -> str:
        algorithm, hexpart = digest.split(":", 1)
        return f"{algorithm}/{hexpart[:2]}/{hexpart}.{upload_id}"

    async def publish(self, upload_id: str, digest: str, size: int) -> str:
        key = self._published_key(upload_id, digest)
        await anyio.to_thread.run_sync(self._publish, self._upload_path(upload_id), self._key_path(key), size)
        return key

    async def recover_published(self, upload_id: str, digest: str, size: int) -> str | None:
        """The rename happened (the upload file is gone) and the published file has every byte."""
        if self._upload_path(upload_id).exists():
            return None
        key = self._published_key(upload_id, digest)
        try:
            published_size = self._key_path(key).stat().st_size
        except FileNotFoundError:
            return None
        return key if published_size == size else None

    @staticmethod
    def _publish(src: Path, dst: Path, size: int) -> None:
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

    async def read(self, key: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        path = self._key_path(key)
        if byte_range is None:
            start, length = 0, path.stat().st_size
        else:
            start, length = byte_range.start, byte_range.end - byte_range.start + 1
        async for chunk in _read_file(path, start, length):
            yield chunk

    async def exists(self, key: str) -> bool:
        return self._key_path(key).exists()

    async def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self._key_path(key).unlink(missing_ok=True)

    async def stored(self) -> AsyncIterator[StoredItem]:
        """Upload files, then published files, a directory listing at a time (in a thread)."""
        for directory in [self._uploads, *await anyio.to_thread.run_sync(self._blob_dirs)]:
            for item in await anyio.to_thread.run_sync(self._list_dir, directory):
                yield item

    def _blob_dirs(self) -> list[Path]:
        return sorted(d for algorithm in _subdirs(self._blobs) for d in _subdirs(algorithm))

    def _list_dir(self, directory: Path) -> list[StoredItem]:
        items = []
        uploads = directory == self._uploads
        for entry in _files(directory):
            if entry.name.startswith("."):
                continue  # `check` probes
            if uploads:
                session, key = entry.name, ""
            else:
                session = entry.name.rpartition(".")[2]
                key = str(Path(entry.path).relative_to(self._blobs))
            try:
                info = entry.stat()
            except FileNotFoundError:
                continue
            modified = datetime.fromtimestamp(max(info.st_mtime, info.st_ctime), UTC)
            items.append(StoredItem(session, key, modified, info.st_size, entry.path))
        return items

    async def delete_stored(self, items: list[StoredItem]) -> None:
        for item in items:
            path = self._key_path(item.key) if item.key else self._upload_path(item.session)
            path.unlink(missing_ok=True)

    def local_path(self, key: str) -> str | None:
        return str(self._key_path(key))

    def volume(self) -> Volume | None:
        return volume("blobs", str(self.root))

    async def check(self) -> None:
        probe = self._uploads / f".check-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()


def _subdirs(directory: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _files(directory: Path) -> Iterator[os.DirEntry[str]]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    yield from (e for e in entries if e.is_file(follow_symlinks=False))


async def _read_file(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        remaining, offset = length, start
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(os.pread, fd, min(READ_CHUNK, remaining), offset)
            if not chunk:
                break
            offset += len(chunk)
            remaining -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
