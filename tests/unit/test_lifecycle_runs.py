"""Lifecycle runs (dockyard.features.lifecycle.runs) on a real SQLite database: index children
and referrers go with what they belong to, transitions archive, the scan queues runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dockyard.core.repositories import Repository
from dockyard.features.lifecycle import runs as lifecycle_runs
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import run, sha256

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


def index_of(children: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(c), "size": len(c)} for c in children],
        }
    ).encode()


async def set_policy(registry: Registry, repo: Repository, rule: dict[str, Any]) -> None:
    async with registry.db.write() as conn:
        await conn.execute(
            t.repositories.update()
            .where(t.repositories.c.id == repo.id)
            .values(lifecycle_policy=json.dumps({"rules": [{"rulePriority": 1, **rule}]}))
        )


EXPIRE_ALL_OLD = {
    "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
    "action": {"type": "expire"},
}


def test_run_evaluates_without_the_write_lock(tmp_path: Path, monkeypatch: Any) -> None:
    """Rules are evaluated outside any write transaction: pushes are not held up meanwhile."""

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/lc-lock")
        for name in ("a", "b", "c"):
            await registry.manifests.put(repo, name, await image(registry, repo, name), OCI_MANIFEST)
        await set_policy(registry, repo, EXPIRE_ALL_OLD)
        evaluate = lifecycle_runs.evaluate
        lock = registry.db._write_lock
        assert lock is not None
        seen: list[bool] = []

        def watching(*args: Any, **kwargs: Any) -> Any:
            seen.append(lock.locked())
            return evaluate(*args, **kwargs)

        monkeypatch.setattr(lifecycle_runs, "evaluate", watching)
        result = await lifecycle_runs.run_policy(registry, repo.id, now=t.now() + timedelta(days=2))
        assert seen == [False]
        assert len(result["expired"]) == 3 and result["skipped"] == []
        assert await digests(registry, repo) == set()

    run(tmp_path, body)


def test_run_spares_images_changed_after_evaluation(tmp_path: Path, monkeypatch: Any) -> None:
    """Pushes, tags, indexes and referrers that land between the snapshot the rules see and
    the expiry are never lost: the images they touch stay, the rest expires."""

    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/lc-race")
        retagged = await image(registry, repo, "retagged")
        await registry.manifests.put(repo, sha256(retagged), retagged, OCI_MANIFEST)
        subject = await image(registry, repo, "subject")
        await registry.manifests.put(repo, "subject", subject, OCI_MANIFEST)
        shared = await image(registry, repo, "shared-child")
        await registry.manifests.put(repo, sha256(shared), shared, OCI_MANIFEST)
        old_index = index_of([shared])
        await registry.manifests.put(repo, "old-index", old_index, OCI_INDEX)
        plain = await image(registry, repo, "plain")
        await registry.manifests.put(repo, "plain", plain, OCI_MANIFEST)
        moved = await image(registry, repo, "moved")
        await registry.manifests.put(repo, "moved", moved, OCI_MANIFEST)
        # Prepared now (their config blobs are uploads), pushed during the run.
        new_index = index_of([shared, await image(registry, repo, "new-child")])
        new_child = json.loads(new_index)["manifests"][1]["digest"]
        referrer = await image(registry, repo, "sig", subject=sha256(subject))
        fresh = await image(registry, repo, "fresh")
        await set_policy(registry, repo, EXPIRE_ALL_OLD)

        load_images = lifecycle_runs.load_images

        async def racing(conn: Any, repository_id: int) -> Any:
            images = await load_images(conn, repository_id)  # the snapshot the rules will see
            put = registry.manifests.put
            await put(repo, "keep", retagged, OCI_MANIFEST)  # a tag on an untagged image
            await put(repo, sha256(referrer), referrer, OCI_MANIFEST)  # a referrer of "subject"
            for child in json.loads(new_index)["manifests"]:
                if child["digest"] == new_child:
                    body = await image(registry, repo, "new-child")
                    await put(repo, sha256(body), body, OCI_MANIFEST)
            await put(repo, "new-index", new_index, OCI_INDEX)  # lists the old index's child
            await put(repo, "moved", fresh, OCI_MANIFEST)  # the tag moves away from "moved"
            return images

        monkeypatch.setattr(lifecycle_runs, "load_images", racing)
        result = await lifecycle_runs.run_policy(registry, repo.id, now=t.now() + timedelta(days=2))
        expired = {item["digest"] for item in result["expired"]}
        assert expired == {sha256(old_index), sha256(plain)}
        assert set(result["skipped"]) == {sha256(retagged), sha256(subject), sha256(shared), sha256(moved)}
        assert await digests(registry, repo) == {
            sha256(retagged),
            sha256(subject),
            sha256(referrer),
            sha256(shared),
            new_child,
            sha256(new_index),
            sha256(moved),
            sha256(fresh),
        }
        # Every survivor still pulls; the next run (no race) takes what is still old.
        for reference in ("keep", "subject", "new-index", "moved", sha256(shared)):
            assert (
                await registry.manifests.get(registry.settings.account_id, repo.name, reference)
            ) is not None
        monkeypatch.setattr(lifecycle_runs, "load_images", load_images)
        again = await lifecycle_runs.run_policy(registry, repo.id, now=t.now() + timedelta(days=2))
        assert {item["digest"] for item in again["expired"]} >= {sha256(moved), sha256(retagged)}

    run(tmp_path, body)


def test_run_archives_an_index_but_not_children_that_must_stay_pullable(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        repo = await registry.repositories.create(registry.settings.account_id, "unit/lc-shared")
        own, shared, tagged = [await image(registry, repo, name) for name in ("own", "shared", "tagged")]
        for child in (own, shared):
            await registry.manifests.put(repo, sha256(child), child, OCI_MANIFEST)
        await registry.manifests.put(repo, "tagged", tagged, OCI_MANIFEST)
        await registry.manifests.put(repo, "idx-old", index_of([own, shared, tagged]), OCI_INDEX)
        await registry.manifests.put(repo, "other", index_of([shared]), OCI_INDEX)
        await set_policy(
            registry,
            repo,
            {
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["idx"],
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "action": {"type": "transition", "targetStorageClass": "archive"},
            },
        )
        result = await lifecycle_runs.run_policy(registry, repo.id, now=t.now() + timedelta(days=31))
        assert set(result["archived"]) == {sha256(index_of([own, shared, tagged])), sha256(own)}
        async with registry.db.read() as conn:
            m = t.manifests
            query = sa.select(m.c.digest, m.c.storage_class).where(m.c.repository_id == repo.id)
            classes = {row.digest: row.storage_class for row in await conn.execute(query)}
        assert classes[sha256(shared)] == classes[sha256(tagged)] == "STANDARD"
        assert classes[sha256(own)] == "ARCHIVE"

    run(tmp_path, body)
