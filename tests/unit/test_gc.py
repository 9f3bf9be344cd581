"""Online garbage collection (dockyard.features.gc) on a real SQLite database and filesystem store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from registry_testlib import run, sha256

from dockyard.core.errors import ManifestBlobUnknown
from dockyard.core.images import ImageId
from dockyard.core.repositories import Repository
from dockyard.features.gc import collector as gc
from dockyard.registry import Registry
from dockyard.store.meta import tables as t

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def push_blob(registry: Registry, repo: Repository, data: bytes) -> str:
    upload = await registry.blobs.start_upload(repo)
    await registry.blobs.append_bytes(repo, upload.id, data, 0)
    info = await registry.blobs.complete(repo, upload.id, sha256(data))
    return info.key


def manifest(config: bytes, *layers: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(x), "size": len(x)}
                for x in layers
            ],
        }
    ).encode()


async def age(registry: Registry, hours: float) -> None:
    """Make every blob and link look ``hours`` older."""
    delta = timedelta(hours=hours)
    async with registry.db.write() as conn:
        for table in (t.blobs, t.repository_blobs):
            for row in (await conn.execute(sa.select(table))).all():
                where = [table.c.digest == row.digest]
                if table is t.repository_blobs:
                    where.append(table.c.repository_id == row.repository_id)
                values: dict[str, Any] = {"created_at": row.created_at - delta}
                if table is t.repository_blobs and row.referenced_at is not None:
                    values["referenced_at"] = row.referenced_at - delta
                await conn.execute(table.update().where(*where).values(**values))


async def stored(registry: Registry, key: str) -> bool:
    return await registry.store.exists(key)


async def blob_rows(registry: Registry) -> set[str]:
    async with registry.db.read() as conn:
        return set((await conn.execute(sa.select(t.blobs.c.digest))).scalars())


async def link_rows(registry: Registry, repo: Repository) -> set[str]:
    async with registry.db.read() as conn:
        rb = t.repository_blobs
        return set(
            (await conn.execute(sa.select(rb.c.digest).where(rb.c.repository_id == repo.id))).scalars()
        )


def test_unreferenced_old_blobs_removed_referenced_and_young_kept(tmp_path: Path) -> None:
    config, layer, orphan, young = b"{}", b"layer", b"orphan bytes", b"young bytes"

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/gc")
        keys = {data: await push_blob(registry, repo, data) for data in (config, layer, orphan)}
        await registry.manifests.put(repo, "v1", manifest(config, layer), OCI_MANIFEST)
        await age(registry, 48)
        keys[young] = await push_blob(registry, repo, young)  # unreferenced but within the grace period

        dry = await gc.collect(registry, dry_run=True)
        assert (dry.links_removed, dry.blobs_removed) == (1, 0)  # the orphan's blob is still linked
        assert await blob_rows(registry) == {sha256(x) for x in (config, layer, orphan, young)}

        lines: list[str] = []
        report = await gc.collect(registry, progress=lines.append)
        assert report.links_removed == 1
        assert report.blobs_removed == 1
        assert report.bytes_freed == len(orphan)
        assert lines
        assert await blob_rows(registry) == {sha256(x) for x in (config, layer, young)}
        assert await link_rows(registry, repo) == {sha256(x) for x in (config, layer, young)}
        assert not await stored(registry, keys[orphan])
        for data in (config, layer, young):
            assert await stored(registry, keys[data])
        async with registry.db.read() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(t.blob_tombstones)) == 0

        # Deleting the image makes its blobs garbage once they are old enough.
        image = sha256(manifest(config, layer))
        await registry.image_deletion.delete(registry.settings.account_id, "unit/gc", [ImageId(image)])
        report = await gc.collect(registry, grace_hours=0)
        assert report.blobs_removed == 3
        assert await blob_rows(registry) == set()
        for key in keys.values():
            assert not await stored(registry, key)

    run(tmp_path, body)


def test_link_gc_then_push_refuses_the_manifest(tmp_path: Path) -> None:
    """Link GC deletes first: the push must fail, not reference a missing blob."""
    config, layer = b"{}", b"layer"

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/gc-a")
        for data in (config, layer):
            await push_blob(registry, repo, data)
        await age(registry, 48)
        cutoff = t.now() - timedelta(hours=24)
        async with registry.db.read() as conn:
            links = await gc.link_candidates(conn, cutoff)
        async with registry.db.write() as conn:
            assert await gc.delete_links(conn, links, cutoff) == 2
        with pytest.raises(ManifestBlobUnknown):
            await registry.manifests.put(repo, "v1", manifest(config, layer), OCI_MANIFEST)
        async with registry.db.read() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(t.manifests)) == 0

    run(tmp_path, body)


def test_push_between_listing_and_deleting_keeps_the_links(tmp_path: Path) -> None:
    """GC lists the links, a push references them, then GC deletes: the re-check keeps them."""
    config, layer = b"{}", b"layer"

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/gc-b")
        keys = [await push_blob(registry, repo, data) for data in (config, layer)]
        await age(registry, 48)
        cutoff = t.now() - timedelta(hours=24)
        async with registry.db.read() as conn:
            links = await gc.link_candidates(conn, cutoff)
        assert {d for _, d in links} == {sha256(config), sha256(layer)}
        await registry.manifests.put(repo, "v1", manifest(config, layer), OCI_MANIFEST)
        async with registry.db.write() as conn:
            assert await gc.delete_links(conn, links, cutoff) == 0
        # Even with the manifest gone again, the fresh referenced_at protects the links.
        await registry.image_deletion.delete(
            registry.settings.account_id, "unit/gc-b", [ImageId(sha256(manifest(config, layer)))]
        )
        async with registry.db.write() as conn:
            assert await gc.delete_links(conn, links, cutoff) == 0
        assert await link_rows(registry, repo) == {sha256(config), sha256(layer)}
        report = await gc.collect(registry)
        assert (report.links_removed, report.blobs_removed) == (0, 0)
        for key in keys:
            assert await stored(registry, key)

    run(tmp_path, body)


def test_blob_linked_between_listing_and_deleting_is_kept(tmp_path: Path) -> None:
    """Blob GC lists an unlinked blob, an upload of the same bytes links it, then GC decides."""
    data = b"shared bytes"

    async def body(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "unit/gc-c")
        key = await push_blob(registry, repo, data)
        await registry.blobs.unlink(account, "unit/gc-c", sha256(data))
        await age(registry, 48)
        cutoff = t.now() - timedelta(hours=24)
        async with registry.db.read() as conn:
            assert await gc.blob_candidates(conn, cutoff) == [(sha256(data), len(data))]
        assert await push_blob(registry, repo, data) == key  # re-linked, same stored bytes
        async with registry.db.write() as conn:
            assert await gc.tombstone_blobs(registry, conn, [sha256(data)], cutoff) == []
        assert await stored(registry, key)

        # The other order: GC removes the blob first, then the upload publishes new bytes.
        await registry.blobs.unlink(account, "unit/gc-c", sha256(data))
        await age(registry, 48)
        report = await gc.collect(registry)
        assert report.blobs_removed == 1
        assert not await stored(registry, key)
        new_key = await push_blob(registry, repo, data)
        assert new_key != key
        assert await stored(registry, new_key)
        info = await registry.blobs.stat(account, "unit/gc-c", sha256(data))
        assert info.key == new_key

    run(tmp_path, body)


def test_tombstones_are_finished_after_a_crash(tmp_path: Path) -> None:
    data = b"doomed bytes"

    async def body(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "unit/gc-d")
        key = await push_blob(registry, repo, data)
        await registry.blobs.unlink(account, "unit/gc-d", sha256(data))
        await age(registry, 48)
        cutoff = t.now() - timedelta(hours=24)
        # The transaction commits, then the process "crashes" before deleting the bytes.
        async with registry.db.write() as conn:
            removed = await gc.tombstone_blobs(registry, conn, [sha256(data)], cutoff)
        assert removed == [(sha256(data), key, len(data))]
        assert await blob_rows(registry) == set()
        assert await stored(registry, key)

        report = await gc.collect(registry)
        assert report.tombstones_finished == 1
        assert not await stored(registry, key)
        async with registry.db.read() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(t.blob_tombstones)) == 0

    run(tmp_path, body)


def test_uploading_again_refreshes_an_old_link(tmp_path: Path) -> None:
    """A client that re-uploads (or mounts) a blob before pushing its manifest keeps the link."""
    data = b"re-uploaded"

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/gc-e")
        key = await push_blob(registry, repo, data)
        await age(registry, 48)
        assert await push_blob(registry, repo, data) == key
        report = await gc.collect(registry)
        assert (report.links_removed, report.blobs_removed) == (0, 0)
        assert await link_rows(registry, repo) == {sha256(data)}

    run(tmp_path, body)
