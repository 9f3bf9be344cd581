"""`dockyard fsck` on a real SQLite database and filesystem store: each inconsistency, built by
hand, is reported with its kind; `--repair` fixes what it may and nothing else."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from dockyard import clock
from dockyard.cli import main
from dockyard.core.repositories import Repository
from dockyard.features.fsck.report import FsckReport
from dockyard.features.fsck.run import FsckOptions, fsck
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import OCI_MANIFEST, run, sha256


async def push_blob(registry: Registry, repo: Repository, data: bytes) -> str:
    upload = await registry.blobs.start_upload(repo)
    await registry.blobs.append_bytes(repo, upload.id, data, 0)
    return (await registry.blobs.complete(repo, upload.id, sha256(data))).key


async def push_image(registry: Registry, repo: Repository, tag: str, seed: bytes) -> dict[str, Any]:
    config, layer = b'{"seed": "' + seed + b'"}', seed * 1000
    keys = {
        "config": await push_blob(registry, repo, config),
        "layer": await push_blob(registry, repo, layer),
    }
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(layer),
                "size": len(layer),
            }
        ],
    }
    result = await registry.manifests.put(repo, tag, json.dumps(doc).encode(), OCI_MANIFEST)
    return {**keys, "digest": result.digest, "layer_digest": sha256(layer), "config_digest": sha256(config)}


def path_of(registry: Registry, key: str) -> Path:
    found = registry.store.local_path(key)
    assert found is not None
    return Path(found)


def kinds(report: FsckReport) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        if not finding.repaired:
            found.setdefault(finding.kind, set()).add(finding.subject)
    return found


def test_clean_after_pushes_and_summary(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/fsck-clean")
        await push_image(registry, repo, "one", b"a")
        await push_image(registry, repo, "two", b"b")
        live = await registry.blobs.start_upload(repo)  # a session in progress is fine
        await registry.blobs.append_bytes(repo, live.id, b"in flight", 0)
        report = await fsck(registry, FsckOptions(hash_sample=None))
        assert report.clean and not report.findings, report.text()
        assert report.checked["blobs"] == 4 and report.checked["blobs hashed"] == 4
        assert report.checked["manifests"] == 2 and report.checked["upload sessions"] == 1
        name = f"{registry.settings.account_id}/unit/fsck-clean"
        assert report.repositories[name] == {"images": 2, "tags": 2, "blobs": 4, "bytes": 2000 + 26}
        sampled = await fsck(registry, FsckOptions(hash_sample=1))
        assert sampled.clean and sampled.checked["blobs hashed"] == 1

    run(tmp_path, body)


def test_blob_bytes_missing_resized_or_corrupt(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/fsck-blobs")
        gone = await push_image(registry, repo, "gone", b"g")
        path_of(registry, gone["layer"]).unlink()
        resized = await push_image(registry, repo, "resized", b"r")
        with path_of(registry, resized["layer"]).open("ab") as f:
            f.write(b"extra")
        corrupt = await push_image(registry, repo, "corrupt", b"c")
        path_of(registry, corrupt["layer"]).write_bytes(b"x" * 1000)  # same size, other bytes

        report = await fsck(registry, FsckOptions(hash_sample=None))
        assert kinds(report) == {
            "blob.missing": {gone["layer_digest"]},
            "blob.size": {resized["layer_digest"]},
            "blob.corrupt": {corrupt["layer_digest"]},
        }
        missing = next(f for f in report.findings if f.kind == "blob.missing")
        assert "unit/fsck-blobs" in missing.detail  # says which repository it hurts
        assert not report.clean and report.checked["blobs hashed"] == 4  # the 2 broken ones skipped

        # Nothing here is repairable: --repair leaves the evidence as it is.
        repaired = await fsck(registry, FsckOptions(hash_sample=None, repair=True))
        assert kinds(repaired) == kinds(report)

    run(tmp_path, body)


def test_orphans_and_sessions_reported_and_repaired(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/fsck-store")
        image = await push_image(registry, repo, "kept", b"k")
        store = registry.store

        old_upload = "00000000-0000-4000-8000-00000000000a"  # a monolithic push killed mid-body
        writer = await store.open_upload(old_upload, 0, await store.create_upload(old_upload))
        await writer.write(b"half a body")
        await writer.close()
        empty_upload = "00000000-0000-4000-8000-00000000000b"
        await store.create_upload(empty_upload)

        # Published by a completion that died before its row, session since purged.
        crashed = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, crashed.id, b"crashed", 0)
        stranded = await store.publish(crashed.id, sha256(b"crashed"), 7)
        async with registry.db.write() as conn:
            await conn.execute(t.uploads.delete().where(t.uploads.c.id == crashed.id))

        broken = await registry.blobs.start_upload(repo)  # the row says 10 bytes, the store has 4
        await registry.blobs.append_bytes(repo, broken.id, b"0123456789", 0)
        os.truncate(store._upload_path(broken.id), 4)  # type: ignore[attr-defined]
        stale = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, stale.id, b"abandoned", 0)
        async with registry.db.write() as conn:
            await conn.execute(
                t.uploads.update()
                .where(t.uploads.c.id == stale.id)
                .values(updated_at=t.now() - timedelta(hours=200))
            )

        # A blob GC removed, its bytes left by an interrupted run.
        tomb_key = await push_blob(registry, repo, b"collected")
        async with registry.db.write() as conn:
            await conn.execute(
                t.repository_blobs.delete().where(t.repository_blobs.c.digest == sha256(b"collected"))
            )
            await conn.execute(t.blobs.delete().where(t.blobs.c.digest == sha256(b"collected")))
            await conn.execute(
                t.blob_tombstones.insert().values(
                    storage_key=tomb_key, digest=sha256(b"collected"), created_at=t.now() - timedelta(hours=2)
                )
            )

        young = await fsck(registry, FsckOptions())
        assert kinds(young) == {
            "upload.bytes_missing": {broken.id},
            "upload.stale": {stale.id},
            "gc.tombstone": {sha256(b"collected")},
        }
        assert young.unnamed_young == 3  # no row names them, but a request may still be writing them

        clock.set_offset(25 * 3600)  # past the grace period
        try:
            report = await fsck(registry, FsckOptions())
            assert kinds(report) == {
                "store.orphan": {old_upload, empty_upload, stranded},
                "upload.bytes_missing": {broken.id},
                "upload.stale": {stale.id},
                "gc.tombstone": {sha256(b"collected")},
            }
            assert report.unnamed_young == 0
            assert [f.kind for f in report.errors] == ["upload.bytes_missing"]
            assert all(f.repairable for f in report.findings)
            repaired = await fsck(registry, FsckOptions(repair=True))
        finally:
            clock.set_offset(0)
        assert all(f.repaired for f in repaired.findings) and repaired.clean
        assert not store._upload_path(old_upload).exists()  # type: ignore[attr-defined]
        assert not path_of(registry, stranded).exists() and not path_of(registry, tomb_key).exists()
        async with registry.db.read() as conn:
            assert set((await conn.execute(sa.select(t.uploads.c.id))).scalars()) == set()
            assert await conn.scalar(sa.select(sa.func.count()).select_from(t.blob_tombstones)) == 0
        assert path_of(registry, image["layer"]).exists()  # what rows name is untouched

        after = await fsck(registry, FsckOptions(hash_sample=None))
        assert after.clean and not after.findings, after.text()

    run(tmp_path, body)


def test_dangling_references(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "unit/fsck-refs")
        other = await registry.repositories.create(account, "unit/fsck-other")
        img = await push_image(registry, repo, "a", b"a")
        foreign = await push_image(registry, other, "b", b"b")
        tampered = await push_image(registry, repo, "c", b"c")
        resized = await push_image(registry, repo, "d", b"d")
        async with registry.db.write() as conn:
            m = t.manifests
            ids = {row.digest: row.id for row in await conn.execute(sa.select(m.c.id, m.c.digest))}
            await conn.execute(
                t.manifest_blobs.insert().values(
                    manifest_id=ids[img["digest"]], digest=sha256(b"never pushed")
                )
            )
            await conn.execute(
                t.manifest_children.insert().values(
                    parent_id=ids[img["digest"]], repository_id=repo.id, child_digest=foreign["digest"]
                )
            )
            await conn.execute(  # a tag of `repo` naming a manifest of `other`
                t.tags.insert().values(
                    repository_id=repo.id,
                    name="cross",
                    manifest_id=ids[foreign["digest"]],
                    updated_at=t.now(),
                )
            )
            await conn.execute(m.update().where(m.c.id == ids[tampered["digest"]]).values(content=b"{}"))
            await conn.execute(m.update().where(m.c.id == ids[resized["digest"]]).values(image_size=1))
        raw = sqlite3.connect(registry.settings.data_dir / "dockyard.db")  # what FKs off would allow
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute(
            "INSERT INTO tags (repository_id, name, manifest_id, updated_at) "
            "VALUES (?, 'nowhere', 999999, ?)",
            (repo.id, t.now().isoformat()),
        )
        raw.commit()
        raw.close()

        report = await fsck(registry, FsckOptions())
        found = kinds(report)
        assert found.pop("database.integrity") == {"database"}  # the FK check sees the tag too
        assert found == {
            "manifest.blob_missing": {img["digest"]},
            "manifest.child_missing": {img["digest"]},
            "manifest.digest": {tampered["digest"]},
            "manifest.image_size": {resized["digest"]},
            "tag.dangling": {f"{account}/unit/fsck-refs:cross", f"{account}/unit/fsck-refs:nowhere"},
        }

        repaired = await fsck(registry, FsckOptions(repair=True))
        assert {f.kind for f in repaired.findings if f.repaired} == {"tag.dangling"}
        again = await fsck(registry, FsckOptions())
        assert set(kinds(again)) == {
            "manifest.blob_missing",
            "manifest.child_missing",
            "manifest.digest",
            "manifest.image_size",
        }
        async with registry.db.read() as conn:
            names = set(await conn.execute(sa.select(t.tags.c.name).where(t.tags.c.repository_id == repo.id)))
        assert {name for (name,) in names} == {"a", "c", "d"}

    run(tmp_path, body)


def test_cli_exit_codes_json_and_scrub(tmp_path: Path) -> None:
    async def body(registry: Registry) -> dict[str, Any]:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/fsck-cli")
        return await push_image(registry, repo, "x", b"x")

    image = run(tmp_path, body)
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path)]
    clean = runner.invoke(main, ["fsck", *args, "--full"])
    assert clean.exit_code == 0 and clean.output.rstrip().endswith("clean"), clean.output
    scrubbed = runner.invoke(main, ["scrub", *args])
    assert scrubbed.exit_code == 0 and "checked 2 blobs; 0 corrupt" in scrubbed.output

    blob = tmp_path / "blobs" / "blobs" / image["layer"]
    blob.write_bytes(b"y" * blob.stat().st_size)
    broken = runner.invoke(main, ["fsck", *args, "--full", "--json"])
    assert broken.exit_code == 1
    report = json.loads(broken.output)
    assert report["clean"] is False and report["errors"] == 1
    assert report["findings"][0]["kind"] == "blob.corrupt"
    scrubbed = runner.invoke(main, ["scrub", *args])
    assert scrubbed.exit_code == 1 and f"CORRUPT {image['layer_digest']}" in scrubbed.output

    unreachable = runner.invoke(main, ["fsck", "--database", "postgresql+asyncpg://x@127.0.0.1:1/x", *args])
    assert unreachable.exit_code == 2 and "could not run" in unreachable.output
