"""Severity decisions and CVSS scores (values from the AWS docs example and NVD)."""

from __future__ import annotations

import pytest

from dockyard.features.scanning.model import Cvss
from dockyard.features.scanning.severity import (
    band_v2,
    band_v3,
    cvss_entries,
    decide,
    from_cvss,
    from_vendor,
    score_vector,
    ubuntu_priority,
)


@pytest.mark.parametrize(
    ("kind", "vector", "version", "score"),
    [
        ("CVSS_V2", "AV:L/AC:L/Au:N/C:P/I:P/A:P", "2.0", 4.6),  # AWS DescribeImageScanFindings example
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C", "2.0", 10.0),
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:H/A:N", "3.1", 5.9),  # GHSA-v845-jxx5-vc9f
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "3.1", 10.0),  # log4shell
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "3.1", 7.5),  # CVE-2023-5363 (NVD)
        ("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.0", 9.8),
        ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3),
    ],
)
def test_scores(kind: str, vector: str, version: str, score: float) -> None:
    scored = score_vector(kind, vector, "NVD")
    assert scored == Cvss(version, vector, score, "NVD")


def test_bad_vectors_are_dropped() -> None:
    assert score_vector("CVSS_V3", "CVSS:3.1/AV:X") is None
    assert score_vector("CVSS_V2", "garbage") is None
    assert score_vector("Ubuntu", "medium") is None
    entries = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:H/A:N"},
        {"type": "Ubuntu", "score": "high"},
        {"type": "CVSS_V3", "score": "nonsense"},
        "not an object",
    ]
    assert [c.base_score for c in cvss_entries(entries)] == [5.9]  # type: ignore[arg-type]
    assert ubuntu_priority(entries) == "high"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("score", "v3", "v2"),
    [
        (0.0, "INFORMATIONAL", "LOW"),
        (0.1, "LOW", "LOW"),
        (3.9, "LOW", "LOW"),
        (4.0, "MEDIUM", "MEDIUM"),
        (6.9, "MEDIUM", "MEDIUM"),
        (7.0, "HIGH", "HIGH"),
        (8.9, "HIGH", "HIGH"),
        (9.0, "CRITICAL", "HIGH"),
        (10.0, "CRITICAL", "HIGH"),
    ],
)
def test_bands(score: float, v3: str, v2: str) -> None:
    assert band_v3(score) == v3
    assert band_v2(score) == v2


def test_vendor_words() -> None:
    assert from_vendor("debian", "unimportant") == "INFORMATIONAL"
    assert from_vendor("debian", "low") == "LOW"
    assert from_vendor("debian", "medium**") == "MEDIUM"
    assert from_vendor("debian", "high") == "HIGH"
    assert from_vendor("debian", "not yet assigned") is None
    assert from_vendor("debian", "end-of-life") is None
    assert from_vendor("ubuntu", "negligible") == "INFORMATIONAL"
    assert from_vendor("ubuntu", "critical") == "CRITICAL"
    assert from_vendor("ghsa", "MODERATE") == "MEDIUM"
    assert from_vendor("ghsa", "CRITICAL") == "CRITICAL"
    assert from_vendor("ghsa", None) is None


def test_decide_prefers_vendor_then_v3_then_v2() -> None:
    v2 = Cvss("2.0", "AV:L/AC:L/Au:N/C:P/I:P/A:P", 4.6)
    v3 = Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5)
    v4 = Cvss("4.0", "CVSS:4.0/…", 9.3)
    assert decide("debian", "low", [v3]) == "LOW"  # distro's word wins over CVSS
    assert decide("debian", "not yet assigned", [v3]) == "HIGH"  # no word -> CVSS
    assert decide("debian", "unimportant", [v3]) == "INFORMATIONAL"
    assert decide(None, None, [v2, v3]) == "HIGH"
    assert decide(None, None, [v4, v2]) == "CRITICAL"
    assert decide(None, None, [v2]) == "MEDIUM"
    assert decide(None, None, []) == "UNDEFINED"
    assert from_cvss([]) is None
