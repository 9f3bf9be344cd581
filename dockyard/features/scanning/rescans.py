"""Continuous rescans: a vulnerability database update is absorbed by re-matching the stored
inventories (the periodic ``scan-rescan`` job), without reading any layer again."""

from __future__ import annotations

from typing import Any

from dockyard.features.scanning import config as sc
from dockyard.features.scanning.pipeline import ScanPipeline
from dockyard.features.scanning.records import COMPLETE, UNSUPPORTED_IMAGE, ScanRecord

RESCAN_JOB = "scan-rescan"
RESCAN_EVERY_SECONDS = 300.0
RESCAN_BATCH = 100


class Rescans(ScanPipeline):
    """Re-matching stored inventories when the vulnerability database changes."""

    async def rescan_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Re-match stored inventories against a changed vulnerability database, for images whose
        repository scans continuously (or on push); no layer is read again. Archived images, and
        images past the server's scan eligibility (``scan_eligibility_days``), are skipped."""
        current = await self.vulndb_updated_at()
        if current is None:
            return {"rematched": 0}
        after, rematched = 0, 0
        configs: dict[str, sc.RegistryScanningConfig] = {}
        cutoff = self.eligibility_cutoff()
        while True:
            rows = await self.rescan_candidates(after, RESCAN_BATCH, cutoff)
            if not rows:
                break
            after = rows[-1].manifest_id
            for row in rows:
                if row.vulndb_updated_at == current:
                    continue
                if row.account_id not in configs:
                    configs[row.account_id] = await self.registry_config(row.account_id)
                scanning = sc.effective(configs[row.account_id], row.repository, row.scan_on_push)
                if not scanning.rescans:
                    continue
                if row.status == UNSUPPORTED_IMAGE and scanning.scan_type == sc.BASIC:
                    continue
                await self.rematch(row.manifest_id, scanning.scan_type)
                rematched += 1
        return {"rematched": rematched}

    async def rematch(self, manifest_id: int, scan_type: str) -> str | None:
        """Match an image's stored inventory again (no layer is read)."""
        inventory = await self.stored_inventory(manifest_id)
        if inventory is None:
            return None
        return await self.finish(manifest_id, scan_type, inventory)

    async def nudge_rescan(self, record: ScanRecord, scanning: sc.RepositoryScanning) -> None:
        """Between periodic runs, a read of stale findings of a continuously scanned image asks
        for the rescan at once (one job at a time, shared with the scheduler's)."""
        if record.status != COMPLETE or not scanning.rescans:
            return
        current = await self.vulndb_updated_at()
        if current is not None and current != record.vulndb_updated_at:
            await self.registry.enqueue(RESCAN_JOB, {}, unique_key=f"periodic:{RESCAN_JOB}")
