"""ImageService and the ECR image helpers in the domain core, without a server (a real SQLite
database in a temporary directory)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from registry_testlib import OCI_INDEX, OCI_MANIFEST, MetadataEnv, run_metadata, sha256
from sqlalchemy import event

from dockyard.core.errors import ManifestBlobUnknown
from dockyard.core.images import ImageId, check_image_id
from dockyard.core.manifests import (
    ChildManifestsUnknown,
    LayersUnknown,
    ManifestUnchanged,
)
from dockyard.core.repositories import Repository
from dockyard.ecr.actions.images import convert_manifest
from dockyard.store.meta import tables as t

T = TypeVar("T")

ACCOUNT = "123456789012"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
sha = sha256


class Env(MetadataEnv):
    async def repo(self, name: str = "app") -> Repository:
        return await self.repos.create(ACCOUNT, name)

    async def push(self, repo: Repository, body: bytes, *refs: str) -> str:
        digest = sha(body)
        await self.manifests.put(repo, refs[0] if refs else digest, body, None, list(refs[1:]))
        return digest


def run(make: Callable[[Env], Awaitable[T]], tmp_path: Path) -> T:
    return run_metadata(Env, make, tmp_path)


def index_of(*children: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": sha(c), "size": len(c), "platform": {"os": "linux"}}
                for c in children
            ],
        }
    ).encode()


# ---------------------------------------------------------------------------- ids
@pytest.mark.parametrize(
    ("image_id", "code"),
    [
        (ImageId(), "MissingDigestAndTag"),
        (ImageId("sha256:zz"), "InvalidImageDigest"),
        (ImageId("md5:" + "0" * 32), "InvalidImageDigest"),
        (ImageId(None, "-x"), "InvalidImageTag"),
        (ImageId(None, "x" * 129), "InvalidImageTag"),
        (ImageId(sha(b"x"), "ok"), None),
    ],
)
def test_check_image_id(image_id: ImageId, code: str | None) -> None:
    problem = check_image_id(image_id)
    assert (problem.code if problem else None) == code


# ---------------------------------------------------------------------------- describe / list
def test_describe_pages_sizes_and_query_count(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        digests = [await env.push(repo, await env.image(repo, (100, 5)), f"t{i}", f"u{i}") for i in range(5)]
        small = await env.image(repo, (7,))
        big = await env.image(repo, (300,))
        await env.push(repo, small)
        await env.push(repo, big)
        index_digest = await env.push(repo, index_of(small, big), "multi")

        statements: list[str] = []

        def count(*args: Any) -> None:
            if str(args[2]).lstrip().upper().startswith("SELECT"):
                statements.append(str(args[2]))

        event.listen(env.db.engine.sync_engine, "before_cursor_execute", count)
        _, page, more = await env.images.describe_page(ACCOUNT, "app", "ANY", None, 100)
        event.remove(env.db.engine.sync_engine, "before_cursor_execute", count)
        assert len(statements) <= 3  # repository, page, tags: no query per image
        assert not more
        by_digest = {i.digest: i for i in page}
        assert [i.digest for i in page][:5] == digests
        assert by_digest[digests[0]].tags == ["t0", "u0"]
        assert by_digest[digests[0]].size == 105
        assert by_digest[index_digest].size == by_digest[sha(big)].size  # largest child
        assert by_digest[sha(small)].tags == []

        seen, after = [], None
        while True:
            _, items, more = await env.images.describe_page(ACCOUNT, "app", "ANY", after, 2)
            seen += [i.digest for i in items]
            if not more:
                break
            after = items[-1].id
        assert seen == [i.digest for i in page]
        _, untagged, _ = await env.images.describe_page(ACCOUNT, "app", "UNTAGGED", None, 100)
        assert {i.digest for i in untagged} == {sha(small), sha(big)}

    run(go, tmp_path)


def test_list_page_cursor_within_one_image(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        a = await env.push(repo, await env.image(repo), "a1", "a2", "a3")
        b = await env.push(repo, await env.image(repo))
        c = await env.push(repo, await env.image(repo), "c1")
        expected = [(a, "a1"), (a, "a2"), (a, "a3"), (b, None), (c, "c1")]
        for size in (1, 2, 3, 10):
            seen, after = [], None
            while True:
                items, more = await env.images.list_page(ACCOUNT, "app", "ANY", after, size)
                seen += [(i.digest, i.tag) for i in items]
                if not more:
                    break
                after = (items[-1].manifest_id, items[-1].tag)
            assert seen == expected, size
        tagged, _ = await env.images.list_page(ACCOUNT, "app", "TAGGED", None, 10)
        assert [(i.digest, i.tag) for i in tagged] == [e for e in expected if e[1]]
        untagged, _ = await env.images.list_page(ACCOUNT, "app", "UNTAGGED", None, 10)
        assert [(i.digest, i.tag) for i in untagged] == [(b, None)]

    run(go, tmp_path)


# ---------------------------------------------------------------------------- batch get / delete
def test_batch_get_resolution_and_pull_time(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        one = await env.push(repo, await env.image(repo), "one")
        two = await env.push(repo, await env.image(repo), "two")
        _, found, failures = await env.images.batch_get(
            ACCOUNT,
            "app",
            [
                ImageId(None, "one"),
                ImageId(None, "one"),  # duplicates count once
                ImageId(two),
                ImageId(one, "two"),
                ImageId(None, "zzz"),
            ],
        )
        assert [(f.image_id, f.by_tag) for f in found] == [(ImageId(one, "one"), True), (ImageId(two), False)]
        assert [f.code for f in failures] == ["ImageTagDoesNotMatchDigest", "ImageNotFound"]

        await env.images.record_pull([found[0].manifest_id])
        _, infos, _ = await env.images.describe_ids(ACCOUNT, "app", [ImageId(one)])
        first = infos[0].last_pulled_at
        assert first is not None
        await env.images.record_pull([found[0].manifest_id])  # within the resolution: unchanged
        _, infos, _ = await env.images.describe_ids(ACCOUNT, "app", [ImageId(one)])
        assert infos[0].last_pulled_at == first

    run(go, tmp_path)


def test_batch_delete_order_and_index_children(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        child = await env.image(repo)
        child_digest = await env.push(repo, child, "child-tag")
        index_digest = await env.push(repo, index_of(child), "multi")
        multi = await env.push(repo, await env.image(repo), "x", "y")

        result = await env.deletion.delete(
            ACCOUNT, "app", [ImageId(child_digest), ImageId(None, "child-tag"), ImageId(None, "x")]
        )
        assert [f.code for f in result.failures] == ["ImageReferencedByManifestList"] * 2
        assert result.removed == [ImageId(multi, "x")]

        result = await env.deletion.delete(
            ACCOUNT,
            "app",
            [ImageId(index_digest), ImageId(None, "child-tag"), ImageId(child_digest), ImageId(None, "y")],
        )
        assert result.failures[0].code == "ImageNotFound"  # the last tag already took the child
        assert result.removed == [
            ImageId(index_digest, "multi"),
            ImageId(child_digest, "child-tag"),
            ImageId(multi, "y"),
        ]
        _, remaining, _ = await env.images.describe_page(ACCOUNT, "app", "ANY", None, 10)
        assert remaining == []
        async with env.db.read() as conn:
            for table in (t.tags, t.manifest_blobs, t.manifest_children, t.manifests):
                assert await conn.scalar(sa.select(sa.func.count()).select_from(table)) == 0

    run(go, tmp_path)


# ---------------------------------------------------------------------------- push
def test_put_refuse_unchanged_and_missing_references(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        body = await env.image(repo)
        await env.manifests.put(repo, "v1", body, None, refuse_unchanged=True)
        await env.manifests.put(repo, "v1", body, None)  # the /v2/ door accepts a re-push
        with pytest.raises(ManifestUnchanged):
            await env.manifests.put(repo, "v1", body, None, refuse_unchanged=True)
        with pytest.raises(ManifestUnchanged):
            await env.manifests.put(repo, sha(body), body, None, refuse_unchanged=True)
        await env.manifests.put(repo, sha(body), body, None, ["v2"], refuse_unchanged=True)

        doc = json.loads(body)
        doc["layers"].append({"mediaType": doc["layers"][0]["mediaType"], "digest": sha(b"a"), "size": 1})
        doc["layers"].append({"mediaType": doc["layers"][0]["mediaType"], "digest": sha(b"b"), "size": 1})
        with pytest.raises(LayersUnknown) as layers:
            await env.manifests.put(repo, "bad", json.dumps(doc).encode(), None)
        assert layers.value.missing == sorted([sha(b"a"), sha(b"b")])
        assert isinstance(layers.value, ManifestBlobUnknown)
        assert layers.value.detail == {"digest": layers.value.missing[0]}  # the /v2/ body is unchanged
        with pytest.raises(ChildManifestsUnknown) as children:
            await env.manifests.put(repo, "idx", index_of(b"ghost"), None)
        assert children.value.missing == [sha(b"ghost")]

    run(go, tmp_path)


def test_referrers_page(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        subject = await env.push(repo, await env.image(repo), "app")
        refs = sorted([await env.push(repo, await env.image(repo, subject=subject)) for _ in range(3)])
        items, more = await env.images.referrers_page(ACCOUNT, "app", subject, None, None, 2)
        assert [i.digest for i in items] == refs[:2] and more
        items, more = await env.images.referrers_page(ACCOUNT, "app", subject, None, items[-1].digest, 2)
        assert [i.digest for i in items] == refs[2:] and not more
        items, _ = await env.images.referrers_page(ACCOUNT, "app", subject, ["other/type"], None, 50)
        assert items == []
        items, _ = await env.images.referrers_page(ACCOUNT, "app", subject, ["application/x.sig"], None, 50)
        assert len(items) == 3 and all(i.artifact_type == "application/x.sig" for i in items)

    run(go, tmp_path)


# ---------------------------------------------------------------------------- format conversion
def test_convert_manifest_round_trip() -> None:
    oci = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"c"), "size": 1},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b"l"), "size": 1}
        ],
    }
    docker = convert_manifest(json.dumps(oci).encode(), DOCKER_MANIFEST)
    assert docker is not None
    doc = json.loads(docker)
    assert doc["mediaType"] == DOCKER_MANIFEST
    assert doc["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    back = convert_manifest(docker, OCI_MANIFEST)
    assert back is not None and json.loads(back) == oci

    zstd = {
        **oci,
        "layers": [{**oci["layers"][0], "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd"}],
    }
    assert convert_manifest(json.dumps(zstd).encode(), DOCKER_MANIFEST) is None
    with_subject = {**oci, "subject": {"mediaType": OCI_MANIFEST, "digest": sha(b"s"), "size": 1}}
    assert convert_manifest(json.dumps(with_subject).encode(), DOCKER_MANIFEST) is None
    assert convert_manifest(b"not json", DOCKER_MANIFEST) is None
    assert convert_manifest(json.dumps(oci).encode(), OCI_MANIFEST) is None  # not a conversion
