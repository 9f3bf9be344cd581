"""Housekeeping jobs: purge abandoned uploads, and scrub stored blobs against their digests
(the hash check of `dockyard fsck`, run as a job)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dockyard.core.blob_hashes import Pacer, hashes_right
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.features import RegistryParts

PURGE_UPLOADS = "purge-uploads"
SCRUB = "scrub"
SCRUB_BATCH = 200


async def purge_uploads(registry: RegistryParts, payload: dict[str, Any]) -> dict[str, Any]:
    """Delete upload sessions untouched for `max_age_hours` (Distribution's uploadpurging)."""
    cutoff = t.now() - timedelta(hours=float(payload.get("max_age_hours", 168)))
    async with registry.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(t.uploads.c.id, t.uploads.c.store_state).where(t.uploads.c.updated_at < cutoff)
            )
        ).all()
    purged = 0
    for row in rows:
        # Delete the row first: a client resuming now gets BLOB_UPLOAD_UNKNOWN, never half a blob.
        async with registry.db.write() as conn:
            result = await conn.execute(
                t.uploads.delete().where(t.uploads.c.id == row.id, t.uploads.c.updated_at < cutoff)
            )
        if result.rowcount:
            await registry.store.delete_upload(row.id, row.store_state)
            purged += 1
    return {"purged": purged}


async def scrub(registry: RegistryParts, payload: dict[str, Any]) -> dict[str, Any]:
    """Re-hash stored blobs and report any whose bytes no longer match their digest.

    Works through digests in order from `after`, so a retried job (another node took
    over after a crash) repeats at most one batch. `max_mib_per_second` paces the reads,
    so a scrub on a busy registry does not starve pushes and pulls of disk or network.
    """
    after = str(payload.get("after", ""))
    pacer = Pacer(float(payload.get("max_mib_per_second") or 0))
    checked, corrupt = 0, []
    while True:
        async with registry.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.blobs.c.digest, t.blobs.c.storage_key)
                    .where(t.blobs.c.digest > after)
                    .order_by(t.blobs.c.digest)
                    .limit(SCRUB_BATCH)
                )
            ).all()
        if not rows:
            break
        for digest, key in rows:
            if not await hashes_right(registry.store, digest, key, pacer):
                corrupt.append(digest)
            checked += 1
        after = rows[-1].digest
    return {"checked": checked, "corrupt": corrupt}


def handlers(registry: RegistryParts) -> dict[str, Any]:
    async def purge(payload: dict[str, Any]) -> Any:
        return await purge_uploads(registry, payload)

    async def do_scrub(payload: dict[str, Any]) -> Any:
        return await scrub(registry, payload)

    return {PURGE_UPLOADS: purge, SCRUB: do_scrub}
