"""The orphan sweep: bytes in the blob store that no row names, older than the grace period.

A crash can strand bytes where no row points: an upload file of a monolithic push killed
mid-body (it never had a session row), a blob published by a completion that died before its
row committed, S3 multipart uploads and tail objects of either. The sweep lists the store
(`BlobStore.stored`) and deletes an item only when all of these hold:

* its last write is older than the cutoff (never within `MIN_AGE`, whatever the grace: a request
  may still be writing it, or be between publishing it and committing its row);
* no upload row names its session (a live session may still complete it, see
  `BlobService.complete`); the upload purge job ends stale sessions, and their bytes then
  become sweepable;
* no blob row or tombstone names its key.

Per batch, the upload rows are read before the blob rows: a completion deletes its session
row in the transaction that inserts its blob row, so if the first read misses the session,
the second (later) one sees the blob row, even under READ COMMITTED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dockyard.store.blobs.base import StoredItem
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.features import RegistryParts

MIN_AGE = timedelta(hours=1)
BATCH = 1000  # items checked per pair of queries, and deleted per store call


@dataclass
class OrphanReport:
    removed: int = 0
    bytes_freed: int = 0


def sweep_cutoff(cutoff: datetime, now: datetime) -> datetime:
    """The cutoff the sweep uses: the grace period's, but never within `MIN_AGE` of now."""
    return min(cutoff, now - MIN_AGE)


async def sweep(
    registry: RegistryParts,
    cutoff: datetime,
    now: datetime,
    *,
    dry_run: bool,
    progress: Callable[[str], None],
) -> OrphanReport:
    """Delete (or, with `dry_run`, count) what no row names and nothing wrote since `cutoff`."""
    cutoff = sweep_cutoff(cutoff, now)
    report = OrphanReport()
    batch: list[StoredItem] = []
    async for item in registry.store.stored():
        if item.modified < cutoff:
            batch.append(item)
        if len(batch) >= BATCH:
            await _settle(registry, batch, report, dry_run)
            progress(f"orphans: {report.removed} ({report.bytes_freed} bytes) so far")
            batch = []
    if batch:
        await _settle(registry, batch, report, dry_run)
    return report


async def _settle(
    registry: RegistryParts, items: list[StoredItem], report: OrphanReport, dry_run: bool
) -> None:
    orphans = await unnamed(registry, items)
    if orphans and not dry_run:
        await registry.store.delete_stored(orphans)
    report.removed += len(orphans)
    report.bytes_freed += sum(item.size for item in orphans)


async def unnamed(registry: RegistryParts, items: list[StoredItem]) -> list[StoredItem]:
    """Those of `items` no upload row, blob row or tombstone names (also used by `dockyard fsck`)."""
    sessions = sorted({item.session for item in items})
    keys = sorted({item.key for item in items if item.key})
    async with registry.db.read() as conn:
        live = set(
            (await conn.execute(sa.select(t.uploads.c.id).where(t.uploads.c.id.in_(sessions)))).scalars()
        )
        named: set[str] = set()
        if keys:
            for table in (t.blobs, t.blob_tombstones):
                query = sa.select(table.c.storage_key).where(table.c.storage_key.in_(keys))
                named.update((await conn.execute(query)).scalars())
    return [item for item in items if item.session not in live and item.key not in named]
