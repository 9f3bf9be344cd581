"""Gauges read from the metadata database when `/metrics` is scraped.

They describe the registry, not one process, so they are computed by whichever process takes
the scrape (a few aggregate queries in one read transaction) and are never summed across
workers. On a cluster every node reports the same values: aggregate them with ``max``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dockyard.features.gc.collector import GC
from dockyard.jobs.queue import DONE, QUEUED, RUNNING
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.registry import Registry

log = logging.getLogger("dockyard.metrics")
# GcReport fields reported from the last finished collection.
GC_REPORT_FIELDS = ("links_removed", "blobs_removed", "bytes_freed", "orphans_removed", "orphan_bytes_freed")


async def registry_snapshot(registry: Registry) -> dict[str, Any]:
    """The counts the gauges show, in one read transaction."""
    now = t.now()
    jobs = t.jobs
    async with registry.db.read() as conn:
        blob_count, blob_bytes = (
            await conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(t.blobs.c.size), 0)))
        ).one()
        images = await conn.scalar(sa.select(sa.func.count()).select_from(t.manifests))
        repositories = await conn.scalar(sa.select(sa.func.count()).select_from(t.repositories))
        by_status: dict[str, int] = dict(
            (
                await conn.execute(
                    sa.select(jobs.c.status, sa.func.count())
                    .where(jobs.c.status.in_((QUEUED, RUNNING)))
                    .group_by(jobs.c.status)
                )
            ).all()
        )
        oldest_due = await conn.scalar(
            sa.select(sa.func.min(jobs.c.run_after)).where(jobs.c.status == QUEUED, jobs.c.run_after <= now)
        )
        scans: dict[str, int] = dict(
            (
                await conn.execute(
                    sa.select(t.image_scans.c.status, sa.func.count()).group_by(t.image_scans.c.status)
                )
            ).all()
        )
        last_gc = (
            await conn.execute(
                sa.select(jobs.c.updated_at, jobs.c.result)
                .where(jobs.c.kind == GC, jobs.c.status == DONE)
                .order_by(jobs.c.id.desc())
                .limit(1)
            )
        ).first()
    return {
        "blobs": int(blob_count),
        "storage_bytes": int(blob_bytes),
        "images": int(images or 0),
        "repositories": int(repositories or 0),
        "jobs": {QUEUED: int(by_status.get(QUEUED, 0)), RUNNING: int(by_status.get(RUNNING, 0))},
        "oldest_due_seconds": _age(now, oldest_due),
        "scans": {str(k): int(v) for k, v in scans.items()},
        "last_gc": (last_gc.updated_at, last_gc.result or {}) if last_gc is not None else None,
    }


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


class _Snapshot(Collector):
    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.snapshot
        yield GaugeMetricFamily("dockyard_storage_bytes", "Bytes of stored blobs", value=s["storage_bytes"])
        yield GaugeMetricFamily("dockyard_blobs", "Stored blobs", value=s["blobs"])
        yield GaugeMetricFamily("dockyard_images", "Image manifests in all repositories", value=s["images"])
        yield GaugeMetricFamily("dockyard_repositories", "Repositories", value=s["repositories"])
        jobs = GaugeMetricFamily("dockyard_jobs", "Background jobs queued or running", labels=["status"])
        for status, count in s["jobs"].items():
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "dockyard_job_queue_oldest_seconds",
            "How long the oldest due job has waited to be claimed (0: none waiting)",
            value=s["oldest_due_seconds"],
        )
        scans = GaugeMetricFamily("dockyard_image_scans", "Image scans by ECR scan status", labels=["status"])
        for status, count in sorted(s["scans"].items()):
            scans.add_metric([status], count)
        yield scans
        if s["last_gc"] is not None:
            finished, report = s["last_gc"]
            yield GaugeMetricFamily(
                "dockyard_gc_last_finished_timestamp_seconds",
                "When the last garbage collection job finished",
                value=finished.timestamp(),
            )
            last = GaugeMetricFamily(
                "dockyard_gc_last_run", "What the last garbage collection job removed", labels=["what"]
            )
            for field in GC_REPORT_FIELDS:
                last.add_metric([field], float(report.get(field, 0)))
            yield last


async def render_registry_gauges(registry: Registry) -> bytes:
    """The gauges in Prometheus' text format; empty (and a warning) if the database fails."""
    try:
        snapshot = await registry_snapshot(registry)
    except Exception as e:
        log.warning("metrics: registry gauges unavailable: %s: %s", type(e).__name__, e)
        return b""
    target = CollectorRegistry(auto_describe=False)
    target.register(_Snapshot(snapshot))
    return generate_latest(target)
