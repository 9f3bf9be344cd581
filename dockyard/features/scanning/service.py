"""Image scanning as a service: the feature's face, built from its parts.

A scan request only writes an IN_PROGRESS row in ``image_scans`` and enqueues a ``scan-image``
job (unique per manifest), so a push or StartImageScan never waits for a scan. The parts:

* `records`: scan rows and scanning configuration (requests, reads, derived statuses);
* `pipeline`: the scan job (layers -> analysis -> inventory -> matches -> stored outcome);
* `rescans`: continuous re-matching of stored inventories after a vulnerability database update.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dockyard.core.media_types import INDEXES
from dockyard.features.scanning.pipeline import (
    COMPLETE_DESCRIPTION,
    FOREIGN_LAYER_MARKERS,
    IMAGE_CONFIGS,
    UNSUPPORTED_ARTIFACT,
    UNSUPPORTED_INDEX,
    UNSUPPORTED_OS,
    ImageGone,
    Unsupported,
)
from dockyard.features.scanning.records import (
    ARCHIVED_DESCRIPTION,
    COMPLETE,
    EXPIRED_DESCRIPTION,
    FAILED,
    IMAGE_ARCHIVED,
    IN_PROGRESS,
    SCAN_ELIGIBILITY_EXPIRED,
    SCAN_JOB,
    SCAN_QUOTA,
    UNSUPPORTED_IMAGE,
    QuotaExceeded,
    ScanRecord,
)
from dockyard.features.scanning.rescans import RESCAN_BATCH, RESCAN_EVERY_SECONDS, RESCAN_JOB, Rescans
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.core.manifests import PushResult
    from dockyard.core.repositories import Repository

__all__ = [
    "ARCHIVED_DESCRIPTION",
    "COMPLETE",
    "COMPLETE_DESCRIPTION",
    "EXPIRED_DESCRIPTION",
    "FAILED",
    "FOREIGN_LAYER_MARKERS",
    "IMAGE_ARCHIVED",
    "IMAGE_CONFIGS",
    "IN_PROGRESS",
    "RESCAN_BATCH",
    "RESCAN_EVERY_SECONDS",
    "RESCAN_JOB",
    "SCAN_ELIGIBILITY_EXPIRED",
    "SCAN_JOB",
    "SCAN_QUOTA",
    "UNSUPPORTED_ARTIFACT",
    "UNSUPPORTED_IMAGE",
    "UNSUPPORTED_INDEX",
    "UNSUPPORTED_OS",
    "ImageGone",
    "QuotaExceeded",
    "ScanRecord",
    "ScanService",
    "Unsupported",
]

log = logging.getLogger("dockyard.features.scanning")


class ScanService(Rescans):
    """``registry.scans``: records, the scan pipeline and rescans, plus the push hook."""

    async def on_push(self, repo: Repository, result: PushResult, manifest_id: int) -> None:
        """The push hook: enqueue a scan when scan on push applies. Never raises: a push that
        stored its manifest must succeed even if the scan cannot be requested."""
        try:
            if not result.created or result.media_type in INDEXES:
                return
            scanning = await self.repository_scanning(repo)
            if not scanning.scans_on_push:
                return
            if await self._is_artifact(manifest_id):
                return
            await self.request(manifest_id, scanning.scan_type)
        except Exception:
            log.exception("could not request a scan of %s in %s", result.digest, repo.name)

    async def _is_artifact(self, manifest_id: int) -> bool:
        m = t.manifests
        async with self.db.read() as conn:
            config_type = await conn.scalar(sa.select(m.c.config_media_type).where(m.c.id == manifest_id))
        return config_type is not None and config_type not in IMAGE_CONFIGS
