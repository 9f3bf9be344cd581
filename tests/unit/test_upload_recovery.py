"""Upload sessions interrupted between publishing their bytes and committing the blob row
(issue 16, defect 1), on a real SQLite database and filesystem store."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_testlib import run, sha256

from dockyard.core.errors import UploadUnknown
from dockyard.registry import Registry
from dockyard.store.meta import tables as t


async def _collect(registry: Registry, key: str) -> bytes:
    out = bytearray()
    async for chunk in registry.store.read(key):
        out += chunk
    return bytes(out)


def test_resumed_upload_completes_after_crash_between_publish_and_commit(tmp_path: Path) -> None:
    data = b"published, then the process died" * 1000

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/crash")
        upload = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, upload.id, data, 0)
        # The state a SIGKILL after `publish` and before the commit leaves: bytes under the
        # session's own key, the session row still there, no blob row.
        key = await registry.store.publish(upload.id, sha256(data), len(data))
        registry.blobs._forget(upload.id)  # a restarted process has no cached hasher

        info = await registry.blobs.complete(repo, upload.id, sha256(data))
        assert (info.digest, info.size, info.key) == (sha256(data), len(data), key)
        assert await _collect(registry, info.key) == data
        async with registry.db.read() as conn:
            assert await conn.scalar(t.uploads.select().where(t.uploads.c.id == upload.id)) is None

    run(tmp_path, body)


def test_session_whose_bytes_are_gone_must_restart(tmp_path: Path) -> None:
    """Never a 500: the session is over, the client starts again (BLOB_UPLOAD_UNKNOWN)."""
    data = b"lost bytes" * 100

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/lost")
        upload = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, upload.id, data, 0)
        await registry.store.delete_upload(upload.id)
        registry.blobs._forget(upload.id)
        with pytest.raises(UploadUnknown):
            await registry.blobs.complete(repo, upload.id, sha256(data))
        async with registry.db.read() as conn:  # the session is over
            assert await conn.scalar(t.uploads.select().where(t.uploads.c.id == upload.id)) is None

    run(tmp_path, body)


def test_append_to_a_session_whose_bytes_are_gone_must_restart(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/gone")
        upload = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, upload.id, b"first", 0)
        await registry.store.delete_upload(upload.id)
        with pytest.raises(UploadUnknown):  # not a file of zeros grown back to the recorded size
            await registry.blobs.append_bytes(repo, upload.id, b"second", 5)

    run(tmp_path, body)
