"""Version ordering per ecosystem, checked against real oracles where this machine has them
(`dpkg --compare-versions`) and against tables of known orderings otherwise."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.features.scanning.versions import (
    UncomparableVersion,
    compare,
    normalize_name,
    scheme_for,
    sort_key,
)

# Tilde (sorts before everything, even the end of the string), epochs, security-update suffixes
# (+debNuM, ~debNuM), binNMUs (+b1), dfsg repacks, letters vs digits, revisions.
DPKG_VERSIONS = [
    "0",
    "1.0",
    "1.0~rc1",
    "1.0~rc1~1",
    "1.0~~",
    "1.0-1",
    "1.0-1~bpo12+1",
    "1.0-1+b1",
    "1.0-1.1",
    "1.0a",
    "1.0+dfsg-1",
    "1.0.dfsg-1",
    "1:0.9",
    "2:0.1",
    "1:1.2.13.dfsg-1",
    "1:1.2.13.dfsg-3",
    "1:1.3.dfsg-2",
    "1.2.13.dfsg-1",
    "3.0.9-1",
    "3.0.11-1~deb12u1",
    "3.0.11-1~deb12u2",
    "3.0.11-1",
    "3.0.11-1+deb12u1",
    "3.0.12-1",
    "2.36-9",
    "2.36-9+deb12u3",
    "2.36-9+deb12u4",
    "2.36-9+deb12u4+b1",
    "2.36-9+deb12u10",
    "2.31-13+deb11u7",
    "1.43.4-2",
    "1.43.4-2+deb9u1",
    "2.0.5-1",
    "2.0.5-1+deb10u1",
    "7.88.1-10+deb12u5",
    "7.88.1-10+deb12u12",
    "1.2.3-1ubuntu1",
    "1.2.3-1ubuntu1.1",
    "3.0.2-0ubuntu1.12",
    "3.0.2-0ubuntu1.10",
]


def _dpkg(a: str, op: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
def test_debian_ordering_matches_dpkg() -> None:
    wrong = []
    pairs = list(itertools.combinations(DPKG_VERSIONS, 2))
    for a, b in pairs:
        if _dpkg(a, "lt", b):
            expected = -1
        elif _dpkg(a, "eq", b):
            expected = 0
        else:
            expected = 1
        if compare("Debian:12", a, b) != expected:
            wrong.append((a, b, expected))
    assert not wrong, f"{len(wrong)} of {len(pairs)} pairs differ from dpkg: {wrong[:10]}"
    assert len(pairs) > 700


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # apk-tools test/version.data style: each left < right.
        ("3.1.3-r0", "3.1.4-r0"),
        ("3.0.12-r0", "3.0.12-r1"),
        ("1.1.20-r4", "1.1.20-r5"),
        ("1.0_alpha1", "1.0_beta1"),
        ("1.0_beta1", "1.0_rc1"),
        ("1.0_rc1", "1.0"),
        ("1.0", "1.0_p1"),
        ("1.0", "1.0a"),
        ("1.2", "1.10"),
        ("2.36-r0", "2.36.1-r0"),
        ("0.9.9-r0", "0.9.10-r0"),
    ],
)
def test_alpine_ordering(a: str, b: str) -> None:
    assert compare("Alpine:v3.19", a, b) == -1
    assert compare("Alpine:v3.19", b, a) == 1


def test_alpine_unparseable_is_uncomparable() -> None:
    with pytest.raises(UncomparableVersion):
        compare("Alpine:v3.19", "006", "1.0")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2.3", "2.3.1"),
        ("2.3.1", "2.4"),
        ("2.4", "2.12.2"),
        ("2.12.2", "2.13.0"),
        ("2.14.1", "2.15.0"),
        ("2.15.0-rc1", "2.15.0"),
        ("1.0-alpha", "1.0-beta"),
        ("1.0-SNAPSHOT", "1.0"),
        ("1.0", "1.0-sp1"),
    ],
)
def test_maven_ordering(a: str, b: str) -> None:
    assert compare("Maven", a, b) == -1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.26.16", "1.26.17"),
        ("2.0.5", "2.0.6"),
        ("2.0.0rc1", "2.0.0"),
        ("2.0.0", "2.0.0.post1"),
        ("2.0.0.dev1", "2.0.0a1"),
        ("1!0.1", "1!0.2"),
        ("9.9", "1!0.1"),
        ("2.31.0", "2.32.0"),
        ("2.32.0", "2.32.2"),
    ],
)
def test_pep440_ordering(a: str, b: str) -> None:
    assert compare("PyPI", a, b) == -1
    assert compare("PyPI", "2.0", "2.0.0") == 0


@pytest.mark.parametrize(
    ("kind", "a", "b", "expected"),
    [
        ("SEMVER", "1.21.0-0", "1.21.0", -1),
        ("SEMVER", "1.21.0-0", "1.20.10", 1),
        ("SEMVER", "1.0.0-alpha", "1.0.0-alpha.1", -1),
        ("SEMVER", "1.0.0-alpha.beta", "1.0.0-beta", -1),
        ("SEMVER", "1.0.0-rc.1", "1.0.0", -1),
        ("SEMVER", "1.0.0+build.1", "1.0.0", 0),
        ("SEMVER", "0", "0.0.1", -1),
        ("npm", "4.17.20", "4.17.21", -1),
        ("crates.io", "0.10.0", "0.9.9", 1),
        ("Go", "v0.3.7", "0.3.8", -1),
        ("Go", "go1.21.1", "1.21.3", -1),
        ("Go", "go1.21.1", "1.21.0-0", 1),
        ("Go", "go1.22.1 X:loopvar", "1.22.1", 0),
        ("Go", "v2.0.0+incompatible", "2.0.0", 0),
        ("Go", "v0.0.0-20220722155217-630584e8d5aa", "0.0.1", -1),
        ("Go", "1.21rc2", "1.21.0", -1),
        ("Go", "1.21", "1.21.0", 0),
    ],
)
def test_semver_and_go_ordering(kind: str, a: str, b: str, expected: int) -> None:
    assert compare(kind, a, b) == expected


def test_rpm_ordering() -> None:
    assert compare("Rocky Linux:9", "1:3.0.1-43.el9_0", "3.0.7-1.el9") == 1
    assert compare("AlmaLinux:9", "3.0.7-16.el9_2", "3.0.7-17.el9_2") == -1
    assert compare("Red Hat:enterprise_linux:9::appstream", "1.0~rc1-1", "1.0-1") == -1


def test_uncomparable_and_unknown() -> None:
    with pytest.raises(UncomparableVersion):
        compare("PyPI", "not a version", "1.0")
    with pytest.raises(UncomparableVersion):
        compare("SEMVER", "1.x.y", "1.0.0")
    with pytest.raises(UncomparableVersion):
        scheme_for("NoSuchEcosystem")
    with pytest.raises(UncomparableVersion):
        compare("Debian:12", "", "1.0")
    # UncomparableVersion is a ValueError, so callers that only know ValueError still stop.
    assert issubclass(UncomparableVersion, ValueError)


def test_sort_key_orders_like_compare() -> None:
    versions = ["3.0.11-1", "3.0.11-1~deb12u1", "3.0.9-1", "3.0.11-1~deb12u2", "1:0.1"]
    ordered = sorted(versions, key=lambda v: sort_key("Debian:12", v))
    assert ordered == ["3.0.9-1", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "3.0.11-1", "1:0.1"]


def test_name_normalisation() -> None:
    assert normalize_name("PyPI", "Foo.Bar_baz--Qux") == "foo-bar-baz-qux"
    assert normalize_name("npm", "@Scope/Name") == "@Scope/Name"
    assert (
        normalize_name("Maven", "org.apache.logging.log4j:log4j-core")
        == "org.apache.logging.log4j:log4j-core"
    )


# Maven: the ComparableVersion class of maven-artifact is the oracle (univers implements Maven
# 3.2.5's rules; newer Maven differs only for "release"/"ga"/"final" qualifiers, left out here).
MAVEN_VERSIONS = [
    "1",
    "1.0",
    "1.0.1",
    "1.0-SNAPSHOT",
    "1.0-alpha-1",
    "1.0-alpha1",
    "1.0-beta-2",
    "1.0-rc1",
    "1.0-cr2",
    "1.0-sp1",
    "1.0-1",
    "1.0.0.1",
    "1.0a",
    "1.0-xyz",
    "2.0-beta9",
    "2.3",
    "2.3.1",
    "2.4",
    "2.12.2",
    "2.13.0",
    "2.14.1",
    "2.15.0-rc1",
    "2.15.0",
    "2.17.1",
    "1.2.3-20230101.120000-1",
]


def _maven_jar() -> str | None:
    candidates = [
        Path.home() / ".m2/repository/org/apache/maven/maven-artifact/3.2.5/maven-artifact-3.2.5.jar",
        Path("/usr/share/java/maven-artifact-3.x.jar"),
    ]
    return next((str(p) for p in candidates if p.is_file()), None)


@pytest.mark.skipif(
    shutil.which("java") is None or _maven_jar() is None, reason="java/maven-artifact not here"
)
def test_maven_ordering_matches_comparable_version() -> None:
    pairs = list(itertools.combinations(MAVEN_VERSIONS, 2))
    args = [v for pair in pairs for v in pair]
    out = subprocess.run(
        ["java", "-cp", str(_maven_jar()), "org.apache.maven.artifact.versioning.ComparableVersion", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    # Lines "   A < B" compare argument i with i+1; the pairs are at even i.
    verdicts = [line.split()[1] for line in out.splitlines() if line.startswith("   ")]
    assert len(verdicts) == len(args) - 1
    wrong = []
    for k, (a, b) in enumerate(pairs):
        expected = {"<": -1, "==": 0, ">": 1}[verdicts[2 * k]]
        if compare("Maven", a, b) != expected:
            wrong.append((a, b, expected))
    assert not wrong, f"{len(wrong)} of {len(pairs)} pairs differ from Maven: {wrong[:10]}"
