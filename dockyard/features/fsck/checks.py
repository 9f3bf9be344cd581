"""The checks of `dockyard fsck`, one small function each; each adds findings to the report.

The store is listed once (`inventory`); rows are read afterwards, so a row written after the
listing may name bytes the listing missed: such a row is re-checked against the store (or its
`updated_at` shows it is newer than the listing) before it is reported.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dockyard.core.blob_hashes import Pacer, hashes_right
from dockyard.core.errors import DomainError
from dockyard.core.media_types import parse_manifest
from dockyard.features.fsck.inventory import Inventory
from dockyard.features.fsck.report import ERROR, RECLAIMABLE, Finding, FsckReport
from dockyard.features.gc import orphans
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.registry import Registry

BATCH = 1000
MANIFEST_BATCH = 100  # manifests may be up to 4 MiB each
TOMBSTONE_AGE = timedelta(hours=1)  # a younger tombstone may belong to a collection in progress


async def database_integrity(registry: Registry, report: FsckReport, *, full: bool) -> None:
    """SQLite's own checks (PostgreSQL enforces its constraints on every write)."""
    if not registry.db.is_sqlite:
        return
    async with registry.db.read() as conn:
        pragma = "integrity_check" if full else "quick_check"
        problems = [row[0] for row in await conn.execute(sa.text(f"PRAGMA {pragma}")) if row[0] != "ok"]
        problems += [
            f"{row[0]} row {row[1]} references a missing {row[2]} row"
            for row in await conn.execute(sa.text("PRAGMA foreign_key_check"))
        ]
    for problem in problems:
        report.add(Finding("database.integrity", ERROR, "database", problem))


async def blob_rows(registry: Registry, inventory: Inventory, report: FsckReport) -> list[tuple[str, str]]:
    """Every blob row's bytes exist with the row's size; returns (digest, key) of those that do."""
    present: list[tuple[str, str]] = []
    after = ""
    while True:
        async with registry.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.blobs.c.digest, t.blobs.c.size, t.blobs.c.storage_key)
                    .where(t.blobs.c.digest > after)
                    .order_by(t.blobs.c.digest)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return present
        after = rows[-1].digest
        for row in rows:
            report.count("blobs")
            item = inventory.published.get(row.storage_key)
            if item is None and not await registry.store.exists(row.storage_key):
                if await _blob_row_still(registry, row.digest, row.storage_key):  # not collected meanwhile
                    report.add(
                        Finding(
                            "blob.missing",
                            ERROR,
                            row.digest,
                            f"no bytes under {row.storage_key}; repositories: "
                            + ", ".join(await _blob_users(registry, row.digest)),
                            size=int(row.size),
                        )
                    )
                continue
            if item is not None and item.size != row.size:
                report.add(
                    Finding(
                        "blob.size", ERROR, row.digest, f"{item.size} bytes stored, the row says {row.size}"
                    )
                )
                continue
            present.append((row.digest, row.storage_key))


async def _blob_row_still(registry: Registry, digest: str, key: str) -> bool:
    async with registry.db.read() as conn:
        found = await conn.scalar(
            sa.select(t.blobs.c.digest).where(t.blobs.c.digest == digest, t.blobs.c.storage_key == key)
        )
    return found is not None


async def _blob_users(registry: Registry, digest: str) -> list[str]:
    """Where a broken blob matters: the repositories linking it (`account/name`)."""
    r, rb = t.repositories, t.repository_blobs
    async with registry.db.read() as conn:
        rows = await conn.execute(
            sa.select(r.c.account_id, r.c.name)
            .join(rb, rb.c.repository_id == r.c.id)
            .where(rb.c.digest == digest)
        )
        names = [f"{row.account_id}/{row.name}" for row in rows]
    return names or ["none"]


async def blob_hashes(
    registry: Registry,
    blobs: list[tuple[str, str]],
    report: FsckReport,
    *,
    sample: int | None,
    max_mib_per_second: float,
) -> None:
    """Re-hash every blob (`sample` None) or a random sample of them, paced."""
    chosen = blobs if sample is None or sample >= len(blobs) else random.sample(blobs, sample)
    pacer = Pacer(max_mib_per_second)
    for digest, key in sorted(chosen):
        right = await hashes_right(registry.store, digest, key, pacer)
        report.count("blobs hashed")
        if right is False:
            report.add(
                Finding("blob.corrupt", ERROR, digest, f"the bytes under {key} hash to something else")
            )
        elif right is None and await _blob_row_still(registry, digest, key):
            report.add(Finding("blob.missing", ERROR, digest, f"no bytes under {key}"))
    report.count("bytes hashed", pacer.read_bytes)


async def stored_items(
    registry: Registry, inventory: Inventory, report: FsckReport, cutoff: datetime, now: datetime
) -> None:
    """Every stored item is named by a row, or is an orphan: reclaimable once past the grace period."""
    cutoff = orphans.sweep_cutoff(cutoff, now)
    for start in range(0, len(inventory.items), BATCH):
        batch = inventory.items[start : start + BATCH]
        report.count("stored items", len(batch))
        for item in await orphans.unnamed(registry, batch):
            if item.modified >= cutoff:
                report.unnamed_young += 1
                continue
            what = f"published bytes of session {item.session}" if item.key else "upload bytes"
            report.add(
                Finding(
                    "store.orphan",
                    RECLAIMABLE,
                    item.key or item.session,
                    f"{what} ({item.size} bytes, last written {item.modified:%Y-%m-%d %H:%M:%S}Z)",
                    repairable=True,
                    size=item.size,
                    handle=item,
                )
            )


async def upload_sessions(
    registry: Registry, inventory: Inventory, report: FsckReport, max_age_hours: float
) -> None:
    """Each session holds at least the bytes its row records (or completed publishing them), and
    is younger than the upload age limit."""
    stale_before = t.now() - timedelta(hours=max_age_hours)
    async with registry.db.read() as conn:
        rows = (await conn.execute(sa.select(t.uploads).order_by(t.uploads.c.id))).all()
    for row in rows:
        report.count("upload sessions")
        held = inventory.unpublished_bytes.get(row.id, 0)
        if (
            row.size > held
            and row.id not in inventory.published_sessions
            and row.updated_at < inventory.started  # a chunk written after the listing is not in it
        ):
            report.add(
                Finding(
                    "upload.bytes_missing",
                    ERROR,
                    row.id,
                    f"the session records {row.size} bytes, the store holds {held}",
                    repairable=True,
                    handle=(row.id, row.updated_at, row.store_state),
                )
            )
        elif row.updated_at < stale_before:
            report.add(
                Finding(
                    "upload.stale",
                    RECLAIMABLE,
                    row.id,
                    f"untouched since {row.updated_at:%Y-%m-%d %H:%M:%S}Z ({row.size} bytes)",
                    repairable=True,
                    size=int(row.size),
                    handle=(row.id, row.updated_at, row.store_state),
                )
            )


async def manifests(registry: Registry, report: FsckReport) -> None:
    """Each manifest's bytes hash to its digest and its recorded image size matches its layers."""
    m = t.manifests
    after = 0
    while True:
        async with registry.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(m.c.id, m.c.digest, m.c.media_type, m.c.content, m.c.image_size)
                    .where(m.c.id > after)
                    .order_by(m.c.id)
                    .limit(MANIFEST_BATCH)
                )
            ).all()
        if not rows:
            return
        after = rows[-1].id
        for row in rows:
            report.count("manifests")
            algorithm, _, expected = row.digest.partition(":")
            if algorithm not in hashlib.algorithms_available or (
                hashlib.new(algorithm, row.content).hexdigest() != expected
            ):
                report.add(Finding("manifest.digest", ERROR, row.digest, f"manifest row {row.id}"))
                continue
            try:
                layers_size = parse_manifest(row.content, row.media_type).layers_size
            except DomainError as e:
                report.add(Finding("manifest.digest", ERROR, row.digest, f"unreadable: {e.message}"))
                continue
            if layers_size != row.image_size:
                report.add(
                    Finding(
                        "manifest.image_size",
                        ERROR,
                        row.digest,
                        f"recorded {row.image_size}, its layers add up to {layers_size}",
                    )
                )


async def manifest_references(registry: Registry, report: FsckReport) -> None:
    """Manifests reference existing blobs, indexes existing manifests of their repository."""
    m, mb, mc, b, r = t.manifests, t.manifest_blobs, t.manifest_children, t.blobs, t.repositories
    blob_missing = (
        sa.select(r.c.account_id, r.c.name, m.c.digest, mb.c.digest.label("ref"))
        .select_from(mb.join(m, m.c.id == mb.c.manifest_id).join(r, r.c.id == m.c.repository_id))
        .where(~sa.exists().where(b.c.digest == mb.c.digest))
        .order_by(r.c.account_id, r.c.name, m.c.digest)
    )
    child = m.alias("child")
    child_missing = (
        sa.select(r.c.account_id, r.c.name, m.c.digest, mc.c.child_digest.label("ref"))
        .select_from(mc.join(m, m.c.id == mc.c.parent_id).join(r, r.c.id == m.c.repository_id))
        .where(
            ~sa.exists().where(
                child.c.repository_id == m.c.repository_id, child.c.digest == mc.c.child_digest
            )
        )
        .order_by(r.c.account_id, r.c.name, m.c.digest)
    )
    async with registry.db.read() as conn:
        for kind, query in (
            ("manifest.blob_missing", blob_missing),
            ("manifest.child_missing", child_missing),
        ):
            for row in await conn.execute(query):
                report.add(
                    Finding(kind, ERROR, row.digest, f"in {row.account_id}/{row.name} references {row.ref}")
                )


async def tags(registry: Registry, report: FsckReport) -> None:
    """Tags name existing manifests of their own repository."""
    tg, m, r = t.tags, t.manifests, t.repositories
    query = (
        sa.select(r.c.account_id, r.c.name, tg.c.repository_id, tg.c.name.label("tag"), tg.c.manifest_id)
        .select_from(tg.join(r, r.c.id == tg.c.repository_id).outerjoin(m, m.c.id == tg.c.manifest_id))
        .where(sa.or_(m.c.id.is_(None), m.c.repository_id != tg.c.repository_id))
    )
    async with registry.db.read() as conn:
        report.count("tags", int(await conn.scalar(sa.select(sa.func.count()).select_from(tg)) or 0))
        for row in await conn.execute(query):
            report.add(
                Finding(
                    "tag.dangling",
                    ERROR,
                    f"{row.account_id}/{row.name}:{row.tag}",
                    f"names manifest row {row.manifest_id}",
                    repairable=True,
                    handle=(row.repository_id, row.tag, row.manifest_id),
                )
            )


async def tombstones(registry: Registry, report: FsckReport) -> None:
    """Blobs garbage collection removed whose bytes an interrupted run did not delete yet."""
    bt = t.blob_tombstones
    async with registry.db.read() as conn:
        rows = (await conn.execute(sa.select(bt).where(bt.c.created_at < t.now() - TOMBSTONE_AGE))).all()
    for row in rows:
        report.add(
            Finding(
                "gc.tombstone", RECLAIMABLE, row.digest, f"bytes under {row.storage_key}", repairable=True
            )
        )


async def repository_summary(registry: Registry, report: FsckReport) -> None:
    """Per repository: images, tags, linked blobs and their bytes (what `repo list` shows)."""
    r, m, tg, rb, b = t.repositories, t.manifests, t.tags, t.repository_blobs, t.blobs
    counts = {
        "images": sa.select(m.c.repository_id, sa.func.count()).group_by(m.c.repository_id),
        "tags": sa.select(tg.c.repository_id, sa.func.count()).group_by(tg.c.repository_id),
        "blobs": sa.select(rb.c.repository_id, sa.func.count()).group_by(rb.c.repository_id),
        "bytes": sa.select(rb.c.repository_id, sa.func.coalesce(sa.func.sum(b.c.size), 0))
        .join(b, b.c.digest == rb.c.digest)
        .group_by(rb.c.repository_id),
    }
    async with registry.db.read() as conn:
        names = {row.id: f"{row.account_id}/{row.name}" for row in await conn.execute(sa.select(r))}
        summary = {name: dict.fromkeys(counts, 0) for name in names.values()}
        for what, query in counts.items():
            for repository_id, n in await conn.execute(query):
                if repository_id in names:
                    summary[names[repository_id]][what] = int(n)
    report.repositories = dict(sorted(summary.items()))
    report.count("repositories", len(summary))
