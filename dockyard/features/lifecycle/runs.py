"""Lifecycle policies at work: previews and runs as background jobs, over the pure engine.

* ``lifecycle-preview`` (StartLifecyclePolicyPreview): evaluates the preview row's policy
  text against the repository's images and stores ``previewResults`` and ``summary``
  (status COMPLETE, or FAILED).
* ``lifecycle-run``: evaluates the repository's stored policy and applies it: EXPIRE
  deletes the image with its tags (referrers and index children are expired with it by
  the engine), TRANSITION moves it to the ARCHIVE storage class. The images are read in
  one read transaction (a snapshot) and evaluated outside any transaction; only the
  changes run in short write transactions (``APPLY_BATCH`` images each, an index with its
  children and a subject with its referrers always together), each re-checking that an
  image is unchanged since the snapshot (same digest, tags, push time, storage class, and
  nothing new referencing it) before expiring or archiving it. An image a concurrent
  push, tag or index changed is left alone (the next run sees it afresh), so the
  database's writer is never held while rules are evaluated and no concurrent push is lost.
* ``lifecycle-scan`` (periodic): queues a ``lifecycle-run`` for every repository with a policy.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard import clock
from dockyard.core.image_deletion import DeletionResult, ImageDeletion
from dockyard.core.images import ImageId
from dockyard.core.repositories import Repository
from dockyard.faults import crash_point
from dockyard.features.lifecycle.evaluate import ImageInfo, Outcome, evaluate
from dockyard.features.lifecycle.preview import preview_result, preview_summary
from dockyard.features.lifecycle.rules import parse_policy
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.features import RegistryParts

log = logging.getLogger("dockyard.lifecycle")

PREVIEW = "lifecycle-preview"
RUN = "lifecycle-run"
SCAN = "lifecycle-scan"
IN_PROGRESS, COMPLETE, FAILED = "IN_PROGRESS", "COMPLETE", "FAILED"


async def load_images(conn: AsyncConnection, repository_id: int) -> list[ImageInfo]:
    """Every manifest of the repository as the engine sees it (three queries)."""
    m, mc = t.manifests, t.manifest_children
    rows = (
        await conn.execute(
            sa.select(
                m.c.id,
                m.c.digest,
                m.c.pushed_at,
                m.c.last_pulled_at,
                m.c.storage_class,
                m.c.archived_at,
                m.c.subject_digest,
                m.c.image_size,
            ).where(m.c.repository_id == repository_id)
        )
    ).all()
    tags: dict[int, list[str]] = {}
    for row in await conn.execute(
        sa.select(t.tags.c.manifest_id, t.tags.c.name)
        .where(t.tags.c.repository_id == repository_id)
        .order_by(t.tags.c.name)
    ):
        tags.setdefault(row.manifest_id, []).append(row.name)
    children: dict[int, list[str]] = {}
    for row in await conn.execute(
        sa.select(mc.c.parent_id, mc.c.child_digest).where(mc.c.repository_id == repository_id)
    ):
        children.setdefault(row.parent_id, []).append(row.child_digest)
    listed = {digest for digests in children.values() for digest in digests}
    return [
        ImageInfo(
            digest=row.digest,
            tags=tags.get(row.id, []),
            pushed_at=row.pushed_at,
            last_pulled_at=row.last_pulled_at,
            storage_class=(row.storage_class or "STANDARD").lower(),
            transitioned_at=row.archived_at,
            is_index_child=row.digest in listed,
            subject_digest=row.subject_digest,
            size=int(row.image_size or 0),
            child_digests=tuple(sorted(children.get(row.id, ()))),
        )
        for row in rows
    ]


# ------------------------------------------------------------------------- previews
def _stored_result(outcome: Outcome) -> dict[str, Any]:
    """A preview result as JSON (the push time as epoch seconds, which the serializer takes)."""
    result = preview_result(outcome)
    result["imagePushedAt"] = outcome.pushed_at.timestamp()
    return result


async def run_preview(registry: RegistryParts, payload: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the repository's IN_PROGRESS preview and record its outcome."""
    repository_id = int(payload["repository_id"])
    lp = t.lifecycle_previews
    async with registry.db.read() as conn:
        row = (await conn.execute(sa.select(lp).where(lp.c.repository_id == repository_id))).first()
    if row is None or row.status != IN_PROGRESS:
        return {"skipped": True}
    try:
        policy = parse_policy(row.policy_text, strict_ecr=True)
        async with registry.db.read() as conn:
            images = await load_images(conn, repository_id)
        outcomes = evaluate(policy, images, clock.now())
        values: dict[str, Any] = {
            "status": COMPLETE,
            "results": [_stored_result(o) for o in outcomes],
            "summary": preview_summary(outcomes),
        }
    except Exception as e:  # a preview that cannot finish reports FAILED, as ECR's does
        log.warning("lifecycle preview of repository %d failed: %s", repository_id, e)
        values = {"status": FAILED, "results": [], "summary": None}
    async with registry.db.write() as conn:
        await conn.execute(
            lp.update()
            .where(lp.c.repository_id == repository_id, lp.c.started_at == row.started_at)
            .values(finished_at=t.now(), **values)
        )
    return {"status": values["status"], "results": len(values["results"])}


# ------------------------------------------------------------------------- runs
APPLY_BATCH = 200  # images expired or archived per write transaction


async def _snapshot(registry: RegistryParts, repository_id: int) -> tuple[Any, list[ImageInfo]]:
    """The repository's name and policy and its images, from one consistent read."""
    r = t.repositories
    async with registry.db.read() as conn:
        if not registry.db.is_sqlite:  # SQLite reads are snapshots already (WAL, one BEGIN)
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        row = (await conn.execute(sa.select(r).where(r.c.id == repository_id))).first()
        if row is None or not row.lifecycle_policy:
            return row, []
        return row, await load_images(conn, repository_id)


def _components(outcomes: list[Outcome], images: dict[str, ImageInfo]) -> list[list[Outcome]]:
    """Outcomes grouped so an index and its children, and a subject and its referrers, are
    applied in the same transaction (their checks look at each other)."""
    parent = {o.digest: o.digest for o in outcomes}

    def find(digest: str) -> str:
        while parent[digest] != digest:
            parent[digest] = parent[parent[digest]]
            digest = parent[digest]
        return digest

    for o in outcomes:
        info = images[o.digest]
        for other in (*info.child_digests, info.subject_digest):
            if other is not None and other in parent:
                parent[find(other)] = find(o.digest)
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(find(o.digest), []).append(o)
    return list(groups.values())


def _batches(outcomes: list[Outcome], images: dict[str, ImageInfo]) -> list[list[Outcome]]:
    batches: list[list[Outcome]] = []
    for group in _components(outcomes, images):
        if batches and len(batches[-1]) + len(group) <= APPLY_BATCH:
            batches[-1].extend(group)
        else:
            batches.append(list(group))
    return batches


def _indexes_first(expired: list[Outcome], images: dict[str, ImageInfo]) -> list[Outcome]:
    """Indexes before the manifests they list: the deletion refuses a child while an index
    listing it stays, so within one call the index must come first."""
    going = {o.digest for o in expired}
    listed_by: dict[str, list[str]] = {}
    for digest in going:
        for child in images[digest].child_digests:
            if child in going:
                listed_by.setdefault(child, []).append(digest)
    depth: dict[str, int] = {}

    def level(digest: str) -> int:
        if digest not in depth:
            depth[digest] = 1 + max((level(p) for p in listed_by.get(digest, ())), default=-1)
        return depth[digest]

    return sorted(expired, key=lambda o: level(o.digest))


async def _apply_batch(
    conn: AsyncConnection,
    deletion: ImageDeletion,
    repo: Repository,
    batch: list[Outcome],
    images: dict[str, ImageInfo],
    now: datetime,
) -> tuple[list[Outcome], list[Outcome], list[str], DeletionResult]:
    """Apply one batch inside a write transaction: (expired, archived, skipped digests, and
    the deletion's result for its on-delete hooks).

    An image is applied only if it is as the snapshot saw it: same push time, tags and
    storage class; every index listing it and every referrer of it is itself expired (or,
    for an archive, expired or archived) in this batch or already archived; and what it
    depends on (its subject, or the indexes it goes with) is applied too. Expired images
    are deleted through the shared image deletion, whose rules they pass by then; one it
    still refused would be reported as skipped.
    """
    repository_id = repo.id
    m, mc = t.manifests, t.manifest_children
    digests = [o.digest for o in batch]
    rows = {
        row.digest: row
        for row in await conn.execute(
            sa.select(m.c.id, m.c.digest, m.c.pushed_at, m.c.storage_class).where(
                m.c.repository_id == repository_id, m.c.digest.in_(digests)
            )
        )
    }
    tags: dict[int, set[str]] = {}
    if rows:
        for tag in await conn.execute(
            sa.select(t.tags.c.manifest_id, t.tags.c.name).where(
                t.tags.c.manifest_id.in_([row.id for row in rows.values()])
            )
        ):
            tags.setdefault(tag.manifest_id, set()).add(tag.name)
    # What references a batch image now: the indexes listing it, and its referrers.
    parents: dict[str, list[tuple[str, str]]] = {}  # digest -> [(index digest, its storage class)]
    referrers: dict[str, list[str]] = {}
    index = m.alias("index")
    for ref in await conn.execute(
        sa.select(mc.c.child_digest, index.c.digest, index.c.storage_class)
        .select_from(mc.join(index, index.c.id == mc.c.parent_id))
        .where(mc.c.repository_id == repository_id, mc.c.child_digest.in_(digests))
    ):
        parents.setdefault(ref.child_digest, []).append((ref.digest, ref.storage_class))
    for referrer in await conn.execute(
        sa.select(m.c.subject_digest, m.c.digest).where(
            m.c.repository_id == repository_id, m.c.subject_digest.in_(digests)
        )
    ):
        referrers.setdefault(referrer.subject_digest, []).append(referrer.digest)

    def unchanged(o: Outcome) -> bool:
        row, seen = rows.get(o.digest), images[o.digest]
        return (
            row is not None
            and row.pushed_at == seen.pushed_at
            and tags.get(row.id, set()) == set(seen.tags)
            and (row.storage_class or "STANDARD").lower() == seen.storage
        )

    def held(digest: str, o: Outcome) -> bool:
        """Whether something that stays needs the image as it is."""
        if o.action == "EXPIRE":
            # Every index listing it and every referrer of it must go too.
            return any(
                going.get(other) is None or going[other].action != "EXPIRE"
                for other in [p for p, _ in parents.get(digest, ())] + referrers.get(digest, [])
            )
        # An archived index child: every index listing it must be archived or go.
        return any(going.get(p) is None and cls != "ARCHIVE" for p, cls in parents.get(digest, ()))

    planned = {o.digest for o in batch}
    going = {o.digest: o for o in batch if unchanged(o)}
    changed = True
    while changed:  # drop images that must stay, and what goes only with them, until stable
        changed = False
        for digest, o in list(going.items()):
            subject = images[digest].subject_digest
            if held(digest, o) or (subject in planned and subject not in going):
                del going[digest]
                changed = True
    expired = [o for o in batch if o.digest in going and o.action == "EXPIRE"]
    archived = [o for o in batch if o.digest in going and o.action == "TRANSITION"]
    deletion_result = DeletionResult()
    if expired:
        deletion_result = await deletion.delete_in(
            conn, repo, [ImageId(o.digest) for o in _indexes_first(expired, images)]
        )
        deleted = set(deletion_result.deleted_digests)
        for o in expired:
            if o.digest not in deleted:
                del going[o.digest]
        expired = [o for o in expired if o.digest in deleted]
    if archived:
        await conn.execute(
            m.update()
            .where(m.c.id.in_([rows[o.digest].id for o in archived]), m.c.storage_class != "ARCHIVE")
            .values(storage_class="ARCHIVE", archived_at=now)
        )
    skipped = [o.digest for o in batch if o.digest not in going]
    return expired, archived, skipped, deletion_result


async def run_policy(
    registry: RegistryParts, repository_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Evaluate the stored policy and apply it; returns what was expired and archived."""
    now = now or clock.now()
    r = t.repositories
    row, images = await _snapshot(registry, repository_id)
    name = row.name if row is not None else str(repository_id)
    if row is None or not row.lifecycle_policy:
        return {
            "repository_id": repository_id,
            "repository": name,
            "expired": [],
            "archived": [],
            "policy": False,
        }
    policy = parse_policy(row.lifecycle_policy, strict_ecr=False)
    repo = Repository.from_row(row)
    outcomes = evaluate(policy, images, now)  # no transaction open: pushes go on meanwhile
    by_digest = {image.digest: image for image in images}
    expired_outcomes: list[Outcome] = []
    archived_outcomes: list[Outcome] = []
    skipped: list[str] = []
    for batch in _batches(outcomes, by_digest):
        async with registry.db.write() as conn:
            gone, moved, left, deletion = await _apply_batch(
                conn, registry.image_deletion, repo, batch, by_digest, now
            )
            crash_point("lifecycle.in_batch")
        await registry.image_deletion.announce(repo, deletion)
        expired_outcomes += gone
        archived_outcomes += moved
        skipped += left
    async with registry.db.write() as conn:
        await conn.execute(r.update().where(r.c.id == repository_id).values(lifecycle_evaluated_at=now))
    expired: list[dict[str, Any]] = [
        {"digest": o.digest, "tags": list(o.tags), "rule": o.rule_priority} for o in expired_outcomes
    ]
    archived = [o.digest for o in archived_outcomes]
    archived_rules: dict[str, int | None] = {o.digest: o.rule_priority for o in archived_outcomes}
    for item in expired:
        log.info(
            "lifecycle: repository %s: expired %s tags=%s (rule %s)",
            name,
            item["digest"],
            ",".join(item["tags"]) or "<untagged>",
            item["rule"],
            extra={
                "repository": name,
                "digest": item["digest"],
                "tags": item["tags"],
                "rule_priority": item["rule"],
            },
        )
    for digest in archived:
        log.info("lifecycle: repository %s: archived %s (rule %s)", name, digest, archived_rules.get(digest))
    for digest in skipped:
        log.info("lifecycle: repository %s: left %s alone: it changed since it was evaluated", name, digest)
    return {
        "repository_id": repository_id,
        "repository": name,
        "expired": expired,
        "archived": archived,
        "archived_rules": archived_rules,
        "skipped": skipped,
        "policy": True,
    }


async def scan(registry: RegistryParts) -> dict[str, Any]:
    """Queue a lifecycle run for every repository that has a policy."""
    r = t.repositories
    async with registry.db.read() as conn:
        ids = list((await conn.execute(sa.select(r.c.id).where(r.c.lifecycle_policy.is_not(None)))).scalars())
    queued = 0
    for repository_id in ids:
        job = await registry.enqueue(
            RUN, {"repository_id": repository_id}, unique_key=f"{RUN}:{repository_id}"
        )
        queued += job is not None
    return {"repositories": len(ids), "queued": queued}


def handlers(registry: RegistryParts) -> dict[str, Any]:
    async def preview(payload: dict[str, Any]) -> Any:
        return await run_preview(registry, payload)

    async def run(payload: dict[str, Any]) -> Any:
        return await run_policy(registry, int(payload["repository_id"]))

    async def do_scan(payload: dict[str, Any]) -> Any:
        return await scan(registry)

    return {PREVIEW: preview, RUN: run, SCAN: do_scan}
