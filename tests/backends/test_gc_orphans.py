"""Garbage collection's orphan sweep on every blob store (issue 16, defect 2): what crashes
strand (upload files, S3 tails and multipart uploads of pushes that never got a row, blobs
published by a completion that died before its row) is reclaimed; what rows name is kept."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from dockyard import clock
from dockyard.config import Settings
from dockyard.features.gc import collector as gc
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import sha256

MiB = 1024 * 1024


def test_orphans_reclaimed_named_bytes_kept(store_url: str, tmp_path: Path) -> None:
    async def main() -> None:
        registry = Registry.build(Settings(data_dir=tmp_path / "data", blob_store=store_url))
        await registry.start()
        try:
            await scenario(registry)
        finally:
            await registry.close()

    async def scenario(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "backends/orphans")
        blobs, store = registry.blobs, registry.store

        killed = "00000000-0000-4000-8000-000000000002"  # a monolithic push killed mid-body
        writer = await store.open_upload(killed, 0, await store.create_upload(killed))
        await writer.write(os.urandom(6 * MiB))  # a multipart upload with a tail on S3
        await writer.close()

        data = os.urandom(1000)  # a completion that died after publishing; session purged
        crashed = await blobs.start_upload(repo)
        crashed = await blobs.append_bytes(repo, crashed.id, data, 0)
        await store.finish_upload(crashed.id, len(data), crashed.state)
        await store.publish(crashed.id, sha256(data), len(data))
        async with registry.db.write() as conn:
            await conn.execute(t.uploads.delete().where(t.uploads.c.id == crashed.id))

        live = await blobs.start_upload(repo)  # named by its row
        await blobs.append_bytes(repo, live.id, os.urandom(6 * MiB), 0)

        later = clock.now() + timedelta(hours=25)
        dry = await gc.collect(registry, dry_run=True, now=later)
        assert dry.orphans_removed >= 2  # S3 lists a session's parts and tail separately
        report = await gc.collect(registry, now=later)
        assert (report.orphans_removed, report.orphan_bytes_freed) == (
            dry.orphans_removed,
            dry.orphan_bytes_freed,
        )
        assert report.orphan_bytes_freed >= 6 * MiB + 1000
        assert {item.session async for item in store.stored()} == {live.id}
        assert (await gc.collect(registry, now=later)).orphans_removed == 0

    asyncio.run(main())
