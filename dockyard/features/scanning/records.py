"""Scan records: the ``image_scans`` rows (one per image) and the registry scanning configuration
they are read against.

Two statuses are derived when a scan is read, never stored, so nothing needs rewriting when they
stop applying: IMAGE_ARCHIVED for an image in the ARCHIVE storage class (its stored scan shows
again once it is restored), and SCAN_ELIGIBILITY_EXPIRED for a completed scan of a re-scanned
image pushed longer ago than the server's ``scan_eligibility_days`` (Inspector's "ECR re-scan
duration"; 0, the default, is a lifetime): such images are no longer re-matched, and their last
findings stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dockyard import clock
from dockyard.core.manifests import ARCHIVE
from dockyard.features.scanning import config as sc
from dockyard.features.scanning import findings as fx
from dockyard.features.scanning.model import Finding, Inventory
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.core.repositories import Repository
    from dockyard.features import RegistryParts

SCAN_JOB = "scan-image"

IN_PROGRESS, COMPLETE, FAILED = "IN_PROGRESS", "COMPLETE", "FAILED"
UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
# Derived at read time (see the module docstring), never stored.
IMAGE_ARCHIVED, SCAN_ELIGIBILITY_EXPIRED = "IMAGE_ARCHIVED", "SCAN_ELIGIBILITY_EXPIRED"
ARCHIVED_DESCRIPTION = "The image is archived. Restore it to the STANDARD storage class to scan it."
EXPIRED_DESCRIPTION = (
    "The image was pushed more than {days} days ago and is no longer rescanned continuously; "
    "the findings are those of its last scan."
)
SCAN_QUOTA = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One image's scan state as DescribeImageScanFindings and DescribeImages report it."""

    manifest_id: int
    status: str
    description: str | None
    scan_type: str
    requested_at: datetime
    completed_at: datetime | None
    vulndb_updated_at: datetime | None
    severity_counts: dict[str, int] | None
    findings_json: list[dict[str, Any]] | None
    first_observed: dict[str, str] | None
    stored_status: str | None = None  # the scan row's status, when ``status`` is derived

    @property
    def has_findings(self) -> bool:
        """A finished scan whose findings are reported (also once its eligibility expired; not
        while the image is archived)."""
        return (self.stored_status or self.status) == COMPLETE and self.status != IMAGE_ARCHIVED

    def findings(self) -> list[Finding]:
        return [Finding.from_json(f) for f in self.findings_json or []]


@dataclass(frozen=True, slots=True)
class RescanCandidate:
    """A stored scan the periodic rescan may re-match."""

    manifest_id: int
    scan_type: str
    status: str
    vulndb_updated_at: datetime | None
    account_id: str
    repository: str
    scan_on_push: bool


class QuotaExceeded(Exception):
    """StartImageScan for an image scanned in the last 24 hours."""


class ScanRecords:
    """Reads and writes of scan rows and scanning configuration; the scan pipeline and the
    rescans build on it."""

    def __init__(self, registry: RegistryParts) -> None:
        self.registry = registry
        self.db = registry.db

    # ---------------------------------------------------------------- configuration
    async def registry_config(self, account_id: str, conn: Any = None) -> sc.RegistryScanningConfig:
        query = sa.select(t.accounts.c.scanning_configuration).where(t.accounts.c.id == account_id)
        if conn is not None:
            raw = await conn.scalar(query)
        else:
            async with self.db.read() as c:
                raw = await c.scalar(query)
        if isinstance(raw, str):
            raw = json.loads(raw)
        return sc.RegistryScanningConfig.from_json(raw)

    async def put_registry_config(self, account_id: str, config: sc.RegistryScanningConfig) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                t.accounts.update()
                .where(t.accounts.c.id == account_id)
                .values(scanning_configuration=config.to_json())
            )

    async def repository_scanning(self, repo: Repository) -> sc.RepositoryScanning:
        config = await self.registry_config(repo.account_id)
        return sc.effective(config, repo.name, repo.scan_on_push)

    # ---------------------------------------------------------------- requests
    async def request(
        self, manifest_id: int, scan_type: str, *, manual: bool = False, enqueue: bool = True
    ) -> ScanRecord:
        """Mark the image IN_PROGRESS and enqueue its scan. ``manual`` (StartImageScan) enforces
        ECR's one scan per image per 24 hours, counting scans on push."""
        now = clock.now()
        s = t.image_scans
        async with self.db.write() as conn:
            row = (
                await conn.execute(sa.select(s.c.requested_at).where(s.c.manifest_id == manifest_id))
            ).first()
            if manual and row is not None and row.requested_at > now - SCAN_QUOTA:
                raise QuotaExceeded()
            values: dict[str, Any] = {
                "status": IN_PROGRESS,
                "description": None,
                "scan_type": scan_type,
                "requested_at": now,
            }
            if manual:
                values["manual_scan_at"] = now
            if row is None:
                await conn.execute(s.insert().values(manifest_id=manifest_id, **values))
            else:
                await conn.execute(s.update().where(s.c.manifest_id == manifest_id).values(**values))
        if enqueue:
            await self.registry.enqueue(
                SCAN_JOB,
                {"manifest_id": manifest_id, "scan_type": scan_type},
                unique_key=f"scan:{manifest_id}",
            )
        record = await self.get(manifest_id)
        assert record is not None
        return record

    # ---------------------------------------------------------------- reads
    async def get(self, manifest_id: int) -> ScanRecord | None:
        return (await self.get_many([manifest_id])).get(manifest_id)

    async def get_many(
        self, manifest_ids: Iterable[int], *, with_findings: bool = True
    ) -> dict[int, ScanRecord]:
        """Scan records of many images in one query (DescribeImages)."""
        ids = list(dict.fromkeys(manifest_ids))
        if not ids:
            return {}
        s = t.image_scans
        cols = [
            s.c.manifest_id,
            s.c.status,
            s.c.description,
            s.c.scan_type,
            s.c.requested_at,
            s.c.completed_at,
            s.c.vulndb_updated_at,
            s.c.severity_counts,
        ]
        if with_findings:
            cols += [s.c.findings, s.c.first_observed]
        m, r = t.manifests, t.repositories
        cols += [m.c.storage_class, m.c.pushed_at, r.c.account_id, r.c.name, r.c.scan_on_push]
        query = (
            sa.select(*cols)
            .select_from(s.join(m, m.c.id == s.c.manifest_id).join(r, r.c.id == m.c.repository_id))
            .where(s.c.manifest_id.in_(ids))
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        cutoff = self.eligibility_cutoff()
        configs: dict[str, sc.RegistryScanningConfig] = {}
        out: dict[int, ScanRecord] = {}
        for row in rows:
            status, description = row.status, row.description
            if row.storage_class == ARCHIVE:
                status, description = IMAGE_ARCHIVED, ARCHIVED_DESCRIPTION
            elif status == COMPLETE and cutoff is not None and row.pushed_at < cutoff:
                if row.account_id not in configs:
                    configs[row.account_id] = await self.registry_config(row.account_id)
                if sc.effective(configs[row.account_id], row.name, bool(row.scan_on_push)).rescans:
                    status = SCAN_ELIGIBILITY_EXPIRED
                    description = EXPIRED_DESCRIPTION.format(days=self._eligibility_days_text())
            out[row.manifest_id] = ScanRecord(
                manifest_id=row.manifest_id,
                status=status,
                description=description,
                scan_type=row.scan_type,
                requested_at=row.requested_at,
                completed_at=row.completed_at,
                vulndb_updated_at=row.vulndb_updated_at,
                severity_counts=row.severity_counts,
                findings_json=row.findings if with_findings else None,
                first_observed=row.first_observed if with_findings else None,
                stored_status=row.status,
            )
        return out

    def eligibility_cutoff(self) -> datetime | None:
        """Images pushed before this are no longer re-scanned (None: a lifetime, the default)."""
        days = self.registry.settings.scan_eligibility_days
        if days <= 0:
            return None
        return clock.now() - timedelta(days=days)

    def _eligibility_days_text(self) -> str:
        return f"{float(self.registry.settings.scan_eligibility_days):g}"

    async def stored_inventory(self, manifest_id: int) -> Inventory | None:
        """The inventory the image's last scan stored (None: never scanned to the end)."""
        s = t.image_scans
        async with self.db.read() as conn:
            raw = await conn.scalar(sa.select(s.c.inventory).where(s.c.manifest_id == manifest_id))
        if raw is None:
            return None
        return Inventory.from_json(raw)

    async def rescan_candidates(
        self, after: int, limit: int, cutoff: datetime | None
    ) -> list[RescanCandidate]:
        """Up to ``limit`` stored scans after manifest id ``after`` that hold an inventory, of
        images neither archived nor pushed before ``cutoff`` (the scan eligibility), by manifest id."""
        s, m, r = t.image_scans, t.manifests, t.repositories
        conditions = [
            s.c.status.in_([COMPLETE, UNSUPPORTED_IMAGE]),
            s.c.inventory.is_not(None),
            m.c.storage_class != ARCHIVE,  # archived images are not scanned until restored
        ]
        if cutoff is not None:  # past the re-scan duration: no longer re-matched
            conditions.append(m.c.pushed_at >= cutoff)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        s.c.manifest_id,
                        s.c.scan_type,
                        s.c.status,
                        s.c.vulndb_updated_at,
                        r.c.account_id,
                        r.c.name,
                        r.c.scan_on_push,
                    )
                    .select_from(s.join(m, m.c.id == s.c.manifest_id).join(r, r.c.id == m.c.repository_id))
                    .where(*conditions, s.c.manifest_id > after)
                    .order_by(s.c.manifest_id)
                    .limit(limit)
                )
            ).all()
        return [
            RescanCandidate(
                row.manifest_id,
                row.scan_type,
                row.status,
                row.vulndb_updated_at,
                row.account_id,
                row.name,
                bool(row.scan_on_push),
            )
            for row in rows
        ]

    # ---------------------------------------------------------------- outcomes
    async def store_outcome(
        self,
        manifest_id: int,
        status: str,
        description: str,
        scan_type: str,
        inventory: Inventory,
        matched: list[Finding] | None,
        vulndb_updated_at: datetime | None,
    ) -> None:
        """Record a finished scan: its inventory and findings, keeping when each was first seen."""
        s = t.image_scans
        now = clock.now()
        async with self.db.write() as conn:
            previous = await conn.scalar(sa.select(s.c.first_observed).where(s.c.manifest_id == manifest_id))
            values: dict[str, Any] = {
                "status": status,
                "description": description,
                "scan_type": scan_type,
                "completed_at": now,
                "vulndb_updated_at": vulndb_updated_at,
                "inventory": inventory.to_json(),
                "findings": [f.to_json() for f in matched] if matched is not None else None,
                "severity_counts": fx.severity_counts(matched) if matched is not None else None,
            }
            if matched is not None:
                seen = dict(previous or {})
                stamp = now.isoformat()
                values["first_observed"] = {f.key: seen.get(f.key, stamp) for f in matched}
            # No row: the image was deleted meanwhile (its scan row went with it); nothing to record.
            await conn.execute(s.update().where(s.c.manifest_id == manifest_id).values(**values))

    async def set_status(self, manifest_id: int, status: str, description: str) -> None:
        s = t.image_scans
        async with self.db.write() as conn:
            await conn.execute(
                s.update()
                .where(s.c.manifest_id == manifest_id)
                .values(status=status, description=description, completed_at=clock.now())
            )
