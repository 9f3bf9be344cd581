"""One `dockyard fsck` pass: list the store once, run every check, repair if asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from dockyard import clock
from dockyard.features.fsck import checks, inventory
from dockyard.features.fsck.repair import repair
from dockyard.features.fsck.report import FsckReport

if TYPE_CHECKING:
    from dockyard.registry import Registry


@dataclass(frozen=True)
class FsckOptions:
    hash_sample: int | None = 20  # blobs re-hashed at random; None: every blob (--full)
    max_mib_per_second: float = 0.0  # pace of the re-hashing (0: unpaced)
    grace_hours: float = 24.0  # stored items younger than this may still get their row
    upload_max_age_hours: float = 168.0  # older sessions are stale
    repair: bool = False
    only_hashes: bool = False  # just re-hash blobs (`dockyard scrub`)


async def fsck(registry: Registry, options: FsckOptions) -> FsckReport:
    report = FsckReport()
    counted = ["blobs", "blobs hashed", "bytes hashed"]
    if not options.only_hashes:
        counted += ["stored items", "upload sessions", "manifests", "tags", "repositories"]
    report.checked = dict.fromkeys(counted, 0)
    full = options.hash_sample is None
    if not options.only_hashes:
        await checks.database_integrity(registry, report, full=full)
    listing = await inventory.take(registry)
    present = await checks.blob_rows(registry, listing, report)
    await checks.blob_hashes(
        registry, present, report, sample=options.hash_sample, max_mib_per_second=options.max_mib_per_second
    )
    if not options.only_hashes:
        now = clock.now()
        await checks.stored_items(registry, listing, report, now - timedelta(hours=options.grace_hours), now)
        await checks.upload_sessions(registry, listing, report, options.upload_max_age_hours)
        await checks.manifests(registry, report)
        await checks.manifest_references(registry, report)
        await checks.tags(registry, report)
        await checks.tombstones(registry, report)
        await checks.repository_summary(registry, report)
    if options.repair:
        await repair(registry, report)
    return report
