"""Housekeeping: abandoned upload sessions and blob scrubbing."""

from __future__ import annotations

from dockyard.config import Settings
from dockyard.features import RegistryParts
from dockyard.features.maintenance.jobs import PURGE_UPLOADS, handlers
from dockyard.jobs.scheduler import Periodic
from dockyard.jobs.worker import JobHandler

PURGE_UPLOADS_EVERY_SECONDS = 3600.0


def job_handlers(registry: RegistryParts) -> dict[str, JobHandler]:
    return handlers(registry)


def periodic_tasks(settings: Settings) -> list[Periodic]:
    """Abandoned upload sessions are looked for hourly (a scrub only runs when asked for)."""
    payload = {"max_age_hours": settings.upload_max_age_hours}
    return [Periodic(PURGE_UPLOADS, PURGE_UPLOADS_EVERY_SECONDS, payload)]
