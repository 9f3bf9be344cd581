"""The one image deletion: its rule set as a pure function, then over a real SQLite database
(tags, referrers, immutability, the on-delete hooks and the /v2/ door's errors)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from registry_testlib import OCI_INDEX, OCI_MANIFEST, MetadataEnv, run_metadata, sha256

from dockyard.core.errors import ImageReferenced, ManifestUnknown
from dockyard.core.image_deletion import DeletionResult, StoredImage, apply_rules
from dockyard.core.images import IMAGE_NOT_FOUND, REFERENCED_BY_MANIFEST_LIST, ImageId
from dockyard.core.repositories import Repository
from dockyard.oci.manifest_deletion import delete_manifest

T = TypeVar("T")
ACCOUNT = "123456789012"

CHILD, INDEX, OTHER = "sha256:" + "c" * 64, "sha256:" + "a" * 64, "sha256:" + "0" * 64


def stored(**tags: tuple[str, ...]) -> dict[int, StoredImage]:
    """Manifest 1 (CHILD) listed by manifest 2 (INDEX), and manifest 3 (OTHER), alone."""
    return {
        1: StoredImage(CHILD, frozenset(tags.get("child", ())), {2: INDEX}),
        2: StoredImage(INDEX, frozenset(tags.get("index", ())), {}),
        3: StoredImage(OTHER, frozenset(tags.get("other", ())), {}),
    }


def codes(result: DeletionResult) -> list[str]:
    return [f.code for f in result.failures]


# ---------------------------------------------------------------------------- the rules, pure
def test_by_digest_takes_every_tag() -> None:
    result, doomed = apply_rules([(ImageId(OTHER), 3)], stored(other=("b", "a")), last_tag_deletes=True)
    assert result.removed == [ImageId(OTHER, "a"), ImageId(OTHER, "b")]
    assert result.removed_tags == ["a", "b"] and doomed == [3]
    assert [(d.digest, d.tags) for d in result.deleted] == [(OTHER, ("a", "b"))]


def test_untagged_by_digest_reports_the_digest_alone() -> None:
    result, doomed = apply_rules([(ImageId(OTHER), 3)], stored(), last_tag_deletes=True)
    assert result.removed == [ImageId(OTHER)] and doomed == [3] and result.failures == []


def test_an_index_child_is_refused_while_its_index_stays() -> None:
    result, doomed = apply_rules([(ImageId(CHILD), 1)], stored(), last_tag_deletes=True)
    assert codes(result) == [REFERENCED_BY_MANIFEST_LIST] and doomed == []
    assert result.failures[0].reason == f"Requested image referenced by manifest list: [{CHILD}]"
    assert result.referenced_by == {CHILD: [INDEX]}


def test_an_index_child_goes_after_its_index_in_the_same_call_not_before() -> None:
    result, doomed = apply_rules([(ImageId(INDEX), 2), (ImageId(CHILD), 1)], stored(), last_tag_deletes=True)
    assert result.failures == [] and doomed == [2, 1]
    result, doomed = apply_rules([(ImageId(CHILD), 1), (ImageId(INDEX), 2)], stored(), last_tag_deletes=True)
    assert codes(result) == [REFERENCED_BY_MANIFEST_LIST] and doomed == [2]


def test_the_last_tag_of_an_index_child() -> None:
    hits = [(ImageId(None, "a"), 1), (ImageId(None, "b"), 1)]
    # ECR: untagging is fine until the last tag, which would delete the child.
    result, doomed = apply_rules(hits, stored(child=("a", "b")), last_tag_deletes=True)
    assert result.removed == [ImageId(CHILD, "a")] and codes(result) == [REFERENCED_BY_MANIFEST_LIST]
    assert doomed == []
    # /v2/: untagging never deletes, so nothing is refused.
    result, doomed = apply_rules(hits, stored(child=("a", "b")), last_tag_deletes=False)
    assert result.removed == [ImageId(CHILD, "a"), ImageId(CHILD, "b")] and result.failures == []
    assert doomed == [] and result.deleted == []


def test_the_last_tag_deletes_the_image_with_last_tag_deletes() -> None:
    result, doomed = apply_rules([(ImageId(None, "a"), 3)], stored(other=("a",)), last_tag_deletes=True)
    assert result.removed == [ImageId(OTHER, "a")] and doomed == [3]


def test_ids_for_what_the_call_already_removed_are_not_found() -> None:
    hits = [(ImageId(OTHER), 3), (ImageId(None, "a"), 3), (ImageId(OTHER, "a"), 3)]
    result, doomed = apply_rules(hits, stored(other=("a",)), last_tag_deletes=True)
    assert codes(result) == [IMAGE_NOT_FOUND] * 2 and doomed == [3]
    hits = [(ImageId(None, "a"), 3), (ImageId(None, "a"), 3)]
    result, _ = apply_rules(hits, stored(other=("a", "b")), last_tag_deletes=False)
    assert codes(result) == [IMAGE_NOT_FOUND] and result.removed == [ImageId(OTHER, "a")]


# ---------------------------------------------------------------------------- over a database
class Env(MetadataEnv):
    async def repo(self, name: str = "app") -> Repository:
        return await self.repos.create(ACCOUNT, name)

    async def push(self, repo: Repository, body: bytes, *refs: str) -> str:
        digest = sha256(body)
        await self.manifests.put(repo, refs[0] if refs else digest, body, None, list(refs[1:]))
        return digest


def run(make: Callable[[Env], Awaitable[T]], tmp_path: Path) -> T:
    return run_metadata(Env, make, tmp_path)


def index_of(*children: bytes) -> bytes:
    entries = [{"mediaType": OCI_MANIFEST, "digest": sha256(c), "size": len(c)} for c in children]
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


def test_hooks_hear_each_committed_deletion_and_a_failing_hook_is_harmless(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        one = await env.push(repo, await env.image(repo), "one", "also")
        two = await env.push(repo, await env.image(repo), "two")
        heard: list[tuple[str, list[str], list[str]]] = []

        async def hear(repository: Repository, result: DeletionResult) -> None:
            heard.append((repository.name, result.deleted_digests, result.removed_tags))

        async def broken(repository: Repository, result: DeletionResult) -> None:
            raise RuntimeError("a hook's own failure")

        env.deletion.on_delete.extend([broken, hear])
        await env.deletion.delete(ACCOUNT, "app", [ImageId(one)])
        await env.deletion.delete(ACCOUNT, "app", [ImageId(None, "two")], last_tag_deletes=False)
        await env.deletion.delete(ACCOUNT, "app", [ImageId(None, "nothing")])  # nothing removed: not heard
        assert heard == [("app", [one], ["also", "one"]), ("app", [], ["two"])]
        assert (await env.manifests.get(ACCOUNT, "app", two)).digest == two  # untagged, still pullable

    run(go, tmp_path)


def test_referrers_stay_and_immutable_tags_can_be_deleted(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        subject = await env.push(repo, await env.image(repo), "v1")
        referrer = await env.push(repo, await env.image(repo, subject=subject))
        await env.repos.set_tag_mutability(ACCOUNT, "app", "IMMUTABLE", None)
        result = await env.deletion.delete(ACCOUNT, "app", [ImageId(subject)])
        assert result.failures == [] and result.removed == [ImageId(subject, "v1")]
        assert (await env.manifests.get(ACCOUNT, "app", referrer)).digest == referrer
        assert [r.digest for r in await env.manifests.referrers(ACCOUNT, "app", subject)] == [referrer]

    run(go, tmp_path)


def test_the_oci_door_refuses_an_index_child_and_keeps_its_not_found_errors(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repo()
        child = await env.image(repo)
        child_digest = await env.push(repo, child, "child")
        index = await env.push(repo, index_of(child), "multi")
        with pytest.raises(ImageReferenced) as refused:
            await delete_manifest(env.deletion, ACCOUNT, "app", child_digest)
        assert refused.value.detail == {"digest": child_digest, "indexes": [index]}
        await delete_manifest(env.deletion, ACCOUNT, "app", "child")  # untag only: allowed
        assert (await env.manifests.get(ACCOUNT, "app", child_digest)).digest == child_digest
        with pytest.raises(ManifestUnknown, match="tag 'child' is unknown"):
            await delete_manifest(env.deletion, ACCOUNT, "app", "child")
        await delete_manifest(env.deletion, ACCOUNT, "app", index)
        await delete_manifest(env.deletion, ACCOUNT, "app", child_digest)
        with pytest.raises(ManifestUnknown, match=f"manifest {child_digest} is unknown"):
            await delete_manifest(env.deletion, ACCOUNT, "app", child_digest)

    run(go, tmp_path)
