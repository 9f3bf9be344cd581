"""One ECR severity per finding, from what the advisory says.

ECR "uses the severity for a CVE from the upstream distribution source if available, otherwise
the CVSS score", and UNDEFINED when there is neither. OSV carries CVSS *vectors* only, so scores
are computed here (the `cvss` library implements the FIRST formulas for v2, v3.x and v4).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4

from dockyard.features.scanning.model import Cvss

log = logging.getLogger(__name__)

# Debian tracker urgency -> ECR severity. "not yet assigned" and "end-of-life" carry no judgement,
# so those fall through to CVSS like an absent urgency does.
DEBIAN_URGENCY = {
    "unimportant": "INFORMATIONAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
}

# Ubuntu CVE tracker priority -> ECR severity.
UBUNTU_PRIORITY = {
    "negligible": "INFORMATIONAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "critical": "CRITICAL",
}

# GitHub advisory database_specific.severity -> ECR severity.
GHSA_SEVERITY = {
    "LOW": "LOW",
    "MODERATE": "MEDIUM",
    "MEDIUM": "MEDIUM",
    "HIGH": "HIGH",
    "CRITICAL": "CRITICAL",
}


@lru_cache(maxsize=16384)
def score_vector(kind: str, vector: str, source: str | None = None) -> Cvss | None:
    """Score an OSV severity entry (type CVSS_V2/CVSS_V3/CVSS_V4); None when it doesn't parse."""
    try:
        if kind == "CVSS_V2":
            return Cvss("2.0", vector, float(CVSS2(vector).scores()[0]), source)
        if kind == "CVSS_V3":
            version = "3.0" if vector.startswith("CVSS:3.0/") else "3.1"
            return Cvss(version, vector, float(CVSS3(vector).scores()[0]), source)
        if kind == "CVSS_V4":
            return Cvss("4.0", vector, float(CVSS4(vector).base_score), source)
    except Exception as e:  # the cvss library raises its own error classes per version
        log.info("unparseable %s vector %r: %s", kind, vector, e)
    return None


def cvss_entries(severity: Iterable[Mapping[str, Any]] | None, source: str | None = None) -> list[Cvss]:
    """The scored CVSS vectors of an OSV severity[] list (distro priority entries are skipped)."""
    found: list[Cvss] = []
    for entry in severity or ():
        if not isinstance(entry, Mapping):
            continue
        kind, score = entry.get("type"), entry.get("score")
        if isinstance(kind, str) and isinstance(score, str):
            scored = score_vector(kind, score, source)
            if scored is not None:
                found.append(scored)
    return found


def ubuntu_priority(severity: Iterable[Mapping[str, Any]] | None) -> str | None:
    """The Ubuntu priority word of an OSV severity[] list ({"type": "Ubuntu", "score": "medium"})."""
    for entry in severity or ():
        if (
            isinstance(entry, Mapping)
            and entry.get("type") == "Ubuntu"
            and isinstance(entry.get("score"), str)
        ):
            return str(entry["score"])
    return None


def band_v3(score: float) -> str:
    """NVD's CVSS v3/v4 qualitative bands (0.0 is "None", which ECR calls INFORMATIONAL)."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "INFORMATIONAL"


def band_v2(score: float) -> str:
    """NVD's CVSS v2 bands: 0-3.9 LOW, 4-6.9 MEDIUM, 7-10 HIGH (v2 has no CRITICAL)."""
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    return "LOW"


def from_cvss(scores: Iterable[Cvss]) -> str | None:
    """Severity from the best CVSS version present: v3, then v4, then v2."""
    by_version: dict[str, Cvss] = {}
    for c in scores:
        by_version.setdefault(c.version.split(".")[0], c)
    if "3" in by_version:
        return band_v3(by_version["3"].base_score)
    if "4" in by_version:
        return band_v3(by_version["4"].base_score)
    if "2" in by_version:
        return band_v2(by_version["2"].base_score)
    return None


def from_vendor(kind: str, word: str | None) -> str | None:
    """A distro's or GitHub's own severity word, or None when it says nothing usable."""
    if not word:
        return None
    if kind == "debian":
        return DEBIAN_URGENCY.get(word.strip().rstrip("*").strip().lower())
    if kind == "ubuntu":
        return UBUNTU_PRIORITY.get(word.strip().lower())
    if kind == "ghsa":
        return GHSA_SEVERITY.get(word.strip().upper())
    return None


def decide(vendor_kind: str | None, vendor_word: str | None, scores: Iterable[Cvss]) -> str:
    """Distro/GitHub severity when given, else CVSS bands, else UNDEFINED."""
    if vendor_kind is not None:
        chosen = from_vendor(vendor_kind, vendor_word)
        if chosen is not None:
            return chosen
    return from_cvss(scores) or "UNDEFINED"
