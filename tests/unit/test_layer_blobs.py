"""BlobService additions the ECR layer API uses: parts from bytes, exclusive completion,
and which blobs the repository's images reference. Runs on a real SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.core.blobs import BATCH, BlobAlreadyLinked
from dockyard.core.errors import RangeInvalid
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import run, sha256


def test_parts_from_bytes_then_exclusive_complete(tmp_path: Path) -> None:
    data = bytes(range(256)) * (BATCH // 128 + 7)  # more than two hashing batches

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/layers")
        blobs = registry.blobs
        upload = await blobs.start_upload(repo)
        half = len(data) // 2
        assert (await blobs.append_bytes(repo, upload.id, data[:half], 0)).size == half
        with pytest.raises(RangeInvalid) as excinfo:
            await blobs.append_bytes(repo, upload.id, data[half:], half + 1)
        assert excinfo.value.current_size == half
        assert (await blobs.append_bytes(repo, upload.id, data[half:], half)).size == len(data)
        info = await blobs.complete(repo, upload.id, sha256(data), exclusive=True)
        assert (info.digest, info.size) == (sha256(data), len(data))
        assert await blobs.known_sizes(repo.id, [sha256(data)]) == {sha256(data): len(data)}

        # The same content again: exclusive completion refuses, and the upload is consumed.
        again = await blobs.start_upload(repo)
        await blobs.append_bytes(repo, again.id, data, 0)
        with pytest.raises(BlobAlreadyLinked):
            await blobs.complete(repo, again.id, sha256(data), exclusive=True)
        async with registry.db.read() as conn:
            assert await conn.scalar(t.uploads.select().where(t.uploads.c.id == again.id)) is None

        # Without `exclusive` (the /v2/ door), completing a known blob stays a no-op link.
        third = await blobs.start_upload(repo)
        await blobs.append_bytes(repo, third.id, data, 0)
        assert (await blobs.complete(repo, third.id, sha256(data))).size == len(data)

    run(tmp_path, body)


def test_referenced_and_referencing_manifests(tmp_path: Path) -> None:
    layer, config = b"layer bytes", b"{}"

    async def body(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "unit/refs")
        other = await registry.repositories.create(account, "unit/other")
        for target in (repo, other):
            for blob in (layer, config):
                upload = await registry.blobs.start_upload(target)
                await registry.blobs.append_bytes(target, upload.id, blob, 0)
                await registry.blobs.complete(target, upload.id, sha256(blob))
        blobs = registry.blobs
        assert await blobs.referenced(repo.id, [sha256(layer)]) == set()
        assert await blobs.referencing_manifests(repo.id, [sha256(layer)]) == {}
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
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
        ).encode()
        await registry.manifests.put(repo, "v1", manifest, "application/vnd.oci.image.manifest.v1+json")
        wanted = [sha256(layer), sha256(config), sha256(b"absent")]
        assert await blobs.referenced(repo.id, wanted) == {sha256(layer), sha256(config)}
        assert await blobs.referenced(other.id, wanted) == set()  # per repository
        found = await blobs.referencing_manifests(repo.id, wanted)
        assert found == {sha256(layer): manifest, sha256(config): manifest}
        assert await blobs.referenced(repo.id, []) == set()
        assert await blobs.referencing_manifests(repo.id, []) == {}

    run(tmp_path, body)
