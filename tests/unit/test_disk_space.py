"""A full disk (issue 16, defect 4, the rest): uploads never write into the last
`min_free_mib` of the blob volume, so the database on it can always commit; readiness says
why when uploads cannot proceed; a full database is a retryable StorageFull; everything
resumes without a restart once space returns. On a real, small tmpfs when this runs as root."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dockyard.app import DockyardApp
from dockyard.config import Settings
from dockyard.core.errors import StorageFull
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import run, sha256

MiB = 1024 * 1024


@contextlib.contextmanager
def tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_to(path: Path, free_mib: float) -> Path:
    """A filler file leaving about `free_mib` free on `path`'s volume."""
    filler = path / f"filler-{uuid.uuid4().hex[:6]}"
    st = os.statvfs(path)
    size = st.f_bavail * st.f_frsize - int(free_mib * MiB)
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, size)
    return filler


def test_uploads_stop_at_the_floor_and_resume_when_space_returns(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "vol", 64) as vol:

        async def main() -> None:
            app = DockyardApp(Settings(data_dir=vol / "data", min_free_mib=8))
            registry = app.registry
            await registry.start()
            try:
                await scenario(app, registry)
            finally:
                await registry.close()

        async def scenario(app: DockyardApp, registry: Registry) -> None:
            repo = await registry.repositories.create(registry.settings.account_id, "unit/disk")
            assert await app.readiness_problem() is None
            filler = fill_to(vol, 20)
            data = os.urandom(16 * MiB)  # fits the disk, not the floor
            upload = await registry.blobs.start_upload(repo)
            with pytest.raises(StorageFull):
                await registry.blobs.append_bytes(repo, upload.id, data, 0)
            assert [item async for item in registry.store.stored()] == []  # released at once
            async with registry.db.read() as conn:  # the database committed the session's end
                assert await conn.scalar(sa.select(sa.func.count()).select_from(t.uploads)) == 0
            free = os.statvfs(vol).f_bavail * os.statvfs(vol).f_frsize
            assert free >= 8 * MiB  # the floor held

            from dockyard.observability import render_free_space

            gauges = render_free_space(registry.volumes(), registry.store.min_free)
            assert b'dockyard_storage_free_bytes{volume="blobs"}' in gauges
            low = fill_to(vol, 6)
            problem = await app.readiness_problem()
            assert problem is not None and "low disk space" in problem, problem
            # Even below the floor the database still commits: deleting a repository works.
            doomed = await registry.repositories.create(registry.settings.account_id, "unit/doomed")
            await registry.repositories.delete(registry.settings.account_id, doomed.name, force=True)

            low.unlink()
            filler.unlink()  # space returns: no restart needed
            assert await app.readiness_problem() is None
            again = await registry.blobs.start_upload(repo)
            await registry.blobs.append_bytes(repo, again.id, data, 0)
            assert (await registry.blobs.complete(repo, again.id, sha256(data))).size == len(data)

        import asyncio

        asyncio.run(main())


def test_a_full_database_is_retryable_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's own "database or disk is full" (SQLITE_FULL, here by a page limit on the writer
    connection) is StorageFull, and drops the bytes of what it broke; writes resume afterwards."""

    async def body(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "unit/db-full")
        writer = registry.db._inline_writer
        assert writer is not None

        def limit(pages: int | None) -> None:
            with writer.connect() as conn:
                if pages is None:
                    pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
                conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")

        limit(None)  # no page more: the next page the database needs fails
        with pytest.raises(StorageFull):
            for _ in range(10000):  # fill the pages' free room, then one more
                await registry.repositories.create(account, f"unit/x{uuid.uuid4().hex}{'y' * 200}")
        with pytest.raises(StorageFull):
            for _ in range(10000):
                await registry.blobs.start_upload(repo)
        sessions = {item.session async for item in registry.store.stored()}
        async with registry.db.read() as conn:  # no file left that no row names
            assert sessions == set((await conn.execute(sa.select(t.uploads.c.id))).scalars())

        limit(1 << 30)  # space returns
        again = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, again.id, b"fine", 0)
        assert (await registry.blobs.complete(repo, again.id, sha256(b"fine"))).size == 4

        # A chunk or completion whose commit finds the database full drops the session's bytes.
        broken = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, broken.id, b"half", 0)
        real_write = registry.db.write

        @contextlib.asynccontextmanager
        async def full() -> AsyncIterator[Any]:
            raise StorageFull("the registry's database has no space left")
            yield

        monkeypatch.setattr(registry.db, "write", full)
        with pytest.raises(StorageFull):
            await registry.blobs.append_bytes(repo, broken.id, b" more", 4)
        monkeypatch.setattr(registry.db, "write", real_write)
        assert broken.id not in {item.session async for item in registry.store.stored()}

    run(tmp_path, body)
