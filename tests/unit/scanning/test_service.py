"""ScanService on a real Registry (SQLite + filesystem), with detection and the vulnerability
database replaced by small fakes: scan on push only enqueues, the job records its outcome,
layer results are cached per digest, StartImageScan's 24-hour quota, and continuous rescans
re-match stored inventories without reading a layer."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dockyard import clock
from dockyard.core.repositories import Repository
from dockyard.ecr.shapes import scan_findings_summary, scan_status
from dockyard.features import scanning
from dockyard.features.scanning import config as sc
from dockyard.features.scanning import service as svc
from dockyard.features.scanning.model import OS, PYTHONPKG, Finding, Inventory, OsInfo, Package
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import run, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DEBIAN = {"id": "debian", "version_id": "12", "ecosystem": "Debian:12"}


# ------------------------------------------------------------------------------ fakes
@dataclass
class FakeResult:
    diff_id: str
    content: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"diff_id": self.diff_id, "content": self.content}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FakeResult:
        return cls(data["diff_id"], data["content"])


class Fakes:
    """Fake `layers`, `apply` and VulnDb: a layer blob is JSON {"os", "packages"}."""

    def __init__(self) -> None:
        self.analyzed: list[str] = []
        self.fail = False
        self.advisories: dict[str, tuple[str, str, str | None]] = {}
        self.updated: datetime | None = datetime(2026, 1, 1, tzinfo=UTC)

    async def analyze_blob(
        self, chunks: AsyncIterator[bytes], *, expected_diff_id: str | None = None
    ) -> FakeResult:
        data = b"".join([c async for c in chunks])
        if self.fail:
            raise ValueError("not a tar")
        self.analyzed.append(sha256(data))
        return FakeResult(sha256(data), json.loads(data))

    def apply_layers(self, pairs: list[tuple[str, FakeResult]]) -> Inventory:
        os_info: OsInfo | None = None
        packages: list[Package] = []
        for digest, result in pairs:
            if result.content.get("os"):
                os_info = OsInfo.from_json(result.content["os"])
            for p in result.content.get("packages", []):
                packages.append(Package.from_json({**p, "layer_digest": digest}))
        return Inventory(os_info, packages)

    async def updated_at(self) -> datetime | None:
        return self.updated

    async def match(self, inventory: Inventory) -> list[Finding]:
        out = []
        for p in inventory.packages:
            if p.name in self.advisories:
                vid, severity, fixed = self.advisories[p.name]
                out.append(
                    Finding(vid, p, severity, f"{vid} in {p.name}", f"https://x/{vid}", (vid,), fixed, "OSV")
                )
        return out


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    fake = Fakes()
    layers = types.ModuleType("dockyard.features.scanning.layers")
    layers.ANALYZER_VERSION = 1  # type: ignore[attr-defined]
    layers.LayerResult = FakeResult  # type: ignore[attr-defined]
    layers.analyze_blob = fake.analyze_blob  # type: ignore[attr-defined]
    apply = types.ModuleType("dockyard.features.scanning.apply")
    apply.apply_layers = fake.apply_layers  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.features.scanning.layers", layers)
    monkeypatch.setitem(sys.modules, "dockyard.features.scanning.apply", apply)
    monkeypatch.setattr(svc.ScanService, "vulndb", lambda self: fake)
    return fake


# ------------------------------------------------------------------------------ helpers
def pkg(name: str, version: str, manager: str = OS) -> dict[str, Any]:
    eco = "Debian:12" if manager == OS else "PyPI"
    return {"name": name, "version": version, "ecosystem": eco, "package_manager": manager, "file_path": "x"}


def layer(os: dict[str, str] | None, *packages: dict[str, Any]) -> bytes:
    return json.dumps({"os": os, "packages": list(packages)}, sort_keys=True).encode()


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def push(registry: Registry, repo: Repository, tag: str, layers: list[bytes]) -> int:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in layers]}}).encode()
    for blob in [config, *layers]:
        await registry.blobs.put_monolithic(repo, sha256(blob), one(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(b), "size": len(b)}
                for b in layers
            ],
        }
    ).encode()
    await registry.manifests.put(repo, tag, manifest, OCI_MANIFEST)
    m = t.manifests
    async with registry.db.read() as conn:
        found = await conn.scalar(sa.select(m.c.id).where(m.c.digest == sha256(manifest)))
    assert found is not None
    return int(found)


async def run_jobs(registry: Registry) -> list[dict[str, Any]]:
    """Run every queued scan job in this process (no worker runs in unit tests)."""
    handlers = scanning.job_handlers(registry)
    results = []
    while (job := await registry.jobs.claim(list(handlers), 60)) is not None:
        result = await handlers[job.kind](job.payload)
        await registry.jobs.complete(job.id, result)
        results.append(result)
    return results


BASE = layer(DEBIAN, pkg("openssl", "3.0.11-1~deb12u1"), pkg("zlib1g", "1:1.2.13.dfsg-1"))
APP = layer(None, pkg("urllib3", "2.0.5", PYTHONPKG))


# ------------------------------------------------------------------------------ tests
def test_scan_on_push_enqueues_and_the_job_completes(tmp_path: Path, fakes: Fakes) -> None:
    fakes.advisories = {
        "openssl": ("CVE-2023-5363", "HIGH", "3.0.11-1~deb12u2"),
        "urllib3": ("CVE-2023-43804", "MEDIUM", "2.0.6"),
    }

    async def go(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "team/app", scan_on_push=True)
        quiet = await registry.repositories.create(account, "team/quiet")
        manifest_id = await push(registry, repo, "v1", [BASE, APP])
        await push(registry, quiet, "v1", [BASE])
        # The push only queued the scan: nothing was analyzed yet.
        record = await registry.scans.get(manifest_id)
        assert record is not None and record.status == svc.IN_PROGRESS
        assert fakes.analyzed == []
        [result] = await run_jobs(registry)  # the quiet repository queued nothing
        assert result == {"status": "COMPLETE", "layers": 2, "analyzed": 2, "cached": 0}
        record = await registry.scans.get(manifest_id)
        assert record is not None and record.status == svc.COMPLETE
        # BASIC: OS packages only.
        assert [f.vulnerability_id for f in record.findings()] == ["CVE-2023-5363"]
        assert record.severity_counts == {"HIGH": 1}
        assert record.vulndb_updated_at == fakes.updated
        summary = scan_findings_summary(record)
        assert summary is not None and summary["findingSeverityCounts"] == {"HIGH": 1}

        # A second image sharing the base layer analyzes only its new layer.
        other = layer(None, pkg("requests", "2.31.0", PYTHONPKG))
        second = await push(registry, repo, "v2", [BASE, other])
        [result] = await run_jobs(registry)
        assert result["analyzed"] == 1 and result["cached"] == 1
        assert fakes.analyzed.count(sha256(BASE)) == 1
        assert (await registry.scans.get(second)).status == svc.COMPLETE  # type: ignore[union-attr]

    run(tmp_path, go)


def test_registry_rules_enhanced_and_unsupported(tmp_path: Path, fakes: Fakes) -> None:
    fakes.advisories = {"urllib3": ("CVE-2023-43804", "MEDIUM", "2.0.6")}

    async def go(registry: Registry) -> None:
        account = registry.settings.account_id
        await registry.scans.put_registry_config(
            account,
            sc.parse(
                "ENHANCED",
                [
                    {
                        "scanFrequency": "SCAN_ON_PUSH",
                        "repositoryFilters": [{"filter": "prod", "filterType": "WILDCARD"}],
                    }
                ],
            ),
        )
        repo = await registry.repositories.create(account, "prod-app")
        manifest_id = await push(registry, repo, "v1", [BASE, APP])
        scratch_id = await push(registry, repo, "scratch", [layer(None)])
        await run_jobs(registry)
        record = await registry.scans.get(manifest_id)
        assert record is not None and record.scan_type == "ENHANCED"
        assert [f.package.name for f in record.findings()] == ["urllib3"]
        # ENHANCED reports an OS-less image as scanned; BASIC calls it unsupported.
        assert (await registry.scans.get(scratch_id)).status == svc.COMPLETE  # type: ignore[union-attr]
        await registry.scans.put_registry_config(account, sc.parse("BASIC", []))
        await registry.scans.request(scratch_id, "BASIC")
        await run_jobs(registry)
        record = await registry.scans.get(scratch_id)
        assert record is not None
        assert (record.status, record.description) == (svc.UNSUPPORTED_IMAGE, svc.UNSUPPORTED_OS)
        assert scan_findings_summary(record) is None

    run(tmp_path, go)


def test_failed_scan_and_manual_quota(tmp_path: Path, fakes: Fakes) -> None:
    async def go(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "team/app")
        manifest_id = await push(registry, repo, "v1", [BASE])
        assert await registry.scans.get(manifest_id) is None  # manual repository: no scan on push
        fakes.fail = True
        await registry.scans.request(manifest_id, "BASIC", manual=True)
        await run_jobs(registry)
        record = await registry.scans.get(manifest_id)
        assert record is not None and record.status == svc.FAILED
        assert record.description is not None and "not a tar" in record.description
        # Once per image per 24 hours.
        with pytest.raises(svc.QuotaExceeded):
            await registry.scans.request(manifest_id, "BASIC", manual=True)
        clock.set_offset(25 * 3600)
        try:
            fakes.fail = False
            await registry.scans.request(manifest_id, "BASIC", manual=True)
            with pytest.raises(svc.QuotaExceeded):
                await registry.scans.request(manifest_id, "BASIC", manual=True)
        finally:
            clock.set_offset(0)
        await run_jobs(registry)
        assert (await registry.scans.get(manifest_id)).status == svc.COMPLETE  # type: ignore[union-attr]

    run(tmp_path, go)


def test_continuous_rescan_rematches_without_reading_layers(tmp_path: Path, fakes: Fakes) -> None:
    async def go(registry: Registry) -> None:
        account = registry.settings.account_id
        await registry.scans.put_registry_config(
            account,
            sc.parse(
                "ENHANCED",
                [
                    {
                        "scanFrequency": "CONTINUOUS_SCAN",
                        "repositoryFilters": [{"filter": "live/*", "filterType": "WILDCARD"}],
                    }
                ],
            ),
        )
        live = await registry.repositories.create(account, "live/app")
        manual = await registry.repositories.create(account, "other/app")
        live_id = await push(registry, live, "v1", [BASE, APP])
        manual_id = await push(registry, manual, "v1", [BASE])
        await registry.scans.request(manual_id, "ENHANCED", manual=True)
        await run_jobs(registry)
        analyzed = list(fakes.analyzed)
        assert (await registry.scans.get(live_id)).findings() == []  # type: ignore[union-attr]

        # Nothing changed in the database: nothing to re-match.
        assert await registry.scans.rescan_job({}) == {"rematched": 0}
        fakes.advisories = {"zlib1g": ("CVE-2023-45853", "CRITICAL", None)}
        fakes.updated = datetime(2026, 2, 1, tzinfo=UTC)
        assert await registry.scans.rescan_job({}) == {"rematched": 1}
        record = await registry.scans.get(live_id)
        assert record is not None and [f.vulnerability_id for f in record.findings()] == ["CVE-2023-45853"]
        assert record.vulndb_updated_at == fakes.updated
        # The manually scanned image keeps its old result; no layer was read again.
        assert (await registry.scans.get(manual_id)).findings() == []  # type: ignore[union-attr]
        assert fakes.analyzed == analyzed
        assert await registry.scans.rescan_job({}) == {"rematched": 0}

    run(tmp_path, go)


def test_index_and_push_hook_failure(tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go(registry: Registry) -> None:
        account = registry.settings.account_id
        repo = await registry.repositories.create(account, "team/app", scan_on_push=True)

        async def broken(*args: Any) -> None:
            raise RuntimeError("database is on fire")

        monkeypatch.setattr(registry.scans, "request", broken)
        manifest_id = await push(registry, repo, "v1", [BASE])  # the push still succeeds
        assert await registry.scans.get(manifest_id) is None
        monkeypatch.undo()
        await run_jobs(registry)

        m = t.manifests
        async with registry.db.read() as conn:
            digest = await conn.scalar(sa.select(m.c.digest).where(m.c.id == manifest_id))
            content = await conn.scalar(sa.select(m.c.content).where(m.c.id == manifest_id))
        assert content is not None
        size = len(content)
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": size}],
            }
        ).encode()
        await registry.manifests.put(repo, "multi", index, None)
        async with registry.db.read() as conn:
            index_id = await conn.scalar(sa.select(m.c.id).where(m.c.digest == sha256(index)))
            queued = await conn.scalar(
                sa.select(sa.func.count()).select_from(t.jobs).where(t.jobs.c.status == "queued")
            )
        assert queued == 0  # indexes are not scanned on push
        assert index_id is not None
        await registry.scans.request(index_id, "BASIC")
        await run_jobs(registry)
        record = await registry.scans.get(index_id)
        assert record is not None and record.status == svc.UNSUPPORTED_IMAGE

    run(tmp_path, go)


# ------------------------------------------------------------------------------ derived statuses
async def set_storage_class(registry: Registry, repo: str, tag: str, target: str) -> None:
    from dockyard.core.images import ImageId, ImageService

    service = ImageService(registry.db, registry.repositories)
    await service.set_storage_class(registry.settings.account_id, repo, ImageId(None, tag), target)


async def continuous(registry: Registry, pattern: str) -> None:
    rule = {
        "scanFrequency": "CONTINUOUS_SCAN",
        "repositoryFilters": [{"filter": pattern, "filterType": "WILDCARD"}],
    }
    await registry.scans.put_registry_config(registry.settings.account_id, sc.parse("ENHANCED", [rule]))


def test_archived_image_reports_image_archived_until_restored(tmp_path: Path, fakes: Fakes) -> None:
    fakes.advisories = {"openssl": ("CVE-2023-5363", "HIGH", "3.0.11-1~deb12u2")}

    async def go(registry: Registry) -> None:
        await continuous(registry, "live/*")
        repo = await registry.repositories.create(registry.settings.account_id, "live/app")
        manifest_id = await push(registry, repo, "v1", [BASE])
        other_id = await push(registry, repo, "v2", [BASE, APP])
        await run_jobs(registry)
        before = await registry.scans.get(manifest_id)
        assert before is not None and before.status == svc.COMPLETE

        await set_storage_class(registry, "live/app", "v1", "ARCHIVE")
        record = await registry.scans.get(manifest_id)
        assert record is not None
        assert (record.status, record.description) == (svc.IMAGE_ARCHIVED, svc.ARCHIVED_DESCRIPTION)
        assert scan_status(record) == {"status": "IMAGE_ARCHIVED", "description": svc.ARCHIVED_DESCRIPTION}
        assert record.stored_status == svc.COMPLETE and not record.has_findings
        assert scan_findings_summary(record) is None
        many = await registry.scans.get_many([manifest_id, other_id], with_findings=False)
        assert (many[manifest_id].status, many[other_id].status) == (svc.IMAGE_ARCHIVED, svc.COMPLETE)
        # The scan row itself is untouched.
        async with registry.db.read() as conn:
            stored = await conn.scalar(
                sa.select(t.image_scans.c.status).where(t.image_scans.c.manifest_id == manifest_id)
            )
        assert stored == svc.COMPLETE

        # Continuous rescans skip it (the active image is re-matched).
        fakes.updated = datetime(2026, 2, 1, tzinfo=UTC)
        assert await registry.scans.rescan_job({}) == {"rematched": 1}
        assert (await registry.scans.get(other_id)).vulndb_updated_at == fakes.updated  # type: ignore[union-attr]

        # Restored: its stored scan shows again, and the next rescan covers it.
        await set_storage_class(registry, "live/app", "v1", "STANDARD")
        record = await registry.scans.get(manifest_id)
        assert (
            record is not None
            and record.status == svc.COMPLETE
            and record.description == svc.COMPLETE_DESCRIPTION
        )
        assert record.vulndb_updated_at == before.vulndb_updated_at
        assert [f.vulnerability_id for f in record.findings()] == ["CVE-2023-5363"]
        assert await registry.scans.rescan_job({}) == {"rematched": 1}
        assert (await registry.scans.get(manifest_id)).vulndb_updated_at == fakes.updated  # type: ignore[union-attr]

    run(tmp_path, go)


def test_scan_eligibility_expires_after_the_configured_days(tmp_path: Path, fakes: Fakes) -> None:
    fakes.advisories = {"openssl": ("CVE-2023-5363", "HIGH", "3.0.11-1~deb12u2")}

    async def go(registry: Registry) -> None:
        account = registry.settings.account_id
        await continuous(registry, "live/*")
        live = await registry.repositories.create(account, "live/app")
        manual = await registry.repositories.create(account, "other/app")
        live_id = await push(registry, live, "v1", [BASE])
        manual_id = await push(registry, manual, "v1", [BASE, APP])
        await registry.scans.request(manual_id, "ENHANCED", manual=True)
        await run_jobs(registry)

        # The default (0): a lifetime; nothing ever expires.
        assert registry.settings.scan_eligibility_days == 0
        clock.set_offset(400 * 86400)
        try:
            assert (await registry.scans.get(live_id)).status == svc.COMPLETE  # type: ignore[union-attr]
            fakes.updated = datetime(2026, 2, 1, tzinfo=UTC)
            assert await registry.scans.rescan_job({}) == {"rematched": 1}
        finally:
            clock.set_offset(0)

        registry.settings = dataclasses.replace(registry.settings, scan_eligibility_days=30)
        # Pushed a moment ago: still eligible.
        assert (await registry.scans.get(live_id)).status == svc.COMPLETE  # type: ignore[union-attr]
        clock.set_offset(31 * 86400)
        try:
            record = await registry.scans.get(live_id)
            assert record is not None
            assert record.status == svc.SCAN_ELIGIBILITY_EXPIRED
            assert record.description is not None and "30 days" in record.description
            # Its last findings stay readable.
            assert record.has_findings
            assert [f.vulnerability_id for f in record.findings()] == ["CVE-2023-5363"]
            summary = scan_findings_summary(record)
            assert summary is not None and summary["findingSeverityCounts"] == {"HIGH": 1}
            # No longer re-matched, even when the database changes.
            fakes.updated = datetime(2026, 3, 1, tzinfo=UTC)
            fakes.advisories["zlib1g"] = ("CVE-2023-45853", "CRITICAL", None)
            assert await registry.scans.rescan_job({}) == {"rematched": 0}
            assert (await registry.scans.get(live_id)).findings_json == record.findings_json  # type: ignore[union-attr]
            # An image that is never re-scanned (a manual repository) has nothing to expire.
            assert (await registry.scans.get(manual_id)).status == svc.COMPLETE  # type: ignore[union-attr]
            # A requested scan shows IN_PROGRESS, not expired.
            assert (await registry.scans.request(live_id, "ENHANCED")).status == svc.IN_PROGRESS
            # Archived wins over expired.
            await run_jobs(registry)
            await set_storage_class(registry, "live/app", "v1", "ARCHIVE")
            assert (await registry.scans.get(live_id)).status == svc.IMAGE_ARCHIVED  # type: ignore[union-attr]
        finally:
            clock.set_offset(0)

    run(tmp_path, go)
