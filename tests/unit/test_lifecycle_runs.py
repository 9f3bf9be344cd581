"""Lifecycle runs (dockyard.features.lifecycle_runs) on a real SQLite database: index children
and referrers go with what they belong to, transitions archive, the scan queues runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from registry_testlib import run, sha256

from dockyard.core.registry import Registry
from dockyard.core.repositories import Repository
from dockyard.features import lifecycle_runs
from dockyard.store.meta import tables as t

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


async def image(registry: Registry, repo: Repository, name: str, subject: str | None = None) -> bytes:
    config = json.dumps({"name": name}).encode()
    upload = await registry.blobs.start_upload(repo)
    await registry.blobs.append_bytes(repo, upload.id, config, 0)
    await registry.blobs.complete(repo, upload.id, sha256(config))
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config),
            "size": 2,
        },
        "layers": [],
    }
    if subject is not None:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
        doc["artifactType"] = "application/example"
    return json.dumps(doc).encode()


async def digests(registry: Registry, repo: Repository) -> set[str]:
    async with registry.db.read() as conn:
        m = t.manifests
        return set((await conn.execute(sa.select(m.c.digest).where(m.c.repository_id == repo.id))).scalars())


def test_run_expires_indexes_with_children_and_referrers(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/lc")
        pushed: dict[str, str] = {}
        for name in ("old", "new"):
            children = [await image(registry, repo, f"{name}-{arch}") for arch in ("amd64", "arm64")]
            for child in children:
                await registry.manifests.put(repo, sha256(child), child, OCI_MANIFEST)
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {"mediaType": OCI_MANIFEST, "digest": sha256(c), "size": len(c)} for c in children
                    ],
                }
            ).encode()
            await registry.manifests.put(repo, f"app-{name}", index, OCI_INDEX)
            pushed[name] = sha256(index)
            pushed[f"{name}-children"] = ",".join(sha256(c) for c in children)
        signature = await image(registry, repo, "sig", subject=pushed["old"])
        await registry.manifests.put(repo, sha256(signature), signature, OCI_MANIFEST)

        async with registry.db.write() as conn:
            await conn.execute(
                t.repositories.update()
                .where(t.repositories.c.id == repo.id)
                .values(
                    lifecycle_policy=json.dumps(
                        {
                            "rules": [
                                {
                                    "rulePriority": 1,
                                    "selection": {
                                        "tagStatus": "tagged",
                                        "tagPrefixList": ["app"],
                                        "countType": "imageCountMoreThan",
                                        "countNumber": 1,
                                    },
                                    "action": {"type": "expire"},
                                }
                            ]
                        }
                    )
                )
            )
        result = await lifecycle_runs.run_policy(registry, repo.id)
        expired = {item["digest"] for item in result["expired"]}
        gone = {pushed["old"], sha256(signature), *pushed["old-children"].split(",")}
        assert expired == gone
        assert await digests(registry, repo) == {pushed["new"], *pushed["new-children"].split(",")}
        async with registry.db.read() as conn:
            r = t.repositories
            assert await conn.scalar(sa.select(r.c.lifecycle_evaluated_at).where(r.c.id == repo.id))

        # The scan queues one run per repository with a policy, once.
        assert (await lifecycle_runs.scan(registry))["queued"] == 1
        assert (await lifecycle_runs.scan(registry))["queued"] == 0

    run(tmp_path, body)


def test_run_archives_on_pull_age(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/lc-archive")
        manifest = await image(registry, repo, "a")
        await registry.manifests.put(repo, "a", manifest, OCI_MANIFEST)
        async with registry.db.write() as conn:
            await conn.execute(
                t.repositories.update()
                .where(t.repositories.c.id == repo.id)
                .values(
                    lifecycle_policy=json.dumps(
                        {
                            "rules": [
                                {
                                    "rulePriority": 1,
                                    "selection": {
                                        "tagStatus": "any",
                                        "countType": "sinceImagePulled",
                                        "countUnit": "days",
                                        "countNumber": 30,
                                    },
                                    "action": {"type": "transition", "targetStorageClass": "archive"},
                                }
                            ]
                        }
                    )
                )
            )
        result = await lifecycle_runs.run_policy(registry, repo.id, now=t.now() + timedelta(days=31))
        assert result["archived"] == [sha256(manifest)] and result["expired"] == []
        async with registry.db.read() as conn:
            m = t.manifests
            row = (await conn.execute(sa.select(m.c.storage_class, m.c.archived_at))).one()
        assert row.storage_class == "ARCHIVE" and row.archived_at is not None

    run(tmp_path, body)
