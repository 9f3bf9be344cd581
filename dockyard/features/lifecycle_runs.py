"""Lifecycle policies at work: previews and runs as background jobs, over the pure engine.

* ``lifecycle-preview`` (StartLifecyclePolicyPreview): evaluates the preview row's policy
  text against the repository's images and stores ``previewResults`` and ``summary``
  (status COMPLETE, or FAILED).
* ``lifecycle-run``: evaluates the repository's stored policy and applies it: EXPIRE
  deletes the image with its tags (referrers and index children are expired with it by
  the engine), TRANSITION moves it to the ARCHIVE storage class. Evaluation and deletion
  happen in one write transaction, so what is deleted is what was evaluated.
* ``lifecycle-scan`` (periodic): queues a ``lifecycle-run`` for every repository with a policy.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard import clock
from dockyard.core.manifests import delete_manifest_rows
from dockyard.features.lifecycle import (
    ImageInfo,
    Outcome,
    evaluate,
    parse_policy,
    preview_result,
    preview_summary,
)
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.core.registry import Registry

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


async def run_preview(registry: Registry, payload: dict[str, Any]) -> dict[str, Any]:
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
async def run_policy(
    registry: Registry, repository_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Evaluate the stored policy and apply it; returns what was expired and archived."""
    now = now or clock.now()
    expired: list[dict[str, Any]] = []
    archived: list[str] = []
    archived_rules: dict[str, int | None] = {}
    r, m = t.repositories, t.manifests
    async with registry.db.write() as conn:
        row = (
            await conn.execute(sa.select(r.c.name, r.c.lifecycle_policy).where(r.c.id == repository_id))
        ).first()
        name = row.name if row is not None else str(repository_id)
        text = row.lifecycle_policy if row is not None else None
        if not text:
            return {
                "repository_id": repository_id,
                "repository": name,
                "expired": [],
                "archived": [],
                "policy": False,
            }
        policy = parse_policy(text, strict_ecr=False)
        images = await load_images(conn, repository_id)
        outcomes = evaluate(policy, images, now)
        expire = [o for o in outcomes if o.action == "EXPIRE"]
        transition = [o for o in outcomes if o.action == "TRANSITION"]
        if expire:
            digests = [o.digest for o in expire]
            ids = list(
                (
                    await conn.execute(
                        sa.select(m.c.id).where(m.c.repository_id == repository_id, m.c.digest.in_(digests))
                    )
                ).scalars()
            )
            if ids:
                await delete_manifest_rows(conn, sorted(ids))
            expired = [{"digest": o.digest, "tags": list(o.tags), "rule": o.rule_priority} for o in expire]
        if transition:
            archived = [o.digest for o in transition]
            archived_rules = {o.digest: o.rule_priority for o in transition}
            await conn.execute(
                m.update()
                .where(
                    m.c.repository_id == repository_id,
                    m.c.digest.in_(archived),
                    m.c.storage_class != "ARCHIVE",
                )
                .values(storage_class="ARCHIVE", archived_at=now)
            )
        await conn.execute(r.update().where(r.c.id == repository_id).values(lifecycle_evaluated_at=now))
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
    return {
        "repository_id": repository_id,
        "repository": name,
        "expired": expired,
        "archived": archived,
        "archived_rules": archived_rules,
        "policy": True,
    }


async def scan(registry: Registry) -> dict[str, Any]:
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


def handlers(registry: Registry) -> dict[str, Any]:
    async def preview(payload: dict[str, Any]) -> Any:
        return await run_preview(registry, payload)

    async def run(payload: dict[str, Any]) -> Any:
        return await run_policy(registry, int(payload["repository_id"]))

    async def do_scan(payload: dict[str, Any]) -> Any:
        return await scan(registry)

    return {PREVIEW: preview, RUN: run, SCAN: do_scan}
