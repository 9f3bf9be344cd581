"""Load OSV records (and Debian tracker / Alpine secdb data converted to OSV) into the database.

Inputs are read as streams of records: an OSV `all.zip` member by member (never extracted, each
member's size capped, `..`/absolute member names refused), a directory of `*.json`, or a single
JSON file. Records are written in transactions of BATCH records so that scans matching against
the database while an import runs (SQLite: one writer, WAL readers) never wait long.

A record replaces the stored one with the same id only when its `modified` is newer (OSV's own
update rule), withdrawn records are deleted, and malformed ones are counted and skipped so one bad
member doesn't abort an import of hundreds of thousands.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import sqlalchemy as sa

from dockyard.features.scanning.versions import normalize_name
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

log = logging.getLogger(__name__)

BATCH = 500  # records per write transaction
MAX_RECORD_BYTES = 32 * 1024 * 1024  # one OSV record; Debian ones with long versions lists are a few MB
FORMATS = ("osv", "debian-tracker", "alpine-secdb")

Progress = Callable[[str], None]


@dataclass(slots=True)
class ImportStats:
    """What an import did, per record; `sources` are the vuln_sources names it touched."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    skipped: int = 0  # malformed records and refused zip members
    sources: list[str] = field(default_factory=list)
    files_unchanged: int = 0  # inputs whose sha256 matched an earlier import (not read again)

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged + self.withdrawn + self.skipped


class ImportError_(ValueError):
    """An input that can't be imported at all (missing, unreadable, not the format asked for)."""


# ----------------------------------------------------------------------------- reading
class _Malformed:
    """Marker the readers yield for a record that failed to parse (counted, not raised)."""

    def __init__(self, where: str, why: str) -> None:
        self.where, self.why = where, why


Item = dict[str, Any] | _Malformed


def safe_member(name: str) -> bool:
    """Zip member names we read: relative, no `..`, no drive letters or backslash tricks."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    if re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


def _decode(raw: bytes, where: str) -> Iterator[Item]:
    if len(raw) > MAX_RECORD_BYTES:
        yield _Malformed(where, "too large")
        return
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        yield _Malformed(where, f"invalid JSON: {e}")
        return
    if isinstance(data, list):  # an OSV API batch / several records in one file
        for i, item in enumerate(data):
            yield item if isinstance(item, dict) else _Malformed(f"{where}[{i}]", "not an object")
    elif isinstance(data, dict):
        yield data
    else:
        yield _Malformed(where, "not an object")


def read_osv(path: Path) -> Iterator[Item]:
    """Every record in an OSV zip, directory or JSON file, in a stable order."""
    if path.is_dir():
        for p in sorted(path.rglob("*.json")):
            if p.is_file() and not p.is_symlink():
                with p.open("rb") as f:
                    yield from _decode(f.read(MAX_RECORD_BYTES + 1), str(p))
        return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.lower().endswith(".json"):
                    continue
                where = f"{path.name}:{info.filename}"
                if not safe_member(info.filename):
                    yield _Malformed(where, "unsafe member path")
                    continue
                if info.file_size > MAX_RECORD_BYTES:
                    yield _Malformed(where, "too large")
                    continue
                try:
                    with zf.open(info) as f:
                        raw = f.read(MAX_RECORD_BYTES + 1)  # the header's size may lie
                except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as e:
                    yield _Malformed(where, f"unreadable member: {e}")
                    continue
                yield from _decode(raw, where)
        return
    with path.open("rb") as f:
        yield from _decode(f.read(MAX_RECORD_BYTES + 1), str(path))


def _load_json(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImportError_(f"{path}: invalid JSON: {e}") from None


# Debian release codenames -> OSV release numbers (distro-info-data's debian.csv).
DEBIAN_RELEASES = {
    "buzz": "1.1", "rex": "1.2", "bo": "1.3", "hamm": "2.0", "slink": "2.1", "potato": "2.2",
    "woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7",
    "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12",
    "trixie": "13", "forky": "14", "duke": "15", "sid": "sid",
}  # fmt: skip


def read_debian_tracker(path: Path) -> Iterator[Item]:
    """OSV-shaped DEBIAN-CVE-… records from the security tracker's JSON, like OSV's converter.

    open/undetermined -> introduced 0 only (every version affected); resolved -> fixed at
    fixed_version; fixed_version "0" -> that release is not affected; TEMP- ids are skipped.
    """
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ImportError_(f"{path}: not a Debian security tracker JSON object")
    records: dict[str, dict[str, Any]] = {}
    for src, cves in data.items():
        if not isinstance(cves, dict):
            yield _Malformed(f"{path}:{src}", "package entry is not an object")
            continue
        for cve, info in cves.items():
            if not str(cve).startswith("CVE-"):
                continue
            if not isinstance(info, dict) or not isinstance(info.get("releases"), dict):
                yield _Malformed(f"{path}:{src}/{cve}", "no releases")
                continue
            affected = []
            for codename, rel in sorted(info["releases"].items()):
                number = DEBIAN_RELEASES.get(codename)
                if number is None or not isinstance(rel, dict):
                    continue
                status, fixed = rel.get("status"), rel.get("fixed_version")
                if status == "resolved" and fixed == "0":
                    continue
                events: list[dict[str, str]] = [{"introduced": "0"}]
                if status == "resolved" and isinstance(fixed, str) and fixed:
                    events.append({"fixed": fixed})
                elif status == "resolved":
                    continue
                entry: dict[str, Any] = {
                    "package": {"ecosystem": f"Debian:{number}", "name": src},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                }
                if isinstance(rel.get("urgency"), str):
                    entry["ecosystem_specific"] = {"urgency": rel["urgency"]}
                affected.append(entry)
            record = records.setdefault(
                cve,
                {
                    "id": f"DEBIAN-CVE-{cve[4:]}",
                    "upstream": [cve],
                    "affected": [],
                    "details": info.get("description") or None,
                },
            )
            record["affected"].extend(affected)
    for cve in sorted(records):
        if records[cve]["affected"]:
            yield records[cve]


def read_alpine_secdb(path: Path) -> Iterator[Item]:
    """OSV-shaped records from one secdb file (`v3.19/main.json`): one per branch, repo and CVE.

    secdb files are per branch and repository, so records are keyed by both: importing
    v3.18/main.json must not overwrite what v3.19/main.json said about the same CVE. A secfixes
    key "0" means "not affected in this branch" and produces nothing.
    """
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("packages"), list):
        raise ImportError_(f"{path}: not an Alpine secdb file (no packages list)")
    branch = str(data.get("distroversion") or "")
    if not re.fullmatch(r"v\d+\.\d+", branch):
        raise ImportError_(f"{path}: unexpected distroversion {branch!r}")
    repo = re.sub(r"[^A-Za-z0-9]+", "-", str(data.get("reponame") or "main"))
    by_cve: dict[str, list[dict[str, Any]]] = {}
    for i, item in enumerate(data["packages"]):
        pkg = item.get("pkg") if isinstance(item, dict) else None
        if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
            yield _Malformed(f"{path}:packages[{i}]", "no pkg.name")
            continue
        secfixes = pkg.get("secfixes") or {}
        if not isinstance(secfixes, dict):
            yield _Malformed(f"{path}:{pkg['name']}", "secfixes is not an object")
            continue
        for fixed, ids in secfixes.items():
            if fixed == "0" or not isinstance(ids, list):
                continue
            for text in ids:
                for cve in re.findall(r"CVE-\d{4}-\d{4,}", str(text)):
                    by_cve.setdefault(cve, []).append(
                        {
                            "package": {"ecosystem": f"Alpine:{branch}", "name": pkg["name"]},
                            "ranges": [
                                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                            ],
                        }
                    )
    for cve in sorted(by_cve):
        yield {
            "id": f"ALPINE-SECDB-{branch}-{repo}-{cve}",
            "upstream": [cve],
            "affected": by_cve[cve],
            "references": [{"type": "ADVISORY", "url": f"https://security.alpinelinux.org/vuln/{cve}"}],
            "_source": f"alpine-secdb:{branch}",
        }


READERS: dict[str, Callable[[Path], Iterator[Item]]] = {
    "osv": read_osv,
    "debian-tracker": read_debian_tracker,
    "alpine-secdb": read_alpine_secdb,
}


# ----------------------------------------------------------------------------- normalising
@dataclass(slots=True)
class Prepared:
    """A record reduced to the rows we store."""

    id: str
    modified: datetime | None
    withdrawn: bool
    source: str
    digest: str  # of the record as stored: replaces records that carry no `modified`
    advisory: dict[str, Any]
    affected: list[dict[str, Any]]


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 as OSV writes it ("2023-11-04T00:30:22Z", fractions, offsets) -> aware UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    when = datetime.fromisoformat(value.strip().replace("z", "Z"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    return value


def prepare(record: dict[str, Any], fmt: str) -> Prepared:
    """Validate one record and build its rows; ValueError when it is malformed."""
    rid = record.get("id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > 128 or rid != rid.strip():
        raise ValueError("missing or invalid id")
    modified = parse_time(record.get("modified"))
    withdrawn = record.get("withdrawn") is not None
    if withdrawn:
        parse_time(record["withdrawn"])
    affected_rows: list[dict[str, Any]] = []
    bases: list[str] = []
    for entry in _list(record.get("affected")) or []:
        if not isinstance(entry, dict):
            raise ValueError("affected[] entry is not an object")
        package = _dict(entry.get("package")) or {}
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str) or not ecosystem or not name:
            continue  # e.g. GIT-only entries naming a repository, not a package
        ranges = _list(entry.get("ranges")) or []
        if any(not isinstance(r, dict) or not isinstance(r.get("events", []), list) for r in ranges):
            raise ValueError("malformed ranges")
        versions = _list(entry.get("versions"))
        # Keep the (for Debian, very long) versions list only when no range can be evaluated.
        if versions and any(r.get("type") in ("ECOSYSTEM", "SEMVER") for r in ranges):
            versions = None
        if versions is not None and not all(isinstance(v, str) for v in versions):
            raise ValueError("versions must be strings")
        affected_rows.append(
            {
                "advisory_id": rid,
                "ecosystem": ecosystem[:128],
                "package_name": normalize_name(ecosystem, name)[:512],
                "ranges": ranges or None,
                "versions": versions or None,
                "ecosystem_specific": _dict(entry.get("ecosystem_specific")),
                "database_specific": _dict(entry.get("database_specific")),
                "severity": _list(entry.get("severity")),
            }
        )
        bases.append(ecosystem.split(":", 1)[0])
    source = record.get("_source")
    if not isinstance(source, str):
        source = "debian-tracker" if fmt == "debian-tracker" else (f"osv:{bases[0]}" if bases else "osv")
    advisory: dict[str, Any] = {
        "id": rid,
        "modified": modified,
        "published": parse_time(record.get("published")),
        "summary": record.get("summary") if isinstance(record.get("summary"), str) else None,
        "details": record.get("details") if isinstance(record.get("details"), str) else None,
        "aliases": _list(record.get("aliases")),
        "upstream": _list(record.get("upstream")),
        "related": _list(record.get("related")),
        "severity": _list(record.get("severity")),
        "references": _list(record.get("references")),
        "database_specific": _dict(record.get("database_specific")),
        "source": source[:128],
    }
    body = json.dumps([advisory, affected_rows], sort_keys=True, default=str).encode()
    digest = hashlib.sha256(body).hexdigest()
    advisory["database_specific"] = {**(advisory["database_specific"] or {}), "dockyard_digest": digest}
    return Prepared(rid, modified, withdrawn, source, digest, advisory, affected_rows)


# ----------------------------------------------------------------------------- writing
def _take(items: Iterator[Item], n: int) -> list[Item]:
    out: list[Item] = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


async def import_paths(
    db: Database,
    paths: list[str],
    *,
    fmt: str = "osv",
    progress: Progress | None = None,
    force: bool = False,
) -> ImportStats:
    """Import every input; see the module docstring for the rules."""
    if fmt not in READERS:
        raise ImportError_(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    say = progress or (lambda _line: None)
    stats = ImportStats()
    for raw_path in paths:
        path = Path(raw_path)
        if not await asyncio.to_thread(path.exists):
            raise ImportError_(f"{path}: no such file or directory")
        sha = await asyncio.to_thread(_sha256, path)
        if sha is not None and not force:
            async with db.read() as conn:
                seen = (
                    (
                        await conn.execute(
                            sa.select(t.vuln_sources.c.name).where(t.vuln_sources.c.sha256 == sha)
                        )
                    )
                    .scalars()
                    .all()
                )
            if seen:
                say(f"{path}: unchanged since the last import ({', '.join(seen)}), skipped")
                stats.files_unchanged += 1
                stats.sources.extend(s for s in seen if s not in stats.sources)
                continue
        await _import_one(db, path, fmt, sha, stats, say)
    return stats


async def _import_one(
    db: Database, path: Path, fmt: str, sha: str | None, stats: ImportStats, say: Progress
) -> None:
    before = (stats.added, stats.updated, stats.unchanged, stats.withdrawn, stats.skipped)
    items = READERS[fmt](path)
    touched: set[str] = set()
    read = 0
    while True:
        chunk = await asyncio.to_thread(_take, items, BATCH)
        if not chunk:
            break
        read += len(chunk)
        prepared: dict[str, Prepared] = {}
        for item in chunk:
            if isinstance(item, _Malformed):
                log.warning("skipping %s: %s", item.where, item.why)
                stats.skipped += 1
                continue
            try:
                p = prepare(item, fmt)
            except (ValueError, TypeError) as e:
                log.warning("skipping malformed record %r in %s: %s", item.get("id"), path, e)
                stats.skipped += 1
                continue
            prev = prepared.get(p.id)
            if prev is None or _newer(p, prev.modified, prev.digest):
                prepared[p.id] = p
            else:
                stats.unchanged += 1
        if prepared:
            touched.update(p.source for p in prepared.values())
            await _write_batch(db, list(prepared.values()), stats)
        say(
            f"{path.name}: {read} records read (added {stats.added - before[0]}, "
            f"updated {stats.updated - before[1]}, unchanged {stats.unchanged - before[2]}, "
            f"withdrawn {stats.withdrawn - before[3]}, skipped {stats.skipped - before[4]})"
        )
    await _record_sources(db, path, sha, touched, stats)
    say(f"{path.name}: done, sources {', '.join(sorted(touched)) or '(none)'}")


def _newer(p: Prepared, old_modified: datetime | None, old_digest: str | None) -> bool:
    """OSV's rule: replace only when `modified` moved forward; records without one by content."""
    if p.modified is not None and old_modified is not None:
        return p.modified > old_modified
    if p.modified is not None:
        return True
    return p.digest != old_digest


async def _write_batch(db: Database, batch: list[Prepared], stats: ImportStats) -> None:
    adv, aff = t.vuln_advisories, t.vuln_affected
    ids = [p.id for p in batch]
    async with db.write() as conn:
        rows = (
            await conn.execute(
                sa.select(adv.c.id, adv.c.modified, adv.c.database_specific).where(adv.c.id.in_(ids))
            )
        ).all()
        existing: dict[str, tuple[datetime | None, str | None]] = {}
        for r in rows:
            extra = r.database_specific if isinstance(r.database_specific, dict) else {}
            existing[r.id] = (r.modified, extra.get("dockyard_digest"))
        delete_ids: list[str] = []
        inserts: list[Prepared] = []
        for p in batch:
            if p.withdrawn:
                stats.withdrawn += 1
                if p.id in existing:
                    delete_ids.append(p.id)
                continue
            if p.id in existing:
                if not _newer(p, *existing[p.id]):
                    stats.unchanged += 1
                    continue
                delete_ids.append(p.id)
                stats.updated += 1
            else:
                stats.added += 1
            inserts.append(p)
        if delete_ids:
            await conn.execute(sa.delete(aff).where(aff.c.advisory_id.in_(delete_ids)))
            await conn.execute(sa.delete(adv).where(adv.c.id.in_(delete_ids)))
        if inserts:
            await conn.execute(sa.insert(adv), [p.advisory for p in inserts])
            affected_rows = [row for p in inserts for row in p.affected]
            if affected_rows:
                await conn.execute(sa.insert(aff), affected_rows)


async def _record_sources(
    db: Database, path: Path, sha: str | None, names: set[str], stats: ImportStats
) -> None:
    src, adv = t.vuln_sources, t.vuln_advisories
    now = datetime.now(UTC)
    where = await asyncio.to_thread(lambda: os.fspath(path.resolve()))
    counts: dict[str, int] = {}
    async with db.write() as conn:
        if names:
            query = sa.select(adv.c.source, sa.func.count()).where(adv.c.source.in_(names))
            for name, n in (await conn.execute(query.group_by(adv.c.source))).all():
                counts[name] = int(n)
        for name in sorted(names):
            values = {
                "imported_at": now,
                "records": int(counts.get(name, 0)),
                "sha256": sha,
                "detail": {"path": where},
            }
            updated = await conn.execute(sa.update(src).where(src.c.name == name).values(**values))
            if not updated.rowcount:
                await conn.execute(sa.insert(src).values(name=name, **values))
            if name not in stats.sources:
                stats.sources.append(name)
