"""The orphan sweep of garbage collection (issue 16, defect 2) on a real SQLite database and
filesystem store: bytes no row names are reclaimed once old; everything a row names, or a
request may still be writing, stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from registry_testlib import run, sha256

from dockyard import clock
from dockyard.features.gc import collector as gc
from dockyard.registry import Registry
from dockyard.store.meta import tables as t


async def files(registry: Registry) -> set[tuple[str, str]]:
    return {(item.session, item.key) async for item in registry.store.stored()}


def test_orphans_swept_once_old_and_named_bytes_kept(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/orphans")
        blobs, store = registry.blobs, registry.store

        # A monolithic push killed mid-body: an upload file, never a row.
        killed = "00000000-0000-4000-8000-000000000001"
        await store.create_upload(killed)
        writer = await store.open_upload(killed, 0)
        await writer.write(b"half a body")
        await writer.close()

        # A completion that died after publishing (defect 1), whose session was then purged.
        crashed = await blobs.start_upload(repo)
        await blobs.append_bytes(repo, crashed.id, b"crashed", 0)
        stranded = await store.publish(crashed.id, sha256(b"crashed"), 7)
        async with registry.db.write() as conn:
            await conn.execute(t.uploads.delete().where(t.uploads.c.id == crashed.id))

        # Named by rows: a live session (even one that died after publishing), and a blob.
        live = await blobs.start_upload(repo)
        await blobs.append_bytes(repo, live.id, b"live", 0)
        resumable = await blobs.start_upload(repo)
        await blobs.append_bytes(repo, resumable.id, b"resumable", 0)
        resumable_key = await store.publish(resumable.id, sha256(b"resumable"), 9)
        done = await blobs.start_upload(repo)
        await blobs.append_bytes(repo, done.id, b"done", 0)
        info = await blobs.complete(repo, done.id, sha256(b"done"))

        before = await files(registry)
        assert {(killed, ""), (crashed.id, stranded), (live.id, ""), (resumable.id, resumable_key)} <= before

        # Young: nothing is an orphan yet, whatever the grace period.
        young = await gc.collect(registry, grace_hours=0, dry_run=True)
        assert (young.orphans_removed, young.orphan_bytes_freed) == (0, 0)

        later = clock.now() + timedelta(hours=25)
        dry = await gc.collect(registry, dry_run=True, now=later)
        assert (dry.orphans_removed, dry.orphan_bytes_freed) == (2, len(b"half a body") + 7)
        assert await files(registry) == before

        report = await gc.collect(registry, now=later)
        assert (report.orphans_removed, report.orphan_bytes_freed) == (2, len(b"half a body") + 7)
        assert report.blobs_removed == 1  # `done`: no manifest references it, so its row went first
        assert not await store.exists(info.key)
        assert await files(registry) == {(live.id, ""), (resumable.id, resumable_key)}

        # The resumable session still completes, and nothing is left to sweep.
        assert (await blobs.complete(repo, resumable.id, sha256(b"resumable"))).key == resumable_key
        assert (await gc.collect(registry, now=later)).orphans_removed == 0

    run(tmp_path, body)
