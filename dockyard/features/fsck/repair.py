"""`dockyard fsck --repair`: fix only what cannot lose anything a client was told is stored.

* orphans past the grace period: deleted, after checking once more that no row names them
  (as garbage collection's sweep does);
* stale upload sessions, and sessions whose bytes are gone: the row is deleted (only if the
  session did not move meanwhile), then its bytes; an upload is acknowledged only when it
  completes, so the client at most starts it again;
* dangling tag rows: deleted (the tag already resolves to nothing);
* GC tombstones: their bytes deleted, then the tombstones (the rows are already gone).

Missing or corrupt blobs, manifests referencing missing blobs and database corruption are
reported, never "repaired": the only fix is to push the content again (or restore a backup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from dockyard.features.fsck.report import Finding, FsckReport
from dockyard.features.gc import collector, orphans
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.registry import Registry


async def repair(registry: Registry, report: FsckReport) -> None:
    todo = [f for f in report.findings if f.repairable and not f.repaired]
    await _orphans(registry, [f for f in todo if f.kind == "store.orphan"])
    for finding in todo:
        if finding.kind in ("upload.stale", "upload.bytes_missing"):
            finding.repaired = await _end_session(registry, finding)
        elif finding.kind == "tag.dangling":
            finding.repaired = await _drop_tag(registry, finding)
    tombstoned = [f for f in todo if f.kind == "gc.tombstone"]
    if tombstoned:
        await collector.finish_tombstones(registry)
        for finding in tombstoned:
            finding.repaired = True
    report.repaired = True


async def _orphans(registry: Registry, findings: list[Finding]) -> None:
    for start in range(0, len(findings), orphans.BATCH):
        batch = findings[start : start + orphans.BATCH]
        still = await orphans.unnamed(registry, [f.handle for f in batch])
        if still:
            await registry.store.delete_stored(still)
        for finding in batch:
            finding.repaired = finding.handle in still


async def _end_session(registry: Registry, finding: Finding) -> bool:
    upload_id, updated_at, state = finding.handle
    async with registry.db.write() as conn:
        result = await conn.execute(
            t.uploads.delete().where(t.uploads.c.id == upload_id, t.uploads.c.updated_at == updated_at)
        )
    if not result.rowcount:
        return False  # the client resumed it meanwhile: leave it alone
    await registry.store.delete_upload(upload_id, state)
    return True


async def _drop_tag(registry: Registry, finding: Finding) -> bool:
    repository_id, name, manifest_id = finding.handle
    tg, m = t.tags, t.manifests
    still_dangling = ~sa.exists().where(m.c.id == tg.c.manifest_id, m.c.repository_id == tg.c.repository_id)
    async with registry.db.write() as conn:
        result = await conn.execute(
            tg.delete().where(
                tg.c.repository_id == repository_id,
                tg.c.name == name,
                tg.c.manifest_id == manifest_id,
                still_dangling,
            )
        )
    return bool(result.rowcount)
