"""`VulnDb`: the offline vulnerability database as the scan worker and the CLI use it.

Matching does one query per (ecosystem, chunk of package names) — `package_name IN (...)` on the
(ecosystem, package_name) index — instead of one per package, because an image easily has a
few hundred packages and a rescan after an import re-matches every stored inventory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dockyard.features.scanning import matcher
from dockyard.features.scanning.matcher import Advisory, Affected
from dockyard.features.scanning.model import Finding, Inventory
from dockyard.features.scanning.vulndb import importer
from dockyard.features.scanning.vulndb.importer import ImportStats
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

log = logging.getLogger(__name__)

NAMES_PER_QUERY = 500  # stays well under SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class SourceInfo:
    name: str
    imported_at: datetime
    records: int
    sha256: str | None


@dataclass(frozen=True, slots=True)
class DbInfo:
    """What `dockyard vulndb info` prints."""

    advisories: int
    affected_by_ecosystem: dict[str, int]  # exact ecosystem -> affected[] rows
    sources: list[SourceInfo]
    updated_at: datetime | None


def _seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class VulnDb:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def import_paths(
        self,
        paths: list[str],
        *,
        fmt: str = "osv",
        progress: Callable[[str], None] | None = None,
        force: bool = False,
    ) -> ImportStats:
        """Import OSV zips/directories/files (or tracker/secdb JSON); `force` re-reads unchanged inputs."""
        return await importer.import_paths(self.db, paths, fmt=fmt, progress=progress, force=force)

    async def updated_at(self) -> datetime | None:
        """Newest import time: ECR's vulnerabilitySourceUpdatedAt."""
        async with self.db.read() as conn:
            value = await conn.scalar(sa.select(sa.func.max(t.vuln_sources.c.imported_at)))
        return _as_utc(value)

    async def info(self) -> DbInfo:
        adv, aff, src = t.vuln_advisories, t.vuln_affected, t.vuln_sources
        async with self.db.read() as conn:
            total = int(await conn.scalar(sa.select(sa.func.count()).select_from(adv)) or 0)
            per_eco = (
                await conn.execute(
                    sa.select(aff.c.ecosystem, sa.func.count())
                    .group_by(aff.c.ecosystem)
                    .order_by(aff.c.ecosystem)
                )
            ).all()
            sources = (await conn.execute(sa.select(src).order_by(src.c.name))).all()
        infos = [
            SourceInfo(r.name, _as_utc(r.imported_at) or r.imported_at, r.records, r.sha256) for r in sources
        ]
        return DbInfo(
            advisories=total,
            affected_by_ecosystem={eco: int(n) for eco, n in per_eco},
            sources=infos,
            updated_at=max((s.imported_at for s in infos), default=None),
        )

    async def match(self, inventory: Inventory, *, ecosystems: set[str] | None = None) -> list[Finding]:
        """Findings for an inventory, most severe first then by id.

        `ecosystems` limits matching to packages whose ecosystem is listed, exactly ("Debian:12")
        or by its base ("Debian"); None means every ecosystem.
        """
        wanted: dict[str, set[str]] = {}
        packages = []
        for pkg in inventory.packages:
            key = matcher.lookup_key(pkg)
            if key is None:
                continue
            eco, name, _version = key
            if ecosystems is not None and eco not in ecosystems and eco.split(":", 1)[0] not in ecosystems:
                continue
            wanted.setdefault(eco, set()).add(name)
            packages.append(pkg)
        if not packages:
            return []
        entries, advisories = await self._lookup(wanted)
        return matcher.match_packages(packages, entries, advisories)

    async def _lookup(
        self, wanted: Mapping[str, Iterable[str]]
    ) -> tuple[dict[tuple[str, str], list[Affected]], dict[str, Advisory]]:
        adv, aff = t.vuln_advisories, t.vuln_affected
        entries: dict[tuple[str, str], list[Affected]] = {}
        advisories: dict[str, Advisory] = {}
        query = sa.select(
            aff.c.advisory_id,
            aff.c.ecosystem,
            aff.c.package_name,
            aff.c.ranges,
            aff.c.versions,
            aff.c.ecosystem_specific,
            aff.c.database_specific,
            aff.c.severity,
        )
        async with self.db.read() as conn:
            for eco, names in wanted.items():
                ordered = sorted(names)
                for i in range(0, len(ordered), NAMES_PER_QUERY):
                    chunk = ordered[i : i + NAMES_PER_QUERY]
                    rows = (
                        await conn.execute(
                            query.where(
                                aff.c.ecosystem == eco,
                                aff.c.package_name.in_(chunk),
                                sa.not_(aff.c.advisory_id.startswith("MAL-")),
                            )
                        )
                    ).all()
                    for r in rows:
                        entries.setdefault((r.ecosystem, r.package_name), []).append(
                            Affected(
                                advisory_id=r.advisory_id,
                                ecosystem=r.ecosystem,
                                package_name=r.package_name,
                                ranges=_seq(r.ranges),
                                versions=_seq(r.versions),
                                ecosystem_specific=_map(r.ecosystem_specific),
                                database_specific=_map(r.database_specific),
                                severity=_seq(r.severity),
                            )
                        )
            ids = sorted({e.advisory_id for group in entries.values() for e in group})
            for i in range(0, len(ids), NAMES_PER_QUERY):
                rows = (
                    await conn.execute(sa.select(adv).where(adv.c.id.in_(ids[i : i + NAMES_PER_QUERY])))
                ).all()
                for r in rows:
                    advisories[r.id] = Advisory(
                        id=r.id,
                        modified=_as_utc(r.modified),
                        published=_as_utc(r.published),
                        summary=r.summary,
                        details=r.details,
                        aliases=_seq(r.aliases),
                        upstream=_seq(r.upstream),
                        related=_seq(r.related),
                        severity=_seq(r.severity),
                        references=_seq(r.references),
                        database_specific=_map(r.database_specific),
                    )
        return entries, advisories


def _as_utc(value: datetime | None) -> datetime | None:
    """Reads on SQLite skip the column type's tz handling when run inline; make sure it's aware."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
