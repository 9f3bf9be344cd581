"""Image scanning: scan on push or on request, stored inventories, and periodic re-matching."""

from __future__ import annotations

from typing import Any, Protocol

from dockyard.config import Settings
from dockyard.features import RegistryParts
from dockyard.features.scanning.records import SCAN_JOB
from dockyard.features.scanning.rescans import RESCAN_EVERY_SECONDS, RESCAN_JOB
from dockyard.features.scanning.service import ScanService
from dockyard.jobs.scheduler import Periodic
from dockyard.jobs.worker import JobHandler

__all__ = ["ScanService", "ScanningRegistryParts", "job_handlers", "periodic_tasks"]


class ScanningRegistryParts(RegistryParts, Protocol):
    """The registry with its ScanService: one per process, shared by the doors and the jobs."""

    @property
    def scans(self) -> ScanService: ...


def job_handlers(registry: ScanningRegistryParts) -> dict[str, JobHandler]:
    service = registry.scans

    async def scan(payload: dict[str, Any]) -> Any:
        return await service.run_job(payload)

    async def rescan(payload: dict[str, Any]) -> Any:
        return await service.rescan_job(payload)

    return {SCAN_JOB: scan, RESCAN_JOB: rescan}


def periodic_tasks(settings: Settings) -> list[Periodic]:
    return [Periodic(RESCAN_JOB, RESCAN_EVERY_SECONDS)]
