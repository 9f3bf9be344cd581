"""Deleting images: one rule set for every door (/v2/ DELETE, BatchDeleteImage, lifecycle runs).

The rules (BatchDeleteImage's, which every door now shares):

* By digest, the manifest goes with every tag on it.
* By tag, the tag goes. With ``last_tag_deletes`` (ECR) the image goes with its last tag;
  without it (/v2/, as Distribution) the manifest stays, pullable by digest.
* Index children: a manifest that an index of the same repository still lists is refused
  (REFERENCED_BY_MANIFEST_LIST), named by digest or by its last tag when that would delete
  it, unless the index is deleted earlier in the same call. Ids apply in request order, so
  an index and its children go together when the index comes first.
* Referrers: deleting a subject leaves its referrers stored (their subject no longer
  resolves; they can be deleted on their own), as ECR does.
* Immutability: immutable tags cannot be moved, but they can be deleted (ECR's rule).
* An id naming an image an earlier id of the call already deleted fails with IMAGE_NOT_FOUND.

A call is one write transaction; the on-delete hooks run after it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.core.images import (
    IMAGE_NOT_FOUND,
    REFERENCED_BY_MANIFEST_LIST,
    ImageFailure,
    ImageId,
    ImageService,
    dedupe,
    failure,
)
from dockyard.core.repositories import Repository, RepositoryService
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

log = logging.getLogger("dockyard.deletion")


@dataclass(frozen=True, slots=True)
class StoredImage:
    """What the rules look at for one manifest named by the request."""

    digest: str
    tags: frozenset[str]
    listed_by: dict[int, str]  # the indexes of the repository listing it: manifest id -> digest


@dataclass(frozen=True, slots=True)
class DeletedImage:
    """A manifest a deletion removed, with the tags it had when the call began."""

    manifest_id: int
    digest: str
    tags: tuple[str, ...]


@dataclass
class DeletionResult:
    """What one call removed and refused.

    ``removed`` is one id per (digest, tag) pair removed, in request order (an untagged image
    deleted by digest: the digest alone), which is what BatchDeleteImage reports.
    ``referenced_by`` names, for each refused digest, the indexes still listing it.
    """

    removed: list[ImageId] = field(default_factory=list)
    deleted: list[DeletedImage] = field(default_factory=list)
    removed_tags: list[str] = field(default_factory=list)
    failures: list[ImageFailure] = field(default_factory=list)
    referenced_by: dict[str, list[str]] = field(default_factory=dict)

    @property
    def deleted_digests(self) -> list[str]:
        return [image.digest for image in self.deleted]


# Called after a deletion commits (events): it may only enqueue work, never refuse the deletion.
DeleteHook = Callable[[Repository, DeletionResult], Awaitable[None]]


def apply_rules(
    hits: Sequence[tuple[ImageId, int]], stored: dict[int, StoredImage], *, last_tag_deletes: bool
) -> tuple[DeletionResult, list[int]]:
    """The rule set over ids already resolved to manifests: the result and the manifest ids
    to delete (in order). Pure, so every rule is testable without a database."""
    result = DeletionResult()
    tags_of = {mid: set(image.tags) for mid, image in stored.items()}
    doomed: list[int] = []
    gone: set[int] = set()

    def listing(mid: int) -> list[str]:
        listed_by = stored[mid].listed_by
        return sorted(digest for parent, digest in listed_by.items() if parent not in gone and parent != mid)

    def refused(image_id: ImageId, mid: int) -> bool:
        indexes = listing(mid)
        if not indexes:
            return False
        digest = stored[mid].digest
        result.failures.append(
            failure(
                image_id,
                REFERENCED_BY_MANIFEST_LIST,
                f"Requested image referenced by manifest list: [{digest}]",
            )
        )
        result.referenced_by[digest] = indexes
        return True

    def delete(mid: int) -> None:
        gone.add(mid)
        doomed.append(mid)
        result.deleted.append(DeletedImage(mid, stored[mid].digest, tuple(sorted(stored[mid].tags))))

    for image_id, mid in hits:
        digest = stored[mid].digest
        if mid in gone:
            result.failures.append(failure(image_id, IMAGE_NOT_FOUND))
            continue
        if image_id.digest is None:  # by tag: untag; with last_tag_deletes the last tag deletes the image
            assert image_id.tag is not None
            if image_id.tag not in tags_of[mid]:
                result.failures.append(failure(image_id, IMAGE_NOT_FOUND))
                continue
            last = tags_of[mid] == {image_id.tag}
            if last and last_tag_deletes and refused(image_id, mid):
                continue
            tags_of[mid].discard(image_id.tag)
            result.removed_tags.append(image_id.tag)
            result.removed.append(ImageId(digest, image_id.tag))
            if last and last_tag_deletes:
                delete(mid)
            continue
        if refused(image_id, mid):  # by digest: the image and every tag
            continue
        remaining = sorted(tags_of[mid])
        tags_of[mid] = set()
        result.removed_tags.extend(remaining)
        result.removed.extend([ImageId(digest, tag) for tag in remaining] or [ImageId(digest)])
        delete(mid)
    return result, doomed


class ImageDeletion:
    """The one way images leave a repository; `on_delete` hooks hear of every deletion."""

    def __init__(self, db: Database, repositories: RepositoryService) -> None:
        self.db = db
        self.repositories = repositories
        self.on_delete: list[DeleteHook] = []

    async def delete(
        self, account_id: str, repo_name: str, ids: Sequence[ImageId], *, last_tag_deletes: bool = True
    ) -> DeletionResult:
        """Delete (by digest) or untag (by tag) the ids, in order, in one transaction."""
        async with self.db.write() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            result = await self.delete_in(conn, repo, ids, last_tag_deletes=last_tag_deletes)
        await self.announce(repo, result)
        return result

    async def delete_in(
        self,
        conn: AsyncConnection,
        repo: Repository,
        ids: Sequence[ImageId],
        *,
        last_tag_deletes: bool = True,
    ) -> DeletionResult:
        """The same inside the caller's write transaction (a lifecycle batch, which re-checks its
        images first); the caller runs `announce` once the transaction has committed."""
        resolved = await ImageService.resolve_ids(conn, repo, dedupe(ids), with_content=False)
        if not resolved.hits:
            return DeletionResult(failures=resolved.failures)
        stored = await _load(conn, repo, {mid: resolved.manifests[mid].digest for _, mid in resolved.hits})
        result, doomed = apply_rules(resolved.hits, stored, last_tag_deletes=last_tag_deletes)
        result.failures[:0] = resolved.failures
        if result.removed_tags:
            await conn.execute(
                t.tags.delete().where(
                    t.tags.c.repository_id == repo.id, t.tags.c.name.in_(result.removed_tags)
                )
            )
        if doomed:
            await delete_manifest_rows(conn, sorted(doomed))
        return result

    async def announce(self, repo: Repository, result: DeletionResult) -> None:
        """Run the on-delete hooks for a committed deletion; a failing hook is logged, not raised."""
        if not (result.removed or result.deleted):
            return
        for hook in self.on_delete:
            try:
                await hook(repo, result)
            except Exception:  # the images are gone: the deletion succeeded whatever a hook does
                log.exception("on-delete hook failed for repository %s", repo.name)


async def _load(conn: AsyncConnection, repo: Repository, digest_of: dict[int, str]) -> dict[int, StoredImage]:
    """Tags and listing indexes of the named manifests (two queries)."""
    tags: dict[int, set[str]] = {mid: set() for mid in digest_of}
    for row in await conn.execute(
        sa.select(t.tags.c.manifest_id, t.tags.c.name).where(t.tags.c.manifest_id.in_(list(digest_of)))
    ):
        tags[row.manifest_id].add(row.name)
    mc, index = t.manifest_children, t.manifests.alias("index")
    listed_by: dict[str, dict[int, str]] = {}
    for ref in await conn.execute(
        sa.select(mc.c.child_digest, mc.c.parent_id, index.c.digest)
        .select_from(mc.join(index, index.c.id == mc.c.parent_id))
        .where(mc.c.repository_id == repo.id, mc.c.child_digest.in_(set(digest_of.values())))
    ):
        listed_by.setdefault(ref.child_digest, {})[ref.parent_id] = ref.digest
    return {
        mid: StoredImage(digest, frozenset(tags[mid]), listed_by.get(digest, {}))
        for mid, digest in digest_of.items()
    }


async def delete_manifest_rows(conn: AsyncConnection, manifest_ids: list[int]) -> None:
    """Remove manifests with their tags and reference rows (explicit, not via cascades)."""
    await conn.execute(t.tags.delete().where(t.tags.c.manifest_id.in_(manifest_ids)))
    await conn.execute(t.manifest_blobs.delete().where(t.manifest_blobs.c.manifest_id.in_(manifest_ids)))
    await conn.execute(t.manifest_children.delete().where(t.manifest_children.c.parent_id.in_(manifest_ids)))
    await conn.execute(t.manifests.delete().where(t.manifests.c.id.in_(manifest_ids)))
