"""Online garbage collection: unreferenced repository links, then unlinked blobs and their bytes.

Runs while the registry serves pushes, so every step is a re-checked, locked decision:

1. **Link GC.** A ``repository_blobs`` row no manifest of its repository references, and
   untouched (``COALESCE(referenced_at, created_at)``) for the grace period, is deleted. The
   DELETE repeats both conditions, so it re-checks them after taking the row lock. A manifest
   push UPDATEs ``referenced_at`` of every link it references inside its own transaction and
   fails with MANIFEST_BLOB_UNKNOWN when fewer rows answer: either the push locked the link
   first (GC then sees the fresh ``referenced_at`` and keeps it) or GC deleted it first (the
   push sees it missing). Never a manifest referencing a missing link.
2. **Blob GC.** A blob with no links and no manifest references, older than the grace period,
   is removed in one write transaction that locks its row (as uploads and mounts do,
   ``BlobService._lock_blob``), re-checks it is still unlinked, deletes the row and records a
   ``blob_tombstones`` row with its storage key. After commit the bytes are deleted by key
   (``delete_many``, 1000 keys per call) and then the tombstones. A crash in between leaves
   tombstones, which the next run finishes first. An upload of the same digest racing with
   this publishes its bytes under a new key, so it never loses them.

3. **Orphan sweep.** Bytes in the store that no row names (a crash between writing and
   committing strands them), older than the grace period: see ``orphans``.

Abandoned upload sessions are the ``purge-uploads`` job's business, not this one's; once it
ends a session, the sweep reclaims whatever bytes the session left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard import clock
from dockyard.faults import crash_point
from dockyard.features.gc import orphans
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.features import RegistryParts

GC = "gc"
DEFAULT_GRACE_HOURS = 24.0
BATCH = 500  # rows decided per write transaction
DELETE_BATCH = 1000  # keys per store.delete_many call (S3's DeleteObjects limit)

Progress = Callable[[str], None]


@dataclass
class GcReport:
    links_removed: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    tombstones_finished: int = 0
    orphans_removed: int = 0  # store items no row named
    orphan_bytes_freed: int = 0
    dry_run: bool = False
    kept: KeptByGrace | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kept"] = self.kept.as_dict() if self.kept is not None else None
        return data


@dataclass
class KeptByGrace:
    """What only the grace period kept, so a run right after deletes does not look like a no-op:
    unreferenced links and unlinked blobs touched within it, and when they become eligible
    (the blobs those links hold become unlinked once the links go)."""

    grace_hours: float
    links: int = 0
    blobs: int = 0
    first_eligible: datetime | None = None
    last_eligible: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "grace_hours": self.grace_hours,
            "links": self.links,
            "blobs": self.blobs,
            "first_eligible": self.first_eligible.isoformat() if self.first_eligible else None,
            "last_eligible": self.last_eligible.isoformat() if self.last_eligible else None,
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def kept_by_grace(conn: AsyncConnection, cutoff: datetime, grace_hours: float) -> KeptByGrace:
    """Unreferenced links and unlinked blobs newer than ``cutoff``, and when they become eligible."""
    rb, b = t.repository_blobs, t.blobs
    touched = sa.func.coalesce(rb.c.referenced_at, rb.c.created_at)
    links = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.min(touched), sa.func.max(touched))
            .select_from(rb)
            .where(~_unreferenced_link(rb, cutoff), ~_referenced_link(rb))
        )
    ).one()
    blobs = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.min(b.c.created_at), sa.func.max(b.c.created_at)).where(
                b.c.created_at >= cutoff, *_unlinked_blob_terms()
            )
        )
    ).one()
    grace = timedelta(hours=grace_hours)
    times = [_aware(v) + grace for v in (links[1], links[2], blobs[1], blobs[2]) if v is not None]
    return KeptByGrace(
        grace_hours,
        int(links[0] or 0),
        int(blobs[0] or 0),
        min(times) if times else None,
        max(times) if times else None,
    )


def _quiet(_: str) -> None:
    pass


# ------------------------------------------------------------------------------ links
def _referenced_link(rb: sa.Table) -> sa.ColumnElement[bool]:
    mb, m = t.manifest_blobs, t.manifests
    return (
        sa.exists()
        .select_from(mb.join(m, m.c.id == mb.c.manifest_id))
        .where(m.c.repository_id == rb.c.repository_id, mb.c.digest == rb.c.digest)
    )


def _unreferenced_link(rb: sa.Table, cutoff: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(sa.func.coalesce(rb.c.referenced_at, rb.c.created_at) < cutoff, ~_referenced_link(rb))


async def link_candidates(
    conn: AsyncConnection, cutoff: datetime, limit: int = BATCH
) -> list[tuple[int, str]]:
    """Links no manifest of their repository references, untouched since ``cutoff``."""
    rb = t.repository_blobs
    rows = await conn.execute(
        sa.select(rb.c.repository_id, rb.c.digest)
        .where(_unreferenced_link(rb, cutoff))
        .order_by(rb.c.repository_id, rb.c.digest)
        .limit(limit)
    )
    return [(row.repository_id, row.digest) for row in rows]


async def delete_links(conn: AsyncConnection, links: Sequence[tuple[int, str]], cutoff: datetime) -> int:
    """Delete those of ``links`` that are still unreferenced and old (re-checked by the DELETE)."""
    rb = t.repository_blobs
    removed = 0
    by_repo: dict[int, list[str]] = {}
    for repository_id, digest in links:
        by_repo.setdefault(repository_id, []).append(digest)
    for repository_id, digests in sorted(by_repo.items()):
        result = await conn.execute(
            rb.delete().where(
                rb.c.repository_id == repository_id,
                rb.c.digest.in_(sorted(digests)),
                _unreferenced_link(rb, cutoff),
            )
        )
        removed += result.rowcount or 0
    return removed


# ------------------------------------------------------------------------------ blobs
def _unlinked_blob_terms() -> tuple[sa.ColumnElement[bool], ...]:
    b, rb, mb = t.blobs, t.repository_blobs, t.manifest_blobs
    return (~sa.exists().where(rb.c.digest == b.c.digest), ~sa.exists().where(mb.c.digest == b.c.digest))


def _unlinked_blob(cutoff: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(t.blobs.c.created_at < cutoff, *_unlinked_blob_terms())


async def blob_candidates(
    conn: AsyncConnection, cutoff: datetime, after: str = "", limit: int = BATCH
) -> list[tuple[str, int]]:
    """(digest, size) of blobs nothing links or references, older than ``cutoff``."""
    b = t.blobs
    rows = await conn.execute(
        sa.select(b.c.digest, b.c.size)
        .where(_unlinked_blob(cutoff), b.c.digest > after)
        .order_by(b.c.digest)
        .limit(limit)
    )
    return [(row.digest, int(row.size)) for row in rows]


async def tombstone_blobs(
    registry: RegistryParts, conn: AsyncConnection, digests: Sequence[str], cutoff: datetime
) -> list[tuple[str, str, int]]:
    """Lock each blob row, re-check it is unlinked, replace it by a tombstone.

    Returns (digest, storage key, size) of the blobs removed.
    """
    b = t.blobs
    removed: list[tuple[str, str, int]] = []
    for digest in sorted(digests):
        query = sa.select(b.c.storage_key, b.c.size).where(b.c.digest == digest)
        if not registry.db.is_sqlite:  # the lock uploads and mounts take (BlobService._lock_blob)
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            continue
        still = await conn.scalar(sa.select(b.c.digest).where(b.c.digest == digest, _unlinked_blob(cutoff)))
        if still is None:  # linked (or referenced) since it was listed: keep it
            continue
        await conn.execute(
            registry.db.insert_ignore(t.blob_tombstones).values(
                storage_key=row.storage_key, digest=digest, created_at=t.now()
            )
        )
        await conn.execute(b.delete().where(b.c.digest == digest))
        removed.append((digest, row.storage_key, int(row.size)))
    return removed


async def finish_tombstones(registry: RegistryParts, progress: Progress = _quiet) -> int:
    """Delete the bytes of every tombstoned blob, then the tombstones."""
    finished = 0
    bt = t.blob_tombstones
    while True:
        async with registry.db.read() as conn:
            keys = list(
                (
                    await conn.execute(
                        sa.select(bt.c.storage_key).order_by(bt.c.storage_key).limit(DELETE_BATCH)
                    )
                ).scalars()
            )
        if not keys:
            return finished
        await registry.store.delete_many(keys)
        async with registry.db.write() as conn:
            await conn.execute(bt.delete().where(bt.c.storage_key.in_(keys)))
        finished += len(keys)
        progress(f"deleted the bytes of {finished} blobs")


# ------------------------------------------------------------------------------ run
async def collect(
    registry: RegistryParts,
    *,
    grace_hours: float = DEFAULT_GRACE_HOURS,
    dry_run: bool = False,
    progress: Progress = _quiet,
    now: datetime | None = None,
) -> GcReport:
    """One garbage collection pass; ``dry_run`` only counts."""
    report = GcReport(dry_run=dry_run)
    now = now or clock.now()
    cutoff = now - timedelta(hours=grace_hours)
    if not dry_run:
        report.tombstones_finished = await finish_tombstones(registry, progress)
        if report.tombstones_finished:
            progress(f"finished {report.tombstones_finished} blob deletions left by an earlier run")

    # Links.
    if dry_run:
        async with registry.db.read() as conn:
            rb = t.repository_blobs
            report.links_removed = int(
                await conn.scalar(
                    sa.select(sa.func.count()).select_from(rb).where(_unreferenced_link(rb, cutoff))
                )
                or 0
            )
    else:
        while True:
            async with registry.db.read() as conn:
                links = await link_candidates(conn, cutoff)
            if not links:
                break
            async with registry.db.write() as conn:
                removed = await delete_links(conn, links, cutoff)
            report.links_removed += removed
            if removed == 0:
                break  # everything listed was touched meanwhile; the next run sees the rest
            if len(links) == BATCH:  # more to come: show progress (each phase's total follows)
                progress(f"removed {report.links_removed} unreferenced repository links so far")
    progress(f"links: {report.links_removed} {'to remove' if dry_run else 'removed'}")

    # Blobs.
    after = ""
    while True:
        async with registry.db.read() as conn:
            candidates = await blob_candidates(conn, cutoff, after)
        if not candidates:
            break
        after = candidates[-1][0]
        if dry_run:
            report.blobs_removed += len(candidates)
            report.bytes_freed += sum(size for _, size in candidates)
            continue
        async with registry.db.write() as conn:
            removed_blobs = await tombstone_blobs(registry, conn, [d for d, _ in candidates], cutoff)
        crash_point("gc.after_tombstones")
        for start in range(0, len(removed_blobs), DELETE_BATCH):
            batch = removed_blobs[start : start + DELETE_BATCH]
            await registry.store.delete_many([key for _, key, _ in batch])
            async with registry.db.write() as conn:
                await conn.execute(
                    t.blob_tombstones.delete().where(
                        t.blob_tombstones.c.storage_key.in_([k for _, k, _ in batch])
                    )
                )
        report.blobs_removed += len(removed_blobs)
        report.bytes_freed += sum(size for _, _, size in removed_blobs)
        if len(candidates) == BATCH:
            progress(f"removed {report.blobs_removed} blobs ({report.bytes_freed} bytes) so far")
    progress(
        f"blobs: {report.blobs_removed} {'to remove' if dry_run else 'removed'}, "
        f"{report.bytes_freed} bytes {'to free' if dry_run else 'freed'}"
    )

    # Orphans.
    swept = await orphans.sweep(registry, cutoff, now, dry_run=dry_run, progress=progress)
    report.orphans_removed, report.orphan_bytes_freed = swept.removed, swept.bytes_freed
    progress(
        f"orphans: {swept.removed} {'to remove' if dry_run else 'removed'}, "
        f"{swept.bytes_freed} bytes {'to free' if dry_run else 'freed'}"
    )
    async with registry.db.read() as conn:
        report.kept = await kept_by_grace(conn, cutoff, grace_hours)
    return report


def handlers(registry: RegistryParts) -> dict[str, Any]:
    async def run(payload: dict[str, Any]) -> Any:
        grace = float(payload.get("grace_hours", DEFAULT_GRACE_HOURS))
        report = await collect(registry, grace_hours=grace, dry_run=bool(payload.get("dry_run", False)))
        return report.as_dict()

    return {GC: run}
