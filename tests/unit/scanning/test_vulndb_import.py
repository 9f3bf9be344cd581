"""Importing vulnerability data: OSV zips (built at test time from the fixtures), directories and
single files; upsert by `modified`, withdrawn records, malformed records, hostile zip member names,
and the Debian tracker / Alpine secdb converters."""

from __future__ import annotations

import asyncio
import copy
import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from dockyard.features.scanning.model import OS, PYTHONPKG, Inventory, Package
from dockyard.features.scanning.vulndb import VulnDb, importer
from dockyard.features.scanning.vulndb.importer import ImportError_, safe_member
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "osv"
ALL = sorted(FIXTURES.rglob("*.json"))
URLLIB3 = FIXTURES / "PyPI" / "GHSA-v845-jxx5-vc9f.json"


def run(tmp_path: Path, action: Callable[[VulnDb], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
        await db.migrate()
        try:
            return await action(VulnDb(db))
        finally:
            await db.close()

    return asyncio.run(main())


def make_zip(path: Path, members: dict[str, bytes | dict[str, Any]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members.items():
            zf.writestr(name, body if isinstance(body, bytes) else json.dumps(body))
    return path


def fixture_zip(path: Path) -> Path:
    return make_zip(path, {p.name: p.read_bytes() for p in ALL})


def record(path: Path = URLLIB3, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(json.loads(path.read_text()))
    data.update(changes)
    return data


def urllib3(version: str) -> Inventory:
    return Inventory(None, [Package("urllib3", version, "PyPI", PYTHONPKG, "site-packages/urllib3")])


async def count(v: VulnDb, table: sa.Table) -> int:
    async with v.db.read() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


# ----------------------------------------------------------------------------- OSV
def test_zip_import_is_idempotent(tmp_path: Path) -> None:
    archive = fixture_zip(tmp_path / "all.zip")
    lines: list[str] = []

    async def go(v: VulnDb) -> None:
        assert await v.updated_at() is None
        first = await v.import_paths([str(archive)], progress=lines.append)
        assert (first.added, first.updated, first.unchanged, first.skipped) == (len(ALL), 0, 0, 0)
        assert set(first.sources) == {
            f"osv:{eco}" for eco in ("Alpine", "Debian", "Go", "Maven", "PyPI", "Ubuntu", "npm")
        }
        stamp = await v.updated_at()
        assert stamp is not None and stamp.tzinfo is not None
        advisories, affected = await count(v, t.vuln_advisories), await count(v, t.vuln_affected)
        assert advisories == len(ALL)

        # Same bytes again: recognised by sha256 and not read at all.
        again = await v.import_paths([str(archive)])
        assert (again.added, again.updated, again.unchanged, again.files_unchanged) == (0, 0, 0, 1)
        # Forced: every record read, none newer.
        forced = await v.import_paths([str(archive)], force=True)
        assert (forced.added, forced.updated, forced.unchanged) == (0, 0, len(ALL))
        assert (await count(v, t.vuln_advisories), await count(v, t.vuln_affected)) == (advisories, affected)

        async with v.db.read() as conn:
            rows = {r.name: r for r in (await conn.execute(sa.select(t.vuln_sources))).all()}
        assert rows["osv:PyPI"].records == 4 and rows["osv:Debian"].records == 6
        assert rows["osv:PyPI"].sha256 and len(rows["osv:PyPI"].sha256) == 64
        info = await v.info()
        assert info.advisories == len(ALL)
        assert info.affected_by_ecosystem["Debian:12"] == 4
        assert info.updated_at == await v.updated_at()

    run(tmp_path, go)
    assert any("records read" in line for line in lines) and lines[-1].startswith("all.zip: done")


def test_upsert_only_when_modified_is_newer(tmp_path: Path) -> None:
    async def go(v: VulnDb) -> None:
        await v.import_paths([str(URLLIB3)])
        older = tmp_path / "older.json"
        older.write_text(json.dumps(record(modified="2023-01-01T00:00:00Z", summary="older")))
        same = tmp_path / "same.json"
        same.write_text(json.dumps(record(summary="same modified, different text")))
        stats = await v.import_paths([str(older), str(same)])
        assert (stats.added, stats.updated, stats.unchanged) == (0, 0, 2)
        [f, *_] = await v.match(urllib3("2.0.5"))
        assert f.description == "`Cookie` HTTP header isn't stripped on cross-origin redirects"

        # Newer: replaces the record and its affected rows (here the 2.x branch is dropped).
        newer = record(modified="2024-01-01T00:00:00.123456Z", summary="newer")
        newer["affected"] = newer["affected"][1:]
        (tmp_path / "newer.json").write_text(json.dumps(newer))
        stats = await v.import_paths([str(tmp_path / "newer.json")])
        assert (stats.added, stats.updated) == (0, 1)
        assert await v.match(urllib3("2.0.5")) == []
        [f] = await v.match(urllib3("1.26.16"))
        assert f.description == "newer"
        assert await count(v, t.vuln_affected) == 1

    run(tmp_path, go)


def test_withdrawn_records_are_deleted(tmp_path: Path) -> None:
    async def go(v: VulnDb) -> None:
        await v.import_paths([str(URLLIB3)])
        assert await v.match(urllib3("2.0.5"))
        gone = record(modified="2024-02-01T00:00:00Z", withdrawn="2024-02-01T00:00:00Z")
        stats = await v.import_paths([str(make_zip(tmp_path / "w.zip", {"GHSA-v845-jxx5-vc9f.json": gone}))])
        assert (stats.withdrawn, stats.added, stats.updated) == (1, 0, 0)
        assert await v.match(urllib3("2.0.5")) == []
        assert (await count(v, t.vuln_advisories), await count(v, t.vuln_affected)) == (0, 0)
        # A withdrawn record we never had is counted and not stored.
        other = record(id="GHSA-xxxx-xxxx-xxxx", withdrawn="2024-02-01T00:00:00Z")
        stats = await v.import_paths([str(make_zip(tmp_path / "w2.zip", {"x.json": other}))])
        assert (stats.withdrawn, stats.added) == (1, 0)
        assert await count(v, t.vuln_advisories) == 0

    run(tmp_path, go)


def test_malformed_records_are_skipped_and_counted(tmp_path: Path) -> None:
    good = record()
    members: dict[str, bytes | dict[str, Any]] = {
        "good.json": good,
        "truncated.json": b'{"id": "GHSA-1", "modified": ',
        "array-of-junk.json": b"[1, 2]",  # two non-objects
        "scalar.json": b"42",
        "no-id.json": {"modified": "2024-01-01T00:00:00Z", "affected": []},
        "bad-time.json": record(id="GHSA-bad-time", modified="yesterday"),
        "bad-affected.json": record(id="GHSA-bad-aff", affected="PyPI urllib3"),
        "bad-ranges.json": record(
            id="GHSA-bad-rng", affected=[{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [1]}]
        ),
        "not-utf8.json": b"\xff\xfe\x00garbage",
        "README.md": b"not a record, not counted",
        "dir/": b"",
    }
    archive = make_zip(tmp_path / "mixed.zip", members)

    async def go(v: VulnDb) -> None:
        stats = await v.import_paths([str(archive)])
        assert stats.added == 1
        assert stats.skipped == 9
        assert len(await v.match(urllib3("2.0.5"))) == 1

    run(tmp_path, go)


@pytest.mark.parametrize(
    "name",
    [
        "../evil.json",
        "a/../../evil.json",
        "/etc/evil.json",
        "C:/evil.json",
        "dir\\..\\evil.json",
        "..\\evil.json",
    ],
)
def test_unsafe_member_names_are_refused(tmp_path: Path, name: str) -> None:
    assert not safe_member(name)
    archive = make_zip(
        tmp_path / "evil.zip",
        {name: record(), "Debian/ok.json": record(FIXTURES / "Debian" / "DSA-5532-1.json")},
    )

    async def go(v: VulnDb) -> None:
        stats = await v.import_paths([str(archive)])
        assert (stats.added, stats.skipped) == (1, 1)
        assert await v.match(urllib3("2.0.5")) == []

    run(tmp_path, go)


def test_safe_member_names() -> None:
    assert safe_member("GHSA-v845-jxx5-vc9f.json")
    assert safe_member("Debian/DSA-5532-1.json")
    assert safe_member("weird..name.json")  # dots inside a name are not a parent reference
    assert not safe_member("")


def test_oversized_member_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "MAX_RECORD_BYTES", 2048)
    big = record()
    big["details"] = "x" * 10_000
    archive = make_zip(
        tmp_path / "big.zip", {"big.json": big, "small.json": record(FIXTURES / "Go" / "GO-2022-1059.json")}
    )

    async def go(v: VulnDb) -> None:
        stats = await v.import_paths([str(archive)])
        assert (stats.added, stats.skipped) == (1, 1)

    run(tmp_path, go)


def test_directory_single_file_and_list_inputs(tmp_path: Path) -> None:
    listing = tmp_path / "batch.json"
    listing.write_text(
        json.dumps(
            [record(FIXTURES / "Go" / "GO-2022-1059.json"), record(FIXTURES / "Go" / "GO-2023-2102.json")]
        )
    )

    async def go(v: VulnDb) -> None:
        stats = await v.import_paths([str(FIXTURES / "Debian"), str(URLLIB3), str(listing)])
        assert (stats.added, stats.skipped) == (6 + 1 + 2, 0)
        assert set(stats.sources) == {"osv:Debian", "osv:PyPI", "osv:Go"}

    run(tmp_path, go)


def test_versions_lists_kept_only_without_evaluable_ranges(tmp_path: Path) -> None:
    with_range = record(FIXTURES / "Go" / "GO-2022-1059.json")
    with_range["affected"][0]["versions"] = ["0.3.0", "0.3.7"]
    git_only = {
        "id": "PYSEC-0000-1",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Some_Package"},
                "ranges": [
                    {"type": "GIT", "repo": "https://example.invalid/x", "events": [{"introduced": "0"}]}
                ],
                "versions": ["1.0", "1.1"],
            },
            {
                "ranges": [
                    {"type": "GIT", "repo": "https://example.invalid/y", "events": [{"introduced": "0"}]}
                ]
            },
        ],
    }
    archive = make_zip(tmp_path / "v.zip", {"a.json": with_range, "b.json": git_only})

    async def go(v: VulnDb) -> None:
        await v.import_paths([str(archive)])
        async with v.db.read() as conn:
            rows = {r.advisory_id: r for r in (await conn.execute(sa.select(t.vuln_affected))).all()}
        assert rows["GO-2022-1059"].versions is None
        assert rows["PYSEC-0000-1"].versions == ["1.0", "1.1"]
        assert rows["PYSEC-0000-1"].package_name == "some-package"  # PEP 503
        hit = Inventory(None, [Package("some.package", "1.1", "PyPI", PYTHONPKG, "x")])
        assert [f.vulnerability_id for f in await v.match(hit)] == ["PYSEC-0000-1"]  # no CVE: own id

    run(tmp_path, go)


def test_bad_inputs(tmp_path: Path) -> None:
    async def go(v: VulnDb) -> None:
        with pytest.raises(ImportError_):
            await v.import_paths([str(tmp_path / "missing.zip")])
        with pytest.raises(ImportError_):
            await v.import_paths([str(URLLIB3)], fmt="nvd")
        not_secdb = tmp_path / "x.json"
        not_secdb.write_text("{}")
        with pytest.raises(ImportError_):
            await v.import_paths([str(not_secdb)], fmt="alpine-secdb")

    run(tmp_path, go)


def test_matching_while_an_import_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BATCH", 2)
    many = {
        f"GHSA-{i:04d}.json": record(id=f"GHSA-test-{i:04d}", aliases=[f"CVE-2099-{i:04d}"])
        for i in range(30)
    }
    archive = make_zip(tmp_path / "many.zip", many)

    async def go(v: VulnDb) -> None:
        await v.import_paths([str(URLLIB3)])
        task = asyncio.create_task(v.import_paths([str(archive)]))
        seen = []
        while not task.done():
            seen.append(len(await v.match(urllib3("2.0.5"))))
            await asyncio.sleep(0)
        stats = await task
        assert stats.added == 30
        assert seen and all(1 <= n <= 31 for n in seen)
        assert len(await v.match(urllib3("2.0.5"))) == 31

    run(tmp_path, go)


# ----------------------------------------------------------------------------- converters
TRACKER = {
    "openssl": {
        "CVE-2023-5363": {
            "description": "Incorrect cipher key & IV length processing",
            "scope": "remote",
            "releases": {
                "bookworm": {
                    "status": "resolved",
                    "fixed_version": "3.0.11-1~deb12u2",
                    "urgency": "not yet assigned",
                },
                "bullseye": {"status": "resolved", "fixed_version": "0", "urgency": "not yet assigned"},
                "trixie": {"status": "resolved", "fixed_version": "3.0.12-1", "urgency": "not yet assigned"},
            },
        },
        "TEMP-0000000-ABCDEF": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}},
    },
    "zlib": {
        "CVE-2023-45853": {
            "description": "MiniZip integer overflow",
            "releases": {"bookworm": {"status": "open", "urgency": "unimportant"}},
        }
    },
    "tar": {"CVE-2005-2541": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}}},
    "broken": "not an object",
}


def test_debian_tracker_import(tmp_path: Path) -> None:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(TRACKER))
    packages = [
        Package("libssl3", "3.0.11-1~deb12u1", "Debian:12", OS, "s", source_name="openssl"),
        Package("libssl1.1", "1.1.1w-0+deb11u1", "Debian:11", OS, "s", source_name="openssl"),
        Package("zlib1g", "1:1.2.13.dfsg-1", "Debian:12", OS, "s", source_name="zlib"),
    ]

    async def go(v: VulnDb) -> None:
        stats = await v.import_paths([str(path)], fmt="debian-tracker")
        assert (stats.added, stats.skipped, stats.sources) == (3, 1, ["debian-tracker"])
        found = {f.package.name: f for f in await v.match(Inventory(None, packages))}
        assert set(found) == {"libssl3", "zlib1g"}  # bullseye: fixed_version "0" = not affected
        assert found["libssl3"].fixed_version == "3.0.11-1~deb12u2"
        assert found["libssl3"].advisory_ids == ("DEBIAN-CVE-2023-5363",)
        assert (found["zlib1g"].severity, found["zlib1g"].fixed_version) == ("INFORMATIONAL", None)
        again = await v.import_paths([str(path)], fmt="debian-tracker", force=True)
        assert (again.added, again.updated, again.unchanged) == (0, 0, 3)

    run(tmp_path, go)


def secdb(branch: str, repo: str, packages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "distroversion": branch,
        "reponame": repo,
        "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
        "apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
        "archs": ["x86_64"],
        "packages": packages,
    }


def test_alpine_secdb_import(tmp_path: Path) -> None:
    # aports main/openssl secfixes, 3.16 era: "0" lists CVEs that never affected the branch.
    v316 = secdb(
        "v3.16",
        "main",
        [
            {
                "pkg": {
                    "name": "openssl",
                    "secfixes": {
                        "3.0.5-r0": ["CVE-2022-2097"],
                        "3.0.3-r0": ["CVE-2022-1343", "CVE-2022-1434", "CVE-2022-1473"],
                        "3.0.2-r0": ["CVE-2022-0778"],
                        "0": ["CVE-2022-1292", "CVE-2022-2068", "CVE-2022-2274"],
                    },
                }
            },
            {"pkg": "broken"},
        ],
    )
    v319 = secdb("v3.19", "main", [{"pkg": {"name": "openssl", "secfixes": {"3.1.4-r0": ["CVE-2023-5363"]}}}])
    paths = []
    for name, data in (("316.json", v316), ("319.json", v319)):
        (tmp_path / name).write_text(json.dumps(data))
        paths.append(str(tmp_path / name))

    def apk(version: str, branch: str) -> Inventory:
        return Inventory(
            None,
            [
                Package(
                    "libcrypto3",
                    version,
                    f"Alpine:{branch}",
                    OS,
                    "lib/apk/db/installed",
                    source_name="openssl",
                )
            ],
        )

    async def go(v: VulnDb) -> None:
        stats = await v.import_paths(paths, fmt="alpine-secdb")
        assert (stats.added, stats.skipped) == (6, 1)
        assert set(stats.sources) == {"alpine-secdb:v3.16", "alpine-secdb:v3.19"}
        hits = {f.vulnerability_id: f.fixed_version for f in await v.match(apk("3.0.3-r0", "v3.16"))}
        assert hits == {"CVE-2022-2097": "3.0.5-r0"}  # 3.0.3-r0 is the boundary of the 1343 group
        older = {f.vulnerability_id for f in await v.match(apk("3.0.1-r0", "v3.16"))}
        assert older == {"CVE-2022-2097", "CVE-2022-1343", "CVE-2022-1434", "CVE-2022-1473", "CVE-2022-0778"}
        [f] = await v.match(apk("3.1.3-r0", "v3.19"))
        assert (f.vulnerability_id, f.fixed_version, f.source) == ("CVE-2023-5363", "3.1.4-r0", "ALPINE_SEC")
        assert f.uri == "https://security.alpinelinux.org/vuln/CVE-2023-5363"
        # Importing one branch again doesn't touch the other's records.
        await v.import_paths(paths[1:], fmt="alpine-secdb", force=True)
        assert len(await v.match(apk("3.0.1-r0", "v3.16"))) == 5

    run(tmp_path, go)


# ----------------------------------------------------------------------------- command line
def test_cli_import_and_info(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dockyard.cli import main

    archive = fixture_zip(tmp_path / "all.zip")
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    assert runner.invoke(main, ["migrate", *data]).exit_code == 0  # only serve/migrate create a registry
    result = runner.invoke(main, ["vulndb", "import", *data, str(archive)])
    assert result.exit_code == 0, result.output
    assert f"added {len(ALL)}, updated 0, unchanged 0, withdrawn 0, skipped 0" in result.stdout
    assert "records read" in result.stderr
    result = runner.invoke(main, ["vulndb", "import", "-q", *data, "--format", "alpine-secdb", str(URLLIB3)])
    assert result.exit_code != 0 and "not an Alpine secdb file" in result.output
    result = runner.invoke(main, ["vulndb", "info", *data])
    assert result.exit_code == 0, result.output
    assert f"advisories: {len(ALL)}" in result.stdout
    assert "Debian:12" in result.stdout and "osv:PyPI" in result.stdout
