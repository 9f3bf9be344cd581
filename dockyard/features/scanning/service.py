"""Image scanning as a service: requests, the scan job, and continuous re-matching.

A scan request only writes an IN_PROGRESS row in ``image_scans`` and enqueues a ``scan-image``
job (unique per manifest), so a push or StartImageScan never waits for a scan. The job reads
the image's layers once each — results are cached per layer digest and analyzer version in
``scan_layers``, so images sharing base layers only analyze their own — applies them into an
inventory that is stored with the scan, and matches it against the vulnerability database.

Because inventories are stored, a vulnerability database update is absorbed by re-matching
stored inventories (the periodic ``scan-rescan`` job) without reading any layer again.

Two statuses are derived when a scan is read, never stored, so nothing needs rewriting when they
stop applying: IMAGE_ARCHIVED for an image in the ARCHIVE storage class (its stored scan shows
again once it is restored), and SCAN_ELIGIBILITY_EXPIRED for a completed scan of a re-scanned
image pushed longer ago than the server's ``scan_eligibility_days`` (Inspector's "ECR re-scan
duration"; 0, the default, is a lifetime): such images are no longer re-matched, and their last
findings stay readable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dockyard import clock
from dockyard.core.manifests import ARCHIVE
from dockyard.core.media_types import DOCKER_IMAGE_CONFIG, INDEXES, OCI_IMAGE_CONFIG
from dockyard.features.scanning import config as sc
from dockyard.features.scanning import findings as fx
from dockyard.features.scanning.model import Finding, Inventory
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.core.manifests import PushResult
    from dockyard.core.repositories import Repository
    from dockyard.features import RegistryParts
    from dockyard.features.scanning.vulndb import VulnDb

log = logging.getLogger("dockyard.features.scanning")

SCAN_JOB = "scan-image"
RESCAN_JOB = "scan-rescan"
RESCAN_EVERY_SECONDS = 300.0
RESCAN_BATCH = 100

IN_PROGRESS, COMPLETE, FAILED = "IN_PROGRESS", "COMPLETE", "FAILED"
UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
# Derived at read time (see the module docstring), never stored.
IMAGE_ARCHIVED, SCAN_ELIGIBILITY_EXPIRED = "IMAGE_ARCHIVED", "SCAN_ELIGIBILITY_EXPIRED"
ARCHIVED_DESCRIPTION = "The image is archived. Restore it to the STANDARD storage class to scan it."
EXPIRED_DESCRIPTION = (
    "The image was pushed more than {days} days ago and is no longer rescanned continuously; "
    "the findings are those of its last scan."
)
# What ECR says for images it finds no operating system in (scratch, distroless-static).
UNSUPPORTED_OS = "UnsupportedImageError: The operating system and/or package manager are not supported."
UNSUPPORTED_ARTIFACT = "UnsupportedImageError: The image type is not supported."
UNSUPPORTED_INDEX = "UnsupportedImageError: Image indexes are not scanned; their platform images are."
COMPLETE_DESCRIPTION = "The scan was completed successfully."
SCAN_QUOTA = timedelta(hours=24)
IMAGE_CONFIGS = frozenset({OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG})
# Layers the registry may legitimately not hold (Windows base layers): skipped, not a failure.
FOREIGN_LAYER_MARKERS = ("foreign", "nondistributable")


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

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.description:
            out["description"] = self.description
        return out

    def summary_json(self) -> dict[str, Any] | None:
        """DescribeImages' imageScanFindingsSummary (only once a scan has finished)."""
        if not self.has_findings:
            return None
        out: dict[str, Any] = {"findingSeverityCounts": self.severity_counts or {}}
        if self.completed_at is not None:
            out["imageScanCompletedAt"] = self.completed_at
        if self.vulndb_updated_at is not None:
            out["vulnerabilitySourceUpdatedAt"] = self.vulndb_updated_at
        return out


class QuotaExceeded(Exception):
    """StartImageScan for an image scanned in the last 24 hours."""


class ImageGone(Exception):
    """The manifest was deleted before its scan ran."""


class Unsupported(Exception):
    """An image that cannot be scanned (index, artifact); ``description`` is what ECR says."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ScanService:
    def __init__(self, registry: RegistryParts) -> None:
        self.registry = registry
        self.db = registry.db
        self._vulndb: VulnDb | None = None
        self.layers_analyzed = 0  # layers read from the blob store by this process (for tests)

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

    # ---------------------------------------------------------------- the vulnerability database
    def vulndb(self) -> VulnDb:
        if self._vulndb is None:
            from dockyard.features.scanning.vulndb import VulnDb

            self._vulndb = VulnDb(self.db)
        return self._vulndb

    async def vulndb_updated_at(self) -> datetime | None:
        return await self.vulndb().updated_at()

    async def match(self, inventory: Inventory) -> list[Finding]:
        return await self.vulndb().match(inventory)

    # ---------------------------------------------------------------- the scan job
    async def run_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Scan one image; the outcome (including failure) is recorded on its scan row."""
        manifest_id = int(payload["manifest_id"])
        scan_type = str(payload.get("scan_type") or sc.BASIC)
        try:
            return await self._scan(manifest_id, scan_type)
        except Exception as e:
            log.exception("scan of manifest %d failed", manifest_id)
            await self._set_status(manifest_id, FAILED, f"ScanFailed: {type(e).__name__}: {e}"[:1000])
            return {"status": FAILED, "error": f"{type(e).__name__}: {e}"}

    async def _manifest(self, manifest_id: int) -> Any:
        m = t.manifests
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    sa.select(m.c.id, m.c.digest, m.c.media_type, m.c.config_media_type, m.c.content).where(
                        m.c.id == manifest_id
                    )
                )
            ).first()

    async def _blob_keys(self, digests: list[str]) -> dict[str, str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(t.blobs.c.digest, t.blobs.c.storage_key).where(t.blobs.c.digest.in_(digests))
            )
            return {r.digest: r.storage_key for r in rows}

    async def _read_small(self, key: str, limit: int = 8 * 1024 * 1024) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.registry.store.read(key):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError("image config is too large")
        return b"".join(parts)

    async def _scan(self, manifest_id: int, scan_type: str) -> dict[str, Any]:
        try:
            inventory, counts = await self.inventory_of(manifest_id)
        except ImageGone:
            return {"status": "gone"}
        except Unsupported as u:
            await self._set_status(manifest_id, UNSUPPORTED_IMAGE, u.description)
            return {"status": UNSUPPORTED_IMAGE}
        outcome = await self._finish(manifest_id, scan_type, inventory)
        return {"status": outcome, **counts}

    async def scan_now(self, manifest_id: int, scan_type: str) -> ScanRecord | None:
        """Scan in this process, without the job queue (``dockyard scan``)."""
        await self.request(manifest_id, scan_type, enqueue=False)
        await self.run_job({"manifest_id": manifest_id, "scan_type": scan_type})
        return await self.get(manifest_id)

    async def inventory_of(self, manifest_id: int) -> tuple[Inventory, dict[str, int]]:
        """The image's packages, from cached layer results where there are some; also how many
        layers were analyzed now and how many came from the cache."""
        row = await self._manifest(manifest_id)
        if row is None:
            raise ImageGone()
        if row.media_type in INDEXES:
            raise Unsupported(UNSUPPORTED_INDEX)
        doc = json.loads(row.content)
        config_desc = doc.get("config") or {}
        if config_desc.get("mediaType", row.config_media_type) not in IMAGE_CONFIGS:
            raise Unsupported(UNSUPPORTED_ARTIFACT)
        layers = [
            d
            for d in doc.get("layers") or []
            if not any(marker in str(d.get("mediaType", "")) for marker in FOREIGN_LAYER_MARKERS)
        ]
        digests = [str(d["digest"]) for d in layers]
        keys = await self._blob_keys([*digests, str(config_desc.get("digest"))])
        image_config: dict[str, Any] = {}
        config_key = keys.get(str(config_desc.get("digest")))
        if config_key is not None:
            image_config = json.loads(await self._read_small(config_key))
        diff_ids = list((image_config.get("rootfs") or {}).get("diff_ids") or [])
        results, analyzed = await self._layer_results(digests, keys, diff_ids)

        from dockyard.features.scanning.apply import apply_layers

        inventory = apply_layers([(d, results[d]) for d in digests])
        return inventory, {"layers": len(digests), "analyzed": analyzed, "cached": len(digests) - analyzed}

    async def _layer_results(
        self, digests: list[str], keys: dict[str, str], diff_ids: list[str]
    ) -> tuple[dict[str, Any], int]:
        """Each layer's analysis: from the cache, else streamed from the blob store (bounded memory)."""
        from dockyard.features.scanning.layers import ANALYZER_VERSION, LayerResult, analyze_blob

        sl = t.scan_layers
        results: dict[str, Any] = {}
        if digests:
            async with self.db.read() as conn:
                rows = await conn.execute(
                    sa.select(sl.c.digest, sl.c.result).where(
                        sl.c.digest.in_(digests), sl.c.analyzer_version == ANALYZER_VERSION
                    )
                )
                for r in rows:
                    results[r.digest] = LayerResult.from_json(r.result)
        analyzed = 0
        for index, digest in enumerate(digests):
            if digest in results:
                continue
            key = keys.get(digest)
            if key is None:
                raise FileNotFoundError(f"layer {digest} is not stored in this registry")
            expected = diff_ids[index] if index < len(diff_ids) else None
            result = await analyze_blob(self._stream(key), expected_diff_id=expected or None)
            self.layers_analyzed += 1
            async with self.db.write() as conn:
                await conn.execute(
                    self.db.insert_ignore(sl).values(
                        digest=digest,
                        analyzer_version=ANALYZER_VERSION,
                        diff_id=result.diff_id,
                        result=result.to_json(),
                        analyzed_at=t.now(),
                    )
                )
            results[digest] = result
            analyzed += 1
        return results, analyzed

    async def _stream(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in self.registry.store.read(key):
            yield chunk

    async def _finish(self, manifest_id: int, scan_type: str, inventory: Inventory) -> str:
        """Match and record: COMPLETE, or UNSUPPORTED_IMAGE for a BASIC scan that found no OS."""
        if inventory.os is None and scan_type == sc.BASIC:
            await self._store(
                manifest_id, UNSUPPORTED_IMAGE, UNSUPPORTED_OS, scan_type, inventory, None, None
            )
            return UNSUPPORTED_IMAGE
        updated_at = await self.vulndb_updated_at()
        matched = fx.for_scan_type(await self.match(inventory), scan_type)
        await self._store(
            manifest_id, COMPLETE, COMPLETE_DESCRIPTION, scan_type, inventory, matched, updated_at
        )
        return COMPLETE

    async def _store(
        self,
        manifest_id: int,
        status: str,
        description: str,
        scan_type: str,
        inventory: Inventory,
        matched: list[Finding] | None,
        vulndb_updated_at: datetime | None,
    ) -> None:
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

    async def _set_status(self, manifest_id: int, status: str, description: str) -> None:
        s = t.image_scans
        async with self.db.write() as conn:
            await conn.execute(
                s.update()
                .where(s.c.manifest_id == manifest_id)
                .values(status=status, description=description, completed_at=clock.now())
            )

    # ---------------------------------------------------------------- continuous rescans
    async def rescan_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Re-match stored inventories against a changed vulnerability database, for images whose
        repository scans continuously (or on push); no layer is read again. Archived images, and
        images past the server's scan eligibility (``scan_eligibility_days``), are skipped."""
        current = await self.vulndb_updated_at()
        if current is None:
            return {"rematched": 0}
        s, m, r = t.image_scans, t.manifests, t.repositories
        after, rematched = 0, 0
        configs: dict[str, sc.RegistryScanningConfig] = {}
        conditions = [
            s.c.status.in_([COMPLETE, UNSUPPORTED_IMAGE]),
            s.c.inventory.is_not(None),
            m.c.storage_class != ARCHIVE,  # archived images are not scanned until restored
        ]
        cutoff = self.eligibility_cutoff()
        if cutoff is not None:  # past the re-scan duration: no longer re-matched
            conditions.append(m.c.pushed_at >= cutoff)
        while True:
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
                        .select_from(
                            s.join(m, m.c.id == s.c.manifest_id).join(r, r.c.id == m.c.repository_id)
                        )
                        .where(*conditions, s.c.manifest_id > after)
                        .order_by(s.c.manifest_id)
                        .limit(RESCAN_BATCH)
                    )
                ).all()
            if not rows:
                break
            after = rows[-1].manifest_id
            for row in rows:
                if row.vulndb_updated_at == current:
                    continue
                if row.account_id not in configs:
                    configs[row.account_id] = await self.registry_config(row.account_id)
                scanning = sc.effective(configs[row.account_id], row.name, bool(row.scan_on_push))
                if not scanning.rescans:
                    continue
                if row.status == UNSUPPORTED_IMAGE and scanning.scan_type == sc.BASIC:
                    continue
                await self.rematch(row.manifest_id, scanning.scan_type)
                rematched += 1
        return {"rematched": rematched}

    async def rematch(self, manifest_id: int, scan_type: str) -> str | None:
        """Match an image's stored inventory again (no layer is read)."""
        s = t.image_scans
        async with self.db.read() as conn:
            raw = await conn.scalar(sa.select(s.c.inventory).where(s.c.manifest_id == manifest_id))
        if raw is None:
            return None
        return await self._finish(manifest_id, scan_type, Inventory.from_json(raw))

    async def nudge_rescan(self, record: ScanRecord, scanning: sc.RepositoryScanning) -> None:
        """Between periodic runs, a read of stale findings of a continuously scanned image asks
        for the rescan at once (one job at a time, shared with the scheduler's)."""
        if record.status != COMPLETE or not scanning.rescans:
            return
        current = await self.vulndb_updated_at()
        if current is not None and current != record.vulndb_updated_at:
            await self.registry.enqueue(RESCAN_JOB, {}, unique_key=f"periodic:{RESCAN_JOB}")
