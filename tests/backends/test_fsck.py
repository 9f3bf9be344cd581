"""`dockyard fsck`'s storage listing on every blob store: rows and stored items agree after
pushes; orphans (S3 multipart uploads and tails included) are reclaimable once old and repaired;
a blob whose bytes are gone is reported."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dockyard import clock
from dockyard.config import Settings
from dockyard.features.fsck.run import FsckOptions, fsck
from dockyard.registry import Registry
from tests.unit.registry_testlib import sha256

MiB = 1024 * 1024


def test_fsck_lists_the_store_against_the_rows(store_url: str, tmp_path: Path) -> None:
    async def main() -> None:
        registry = Registry.build(Settings(data_dir=tmp_path / "data", blob_store=store_url))
        await registry.start()
        try:
            await scenario(registry)
        finally:
            clock.set_offset(0)
            await registry.close()

    async def scenario(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "backends/fsck")
        blobs, store = registry.blobs, registry.store
        kept = []
        for data in (os.urandom(6 * MiB), os.urandom(1000)):  # multipart on S3, and a small one
            upload = await blobs.start_upload(repo)
            await blobs.append_bytes(repo, upload.id, data, 0)
            kept.append(await blobs.complete(repo, upload.id, sha256(data)))
        live = await blobs.start_upload(repo)  # a session in progress, with a tail on S3
        await blobs.append_bytes(repo, live.id, os.urandom(6 * MiB + 10), 0)

        clean = await fsck(registry, FsckOptions(hash_sample=None))
        assert clean.clean and not clean.findings, clean.text()
        assert clean.checked["blobs hashed"] == 2 and clean.checked["upload sessions"] == 1

        killed = "00000000-0000-4000-8000-000000000003"  # a monolithic push killed mid-body
        writer = await store.open_upload(killed, 0, await store.create_upload(killed))
        await writer.write(os.urandom(6 * MiB))
        await writer.close()
        young = await fsck(registry, FsckOptions())
        assert young.clean and not young.findings and young.unnamed_young >= 1

        clock.set_offset(25 * 3600)
        old = await fsck(registry, FsckOptions())
        assert old.clean  # orphans are housekeeping, not inconsistencies
        assert {f.kind for f in old.findings} == {"store.orphan"}
        assert {f.handle.session for f in old.findings} == {killed}
        repaired = await fsck(registry, FsckOptions(repair=True))
        assert all(f.repaired for f in repaired.findings)
        assert killed not in {item.session async for item in store.stored()}
        after = await fsck(registry, FsckOptions(hash_sample=None))
        assert after.clean and not after.findings, after.text()
        clock.set_offset(0)

        await store.delete_many([kept[1].key])
        broken = await fsck(registry, FsckOptions())
        assert [(f.kind, f.subject) for f in broken.findings] == [("blob.missing", kept[1].digest)]

    asyncio.run(main())
