"""A full disk (issue 16, defect 4): the failing upload answers a clear, retryable error and
its space is released at once, so the next upload can succeed when space returns."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from registry_testlib import run, sha256

from dockyard.core.errors import StorageFull
from dockyard.oci.errors import CODES, domain_error_response
from dockyard.registry import Registry
from dockyard.store.blobs import filesystem
from dockyard.store.meta import tables as t


def test_full_disk_releases_the_session_and_is_retryable(tmp_path: Path, monkeypatch: Any) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/full")
        upload = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, upload.id, b"first chunk", 0)
        real_write = filesystem.FileUploadWriter._write_all

        def full(self: Any, data: bytes) -> None:
            real_write(self, bytes(data[:3]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(filesystem.FileUploadWriter, "_write_all", full)
        with pytest.raises(StorageFull):
            await registry.blobs.append_bytes(repo, upload.id, b"second chunk", 11)
        with pytest.raises(StorageFull):
            await registry.blobs.put_monolithic(repo, sha256(b"whole"), _once(b"whole"))
        assert [item async for item in registry.store.stored()] == []  # every byte released
        async with registry.db.read() as conn:
            assert await conn.scalar(t.uploads.select()) is None

        monkeypatch.setattr(filesystem.FileUploadWriter, "_write_all", real_write)  # space returns
        again = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, again.id, b"whole", 0)
        assert (await registry.blobs.complete(repo, again.id, sha256(b"whole"))).size == 5

    run(tmp_path, body)
    assert CODES[StorageFull][0] == 503  # retryable
    assert domain_error_response(StorageFull("full")).headers["retry-after"] == "60"


async def _once(data: bytes) -> Any:
    yield data
