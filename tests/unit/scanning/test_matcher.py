"""Matching installed packages against OSV records: the range rules of the OSV schema on
synthetic entries, and the expectations of scanning.md §6.6 on the real/modeled fixture records
(imported through a zip, then matched through VulnDb as the scan worker does)."""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.features.scanning.matcher import Advisory, Affected, cve_ids, evaluate, match_package, source_of
from dockyard.features.scanning.model import (
    GOBINARY,
    JAR,
    NODEPKG,
    OS,
    PYTHONPKG,
    Finding,
    Inventory,
    OsInfo,
    Package,
)
from dockyard.features.scanning.vulndb import VulnDb
from dockyard.store.meta.database import Database

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "osv"


# ----------------------------------------------------------------------------- pure range rules
def entry(ecosystem: str, *events: dict[str, str], kind: str = "ECOSYSTEM", **extra: Any) -> Affected:
    return Affected("TEST-1", ecosystem, "pkg", ranges=[{"type": kind, "events": list(events)}], **extra)


def test_introduced_fixed() -> None:
    e = entry("PyPI", {"introduced": "2.3.0"}, {"fixed": "2.31.0"})
    assert evaluate("PyPI", "2.30.0", e) == (True, "2.31.0")
    assert evaluate("PyPI", "2.3.0", e) == (True, "2.31.0")  # introduced is inclusive
    assert evaluate("PyPI", "2.31.0", e) == (False, None)  # fixed is exclusive
    assert evaluate("PyPI", "2.2.9", e) == (False, None)


def test_events_are_sorted_before_walking() -> None:
    # Out-of-order events (allowed by the schema) must not change the answer.
    e = entry(
        "Go",
        {"fixed": "1.21.3"},
        {"introduced": "1.21.0-0"},
        {"fixed": "1.20.10"},
        {"introduced": "0"},
        kind="SEMVER",
    )
    assert evaluate("Go", "1.20.9", e) == (True, "1.20.10")
    assert evaluate("Go", "1.20.10", e) == (False, None)
    assert evaluate("Go", "1.21.0-rc.1", e) == (True, "1.21.3")
    assert evaluate("Go", "1.21.2", e) == (True, "1.21.3")
    assert evaluate("Go", "1.21.3", e) == (False, None)


def test_last_affected_is_inclusive_and_has_no_fix() -> None:
    e = entry("npm", {"introduced": "1.0.0"}, {"last_affected": "1.4.2"})
    assert evaluate("npm", "1.4.2", e) == (True, None)
    assert evaluate("npm", "1.4.3", e) == (False, None)
    assert evaluate("npm", "0.9.0", e) == (False, None)


def test_only_introduced_means_every_later_version_and_no_fix() -> None:
    e = entry("Debian:12", {"introduced": "0"})
    assert evaluate("Debian:12", "1:1.2.13.dfsg-1", e) == (True, None)


def test_limit_bounds_the_range() -> None:
    e = entry("crates.io", {"introduced": "0"}, {"limit": "2.0.0"})
    assert evaluate("crates.io", "1.9.0", e) == (True, None)
    assert evaluate("crates.io", "2.0.0", e) == (False, None)
    star = entry("crates.io", {"introduced": "0"}, {"limit": "*"})
    assert evaluate("crates.io", "99.0.0", star) == (True, None)


def test_semver_range_ignores_ecosystem_ordering() -> None:
    # PEP 440 would put 1.0.0-rc1 (= 1.0.0rc1) below 1.0.0 too, but SemVer build metadata
    # is only ignorable under SemVer; "1.0.0+local" is after 1.0.0 under PEP 440.
    e = entry("PyPI", {"introduced": "0"}, {"fixed": "1.0.0"}, kind="SEMVER")
    assert evaluate("PyPI", "1.0.0+build5", e) == (False, None)
    assert evaluate("PyPI", "1.0.0-rc.1", e) == (True, "1.0.0")


def test_git_ranges_are_ignored_but_versions_match() -> None:
    git = Affected(
        "TEST-2",
        "PyPI",
        "pkg",
        ranges=[{"type": "GIT", "repo": "https://x", "events": [{"introduced": "abc"}, {"fixed": "def"}]}],
        versions=["1.0", "1.1"],
    )
    assert evaluate("PyPI", "1.1", git) == (True, None)
    assert evaluate("PyPI", "1.2", git) == (False, None)


def test_uncomparable_version_does_not_match(caplog: pytest.LogCaptureFixture) -> None:
    e = entry("PyPI", {"introduced": "0"}, {"fixed": "2.0"})
    with caplog.at_level("INFO"):
        assert evaluate("PyPI", "not-a-version!", e) == (False, None)
    assert "not matching" in caplog.text
    unknown = entry("SomeNewEcosystem", {"introduced": "0"}, {"fixed": "2.0"})
    assert evaluate("SomeNewEcosystem", "1.0", unknown) == (False, None)


def test_cve_ids_and_sources() -> None:
    assert cve_ids(Advisory("DEBIAN-CVE-2023-5363")) == ["CVE-2023-5363"]
    assert cve_ids(Advisory("CVE-2021-44228")) == ["CVE-2021-44228"]
    assert cve_ids(Advisory("DSA-1-1", upstream=["CVE-2023-1", "CVE-2023-2"])) == []  # not CVE-shaped
    assert cve_ids(Advisory("DSA-1-1", upstream=["CVE-2023-1111", "CVE-2023-2222"])) == [
        "CVE-2023-1111",
        "CVE-2023-2222",
    ]
    # related only counts when nothing closer names a CVE (AlmaLinux puts CVEs there).
    assert cve_ids(Advisory("ALSA-2024:1", related=["CVE-2024-0001"])) == ["CVE-2024-0001"]
    assert cve_ids(Advisory("GHSA-x", aliases=["CVE-2024-0002"], related=["CVE-2024-0003"])) == [
        "CVE-2024-0002"
    ]
    assert cve_ids(Advisory("GHSA-y", aliases=["PYSEC-2020-1"])) == []
    assert source_of("DSA-5532-1") == "DEBIAN_CVE"
    assert source_of("UBUNTU-CVE-2023-5363") == "UBUNTU_CVE"
    assert source_of("ALPINE-CVE-2023-5363") == "ALPINE_SEC"
    assert source_of("GHSA-v845-jxx5-vc9f") == "GITHUB"
    assert source_of("GO-2023-2102") == "GO_VULNDB"
    assert source_of("RXSA-2024:1") == "OSV"


def test_unimportant_debian_urgency_is_informational() -> None:
    adv = Advisory(
        "DEBIAN-CVE-2020-0001",
        upstream=["CVE-2020-0001"],
        details="minor",
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    )
    aff = Affected(
        adv.id,
        "Debian:12",
        "tar",
        ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
        ecosystem_specific={"urgency": "unimportant"},
    )
    pkg = Package("tar", "1.34+dfsg-1.2", "Debian:12", OS, "var/lib/dpkg/status", source_name="tar")
    [f] = match_package(pkg, [aff], {adv.id: adv})
    assert (f.severity, f.vendor_severity, f.fixed_version) == ("INFORMATIONAL", "unimportant", None)
    assert [c.base_score for c in f.cvss] == [9.8]


# ----------------------------------------------------------------------------- fixture records
@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database holding every fixture record, imported from a zip like an OSV all.zip."""
    tmp = tmp_path_factory.mktemp("vulndb")
    archive = tmp / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(FIXTURES.rglob("*.json")):
            zf.write(path, path.name)
    url = f"sqlite+aiosqlite:///{tmp / 'meta.db'}"

    async def build() -> None:
        db = Database(url)
        await db.migrate()
        try:
            stats = await VulnDb(db).import_paths([str(archive)])
            assert stats.skipped == 0 and stats.added == len(list(FIXTURES.rglob("*.json")))
        finally:
            await db.close()

    asyncio.run(build())
    yield url


def match(db_url: str, packages: list[Package], os: OsInfo | None = None, **kwargs: Any) -> list[Finding]:
    async def go() -> list[Finding]:
        db = Database(db_url)
        try:
            return await VulnDb(db).match(Inventory(os, packages), **kwargs)
        finally:
            await db.close()

    return asyncio.run(go())


def ids(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.vulnerability_id, f.package.name) for f in findings}


def py(name: str, version: str) -> Package:
    return Package(
        name, version, "PyPI", PYTHONPKG, f"usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA"
    )


def test_urllib3_two_affected_entries(db_url: str) -> None:
    hits = {v: match(db_url, [py("urllib3", v)]) for v in ("1.26.16", "2.0.5", "1.26.17", "2.0.6")}
    by_id = {v: {f.vulnerability_id: f for f in fs} for v, fs in hits.items()}
    assert by_id["1.26.16"]["CVE-2023-43804"].fixed_version == "1.26.17"
    assert by_id["2.0.5"]["CVE-2023-43804"].fixed_version == "2.0.6"
    assert "CVE-2023-43804" not in by_id["1.26.17"]
    assert "CVE-2023-43804" not in by_id["2.0.6"]
    # GHSA-34jh-p97f-mpxf: [0, 1.26.19), [2.0.0, 2.2.2)
    assert by_id["1.26.17"]["CVE-2024-37891"].fixed_version == "1.26.19"
    assert by_id["2.0.6"]["CVE-2024-37891"].fixed_version == "2.2.2"

    f = by_id["2.0.5"]["CVE-2023-43804"]
    assert f.advisory_ids == ("GHSA-v845-jxx5-vc9f",)
    assert (f.severity, f.vendor_severity, f.source) == ("MEDIUM", "MODERATE", "GITHUB")
    assert [(c.version, c.base_score, c.source) for c in f.cvss] == [("3.1", 5.9, "GITHUB")]
    assert f.uri == "https://nvd.nist.gov/vuln/detail/CVE-2023-43804"  # first ADVISORY reference
    assert f.description == "`Cookie` HTTP header isn't stripped on cross-origin redirects"
    assert f.published == "2023-10-02T23:27:05Z"


def test_pypi_names_are_normalised(db_url: str) -> None:
    assert ids(match(db_url, [py("URLLib3", "2.0.5")])) == {
        ("CVE-2023-43804", "URLLib3"),
        ("CVE-2024-37891", "URLLib3"),
    }


def test_requests_boundaries(db_url: str) -> None:
    # 2.31.0 is the fix of GHSA-j8r2 but still inside GHSA-9wx4's [0, 2.32.2) (its data quirk).
    assert ids(match(db_url, [py("requests", "2.31.0")])) == {("CVE-2024-35195", "requests")}
    assert ids(match(db_url, [py("requests", "2.30.0")])) == {
        ("CVE-2024-35195", "requests"),
        ("CVE-2023-32681", "requests"),
    }
    assert match(db_url, [py("requests", "2.32.2")]) == []


@pytest.mark.parametrize(
    ("version", "hit", "fixed"),
    [
        ("2.14.1", True, "2.15.0"),
        ("2.4", True, "2.12.2"),
        ("2.3", True, "2.3.1"),
        ("2.0-beta9", True, "2.3.1"),
        ("2.12.2", False, None),
        ("2.3.1", False, None),
        ("2.15.0", False, None),
    ],
)
def test_log4j_three_branches(db_url: str, version: str, hit: bool, fixed: str | None) -> None:
    pkg = Package("org.apache.logging.log4j:log4j-core", version, "Maven", JAR, "app/lib/log4j-core.jar")
    found = match(db_url, [pkg])
    if not hit:
        assert found == []
        return
    [f] = found
    assert (f.vulnerability_id, f.fixed_version, f.severity) == ("CVE-2021-44228", fixed, "CRITICAL")


def test_lodash_npm_and_malicious_records_excluded(db_url: str) -> None:
    lodash = Package("lodash", "4.17.20", "npm", NODEPKG, "app/node_modules/lodash/package.json")
    lodash_es = Package("lodash-es", "4.17.20", "npm", NODEPKG, "app/node_modules/lodash-es/package.json")
    typo = Package(
        "lodahs", "4.17.20", "npm", NODEPKG, "app/node_modules/lodahs/package.json"
    )  # MAL-2099-0001
    found = match(db_url, [lodash, lodash_es, typo])
    assert ids(found) == {("CVE-2021-23337", "lodash"), ("CVE-2021-23337", "lodash-es")}
    assert all(f.severity == "HIGH" and f.fixed_version == "4.17.21" for f in found)
    assert match(db_url, [Package("lodash", "4.17.21", "npm", NODEPKG, "p")]) == []


def test_go_stdlib_prerelease_bound_and_multi_cve_record(db_url: str) -> None:
    stdlib = Package("stdlib", "go1.21.1", "Go", GOBINARY, "usr/local/bin/app")
    text = Package("golang.org/x/text", "v0.3.7", "Go", GOBINARY, "usr/local/bin/app")
    net = Package("golang.org/x/net", "v0.17.0", "Go", GOBINARY, "usr/local/bin/app")
    found = match(db_url, [stdlib, text, net])
    assert ids(found) == {
        ("CVE-2023-44487", "stdlib"),  # GO-2023-2102 names two CVEs: one finding each
        ("CVE-2023-39325", "stdlib"),
        ("CVE-2022-32149", "golang.org/x/text"),
    }
    for f in found:
        if f.package.name == "stdlib":
            assert f.fixed_version == "1.21.3"
            assert f.advisory_ids == ("GO-2023-2102",)
            assert f.source == "GO_VULNDB"
            assert f.severity == "UNDEFINED"  # Go's database carries no severity
            assert "GHSA-4374-p667-p6c8" in f.related
            assert f.published is None  # vulndb's 0001-01-01 placeholder
        else:
            assert f.fixed_version == "0.3.8"
    assert match(db_url, [Package("stdlib", "go1.21.3", "Go", GOBINARY, "x")]) == []
    assert {f.fixed_version for f in match(db_url, [Package("stdlib", "1.20.9", "Go", GOBINARY, "x")])} == {
        "1.20.10"
    }


DEBIAN = OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "Debian:12")


def deb(name: str, version: str, source: str, source_version: str | None = None) -> Package:
    return Package(
        name,
        version,
        "Debian:12",
        OS,
        "var/lib/dpkg/status",
        source_name=source,
        source_version=source_version,
    )


def test_debian_source_packages_and_cve_grouping(db_url: str) -> None:
    packages = [
        deb("openssl", "3.0.11-1~deb12u1", "openssl"),
        deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
        deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
        deb("libc6", "2.36-9+deb12u3+b1", "glibc", "2.36-9+deb12u1"),  # binNMU: source version decides
        deb("bash", "5.2.15-2+b2", "bash", "5.2.15-2"),
    ]
    found = match(db_url, packages, DEBIAN)
    assert ids(found) == {
        ("CVE-2023-5363", "openssl"),
        ("CVE-2023-5363", "libssl3"),
        ("CVE-2023-45853", "zlib1g"),
        ("CVE-2023-4911", "libc6"),
    }
    by_pkg = {f.package.name: f for f in found}
    for name in ("openssl", "libssl3"):
        f = by_pkg[name]
        assert f.fixed_version == "3.0.11-1~deb12u2"
        assert f.advisory_ids == ("DEBIAN-CVE-2023-5363", "DSA-5532-1")  # the per-CVE record first
        assert f.uri == "https://security-tracker.debian.org/tracker/CVE-2023-5363"
        assert (f.severity, f.vendor_severity) == ("HIGH", "not yet assigned")  # no urgency -> NVD 7.5
        assert f.source == "DEBIAN_CVE"
        assert f.description.startswith("Issue summary: A bug has been identified")
    zlib = by_pkg["zlib1g"]
    assert (zlib.fixed_version, zlib.severity) == (None, "CRITICAL")
    assert by_pkg["libc6"].fixed_version == "2.36-9+deb12u3"
    assert by_pkg["libc6"].advisory_ids == ("DSA-5514-1",)
    # sorted by severity, then id
    assert [(f.severity, f.vulnerability_id) for f in found] == [
        ("CRITICAL", "CVE-2023-45853"),
        ("HIGH", "CVE-2023-5363"),
        ("HIGH", "CVE-2023-5363"),
        ("UNDEFINED", "CVE-2023-4911"),  # DSA-5514-1 alone carries no severity
    ]


def test_debian_fixed_and_other_releases(db_url: str) -> None:
    assert match(db_url, [deb("libssl3", "3.0.11-1~deb12u2", "openssl")], DEBIAN) == []
    assert match(db_url, [deb("libc6", "2.36-9+deb12u3", "glibc")], DEBIAN) == []
    # Debian 11 is a different ecosystem with its own fixed version
    old = Package("libc6", "2.31-13+deb11u6", "Debian:11", OS, "var/lib/dpkg/status", source_name="glibc")
    [f] = match(db_url, [old])
    assert f.fixed_version == "2.31-13+deb11u7"
    # No release-less lookups: a plain "Debian" ecosystem matches nothing.
    assert match(db_url, [Package("openssl", "3.0.9-1", "Debian", OS, "s", source_name="openssl")]) == []


def test_alpine_origin_package(db_url: str) -> None:
    def apk(version: str, branch: str = "v3.19") -> Package:
        return Package(
            "libssl3", version, f"Alpine:{branch}", OS, "lib/apk/db/installed", source_name="openssl"
        )

    [f] = match(db_url, [apk("3.1.3-r0")])
    assert (f.vulnerability_id, f.fixed_version, f.source) == ("CVE-2023-5363", "3.1.4-r0", "ALPINE_SEC")
    assert f.uri == "https://security.alpinelinux.org/vuln/CVE-2023-5363"
    assert f.severity == "HIGH"
    assert match(db_url, [apk("3.1.4-r0")]) == []
    [old] = match(db_url, [apk("3.0.11-r0", "v3.17")])
    assert old.fixed_version == "3.0.12-r0"


def test_ubuntu_priority_wins_over_cvss(db_url: str) -> None:
    pkg = Package(
        "libssl3", "3.0.2-0ubuntu1.10", "Ubuntu:22.04:LTS", OS, "var/lib/dpkg/status", source_name="openssl"
    )
    [f] = match(db_url, [pkg])
    assert (f.severity, f.vendor_severity, f.source) == ("MEDIUM", "medium", "UBUNTU_CVE")
    assert f.uri == "https://ubuntu.com/security/CVE-2023-5363"
    assert f.fixed_version == "3.0.2-0ubuntu1.12"


def test_ecosystem_filter_and_unadvised_packages(db_url: str) -> None:
    packages = [
        deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
        py("urllib3", "2.0.5"),
        Package("mystery", "1.0", None, OS, "x"),
    ]
    assert {f.package.name for f in match(db_url, packages, DEBIAN, ecosystems={"Debian"})} == {"libssl3"}
    assert {f.package.name for f in match(db_url, packages, DEBIAN, ecosystems={"Debian:12"})} == {"libssl3"}
    assert {f.package.name for f in match(db_url, packages, DEBIAN, ecosystems={"PyPI"})} == {"urllib3"}
    assert {f.package.name for f in match(db_url, packages, DEBIAN)} == {"libssl3", "urllib3"}
    assert match(db_url, [], DEBIAN) == []


def test_findings_round_trip_json(db_url: str) -> None:
    for f in match(db_url, [deb("libssl3", "3.0.11-1~deb12u1", "openssl"), py("urllib3", "2.0.5")], DEBIAN):
        assert Finding.from_json(f.to_json()) == f


def test_multi_cve_dsa_expands_and_groups_with_per_cve_records() -> None:
    rng = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2-3+deb12u1"}]}]
    dsa = Advisory("DSA-9999-1", upstream=["CVE-2024-1111", "CVE-2024-2222"], summary="foo - security update")
    per_cve = Advisory(
        "DEBIAN-CVE-2024-1111",
        upstream=["CVE-2024-1111"],
        details="the tracker's description",
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:H/A:N"}],
    )
    entries = [
        Affected(dsa.id, "Debian:12", "foo", ranges=rng),
        Affected(per_cve.id, "Debian:12", "foo", ranges=rng, ecosystem_specific={"urgency": "low"}),
    ]
    advisories = {a.id: a for a in (dsa, per_cve)}
    binaries = [
        Package(b, "1.2-3", "Debian:12", OS, "var/lib/dpkg/status", source_name="foo")
        for b in ("foo", "libfoo1")
    ]
    found = {
        (f.vulnerability_id, f.package.name): f
        for p in binaries
        for f in match_package(p, entries, advisories)
    }
    assert set(found) == {(c, b) for c in ("CVE-2024-1111", "CVE-2024-2222") for b in ("foo", "libfoo1")}
    one, two = found["CVE-2024-1111", "foo"], found["CVE-2024-2222", "foo"]
    assert one.advisory_ids == ("DEBIAN-CVE-2024-1111", "DSA-9999-1")
    assert (one.severity, one.vendor_severity, one.description) == ("LOW", "low", "the tracker's description")
    assert [c.base_score for c in one.cvss] == [5.9]
    assert two.advisory_ids == ("DSA-9999-1",)
    assert (two.severity, two.description, two.source) == ("UNDEFINED", "foo - security update", "DEBIAN_CVE")
    assert {f.fixed_version for f in found.values()} == {"1.2-3+deb12u1"}
    assert "CVE-2024-2222" in one.related  # the DSA's other CVE is kept as related


def test_records_without_cve_keep_their_id_and_aliases_group() -> None:
    rng = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]
    ghsa = Advisory(
        "GHSA-aaaa-bbbb-cccc",
        aliases=["CVE-2024-3333", "PYSEC-2024-1"],
        database_specific={"severity": "LOW"},
        references=[{"type": "WEB", "url": "https://example.invalid/ghsa"}],
    )
    pysec = Advisory("PYSEC-2024-1", aliases=["GHSA-aaaa-bbbb-cccc", "CVE-2024-3333"])
    lone = Advisory("GHSA-dddd-eeee-ffff", summary="no CVE assigned")
    entries = [Affected(a.id, "PyPI", "thing", ranges=rng) for a in (pysec, ghsa, lone)]
    pkg = Package("Thing", "1.0", "PyPI", PYTHONPKG, "site-packages/thing")
    found = {
        f.vulnerability_id: f for f in match_package(pkg, entries, {a.id: a for a in (ghsa, pysec, lone)})
    }
    assert set(found) == {"CVE-2024-3333", "GHSA-dddd-eeee-ffff"}
    cve = found["CVE-2024-3333"]
    assert cve.advisory_ids == ("GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1")  # GHSA first (it has severity)
    assert (cve.severity, cve.source, cve.uri) == ("LOW", "GITHUB", "https://example.invalid/ghsa")
    lone_f = found["GHSA-dddd-eeee-ffff"]
    assert (lone_f.severity, lone_f.uri) == ("UNDEFINED", "https://osv.dev/vulnerability/GHSA-dddd-eeee-ffff")
    assert lone_f.fixed_version == "2.0"


def test_trivy_golden_regressions(db_url: str) -> None:
    """Cases from Trivy's integration goldens (debian-stretch, debian-buster, alpine-39)."""
    stretch = [
        Package(b, "1.43.4-2", "Debian:9", OS, "var/lib/dpkg/status", source_name="e2fsprogs")
        for b in ("e2fsprogs", "e2fslibs", "libcomerr2", "libss2")
    ]
    found = match(db_url, stretch)
    assert ids(found) == {("CVE-2019-5094", b.name) for b in stretch}  # one finding per binary
    assert {(f.fixed_version, f.advisory_ids) for f in found} == {("1.43.4-2+deb9u1", ("DSA-4535-1",))}

    buster = Package("libidn2-0", "2.0.5-1", "Debian:10", OS, "var/lib/dpkg/status", source_name="libidn2")
    [f] = match(db_url, [buster])
    assert (f.vulnerability_id, f.fixed_version) == ("CVE-2019-18224", "2.0.5-1+deb10u1")
    fixed = Package("libidn2-0", "2.0.5-1+deb10u1", "Debian:10", OS, "s", source_name="libidn2")
    assert match(db_url, [fixed]) == []

    musl = Package("musl", "1.1.20-r4", "Alpine:v3.9", OS, "lib/apk/db/installed", source_name="musl")
    [f] = match(db_url, [musl])
    assert (f.vulnerability_id, f.fixed_version, f.severity) == ("CVE-2019-14697", "1.1.20-r5", "CRITICAL")
