"""Online garbage collection: unreferenced links and blobs, reclaimed while the registry serves."""

from __future__ import annotations

from dockyard.config import Settings
from dockyard.features import RegistryParts
from dockyard.features.gc.collector import GC, handlers
from dockyard.jobs.scheduler import Periodic
from dockyard.jobs.worker import JobHandler


def job_handlers(registry: RegistryParts) -> dict[str, JobHandler]:
    return handlers(registry)


def periodic_tasks(settings: Settings) -> list[Periodic]:
    return [Periodic(GC, settings.gc_interval_hours * 3600, {"grace_hours": settings.gc_grace_hours})]
