"""Decide which installed packages OSV records affect, and turn the hits into Findings.

Pure functions over rows already fetched from the vulnerability database (see vulndb/store.py),
so the rules can be tested without a database:

* OSV range evaluation as the schema's pseudocode gives it: events sorted with the ecosystem's
  ordering, `introduced` opens, `fixed` closes, a version past `last_affected` closes, `limit`
  bounds the range; SEMVER ranges use SemVer ordering whatever the ecosystem; GIT ranges are
  ignored (we don't know commits of installed packages); `versions` lists match by equality.
* OS packages are looked up by source package and source version on the exact release
  ecosystem ("Debian:12"), but reported per binary package, like Trivy and Grype.
* Records about the same CVE are one finding (DSA-5532-1 + DEBIAN-CVE-2023-5363 ->
  CVE-2023-5363 listing both); a record naming several CVEs is one finding per CVE; a record
  without a CVE keeps its own id. MAL-* (malicious package) records are not vulnerabilities.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockyard.features.scanning import severity as sev
from dockyard.features.scanning.model import OS, SEVERITIES, Cvss, Finding, Package
from dockyard.features.scanning.versions import UncomparableVersion, compare, normalize_name

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 1024  # characters; details can run to pages of markdown
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_PER_CVE_ID = re.compile(r"^(?:[A-Z][A-Za-z]*-)?(CVE-\d{4}-\d{4,})$")  # CVE-…, DEBIAN-CVE-…, ALPINE-CVE-…


@dataclass(frozen=True, slots=True)
class Advisory:
    """The top level of one OSV record, as stored in vuln_advisories."""

    id: str
    modified: datetime | None = None
    published: datetime | None = None
    summary: str | None = None
    details: str | None = None
    aliases: Sequence[str] = ()
    upstream: Sequence[str] = ()
    related: Sequence[str] = ()
    severity: Sequence[Mapping[str, Any]] = ()
    references: Sequence[Mapping[str, Any]] = ()
    database_specific: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Affected:
    """One affected[] entry of a record, as stored in vuln_affected."""

    advisory_id: str
    ecosystem: str
    package_name: str
    ranges: Sequence[Mapping[str, Any]] = ()
    versions: Sequence[str] = ()
    ecosystem_specific: Mapping[str, Any] = field(default_factory=dict)
    database_specific: Mapping[str, Any] = field(default_factory=dict)
    severity: Sequence[Mapping[str, Any]] = ()


def lookup_key(pkg: Package) -> tuple[str, str, str] | None:
    """(ecosystem, advisory package name, version to compare) for a package, or None if unadvised."""
    if not pkg.ecosystem:
        return None
    if pkg.package_manager == OS:
        return pkg.ecosystem, pkg.lookup_name, pkg.lookup_version
    return pkg.ecosystem, normalize_name(pkg.ecosystem, pkg.name), pkg.version


def is_excluded(advisory_id: str) -> bool:
    """Malicious-package reports describe packages to remove, not vulnerabilities to fix."""
    return advisory_id.startswith("MAL-")


# ----------------------------------------------------------------------------- ranges
def _event(e: Mapping[str, Any]) -> tuple[str, str] | None:
    for kind in ("introduced", "fixed", "last_affected", "limit"):
        value = e.get(kind)
        if isinstance(value, str):
            return kind, value
    return None


def _range_scheme(ecosystem: str, range_type: str) -> str:
    # Go's SEMVER ranges need Go's spelling rules ("v" prefix, "go1.21" stdlib versions).
    if range_type == "SEMVER" and ecosystem.split(":", 1)[0] != "Go":
        return "SEMVER"
    return ecosystem


def evaluate_range(ecosystem: str, version: str, rng: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """Whether version lies in one OSV range, and the range's fixed versions above it.

    Raises UncomparableVersion when the version or an event can't be ordered.
    """
    range_type = rng.get("type")
    if range_type not in ("ECOSYSTEM", "SEMVER"):
        return False, []
    scheme = _range_scheme(ecosystem, str(range_type))
    events = [ev for ev in (_event(e) for e in rng.get("events") or () if isinstance(e, Mapping)) if ev]

    def order(a: tuple[str, str], b: tuple[str, str]) -> int:
        return _cmp_event(scheme, a, b)

    events.sort(key=functools.cmp_to_key(order))
    limits = [v for k, v in events if k == "limit"]
    if limits and not any(v == "*" or compare(scheme, version, v) < 0 for v in limits):
        return False, []
    vulnerable = False
    for kind, value in events:
        if kind == "introduced":
            if value == "0" or compare(scheme, value, version) <= 0:
                vulnerable = True
        elif kind == "fixed":
            if compare(scheme, value, version) <= 0:
                vulnerable = False
        elif kind == "last_affected" and compare(scheme, value, version) < 0:
            vulnerable = False
    if not vulnerable:
        return False, []
    fixes = [v for k, v in events if k == "fixed" and compare(scheme, v, version) > 0]
    return True, fixes


def _cmp_event(scheme: str, a: tuple[str, str], b: tuple[str, str]) -> int:
    (ka, va), (kb, vb) = a, b
    low_a, low_b = ka == "introduced" and va == "0", kb == "introduced" and vb == "0"
    high_a, high_b = ka == "limit" and va == "*", kb == "limit" and vb == "*"
    if low_a or high_b:
        return 0 if (low_a and low_b) or (high_a and high_b) else -1
    if low_b or high_a:
        return 1
    return compare(scheme, va, vb)


def evaluate(ecosystem: str, version: str, entry: Affected) -> tuple[bool, str | None]:
    """Whether an affected[] entry covers version, and the smallest fix above it (None: no fix)."""
    hit = version in (entry.versions or ())
    fixes: list[str] = []
    for rng in entry.ranges or ():
        try:
            in_range, range_fixes = evaluate_range(ecosystem, version, rng)
        except UncomparableVersion as e:
            log.info("not matching %s %s against %s: %s", entry.package_name, version, entry.advisory_id, e)
            continue
        if in_range:
            hit = True
            fixes.extend(range_fixes)
    if not hit:
        return False, None
    return True, smallest(ecosystem, fixes)


def smallest(ecosystem: str, versions: Iterable[str]) -> str | None:
    """The lowest of some versions in the ecosystem's order (unorderable ones are dropped)."""
    best: str | None = None
    for v in versions:
        try:
            if best is None or compare(ecosystem, v, best) < 0:
                best = v
        except UncomparableVersion:
            continue
    return best


# ----------------------------------------------------------------------------- grouping
@dataclass(slots=True)
class _Hit:
    advisory: Advisory
    entries: list[Affected]
    fixed: str | None


def cve_ids(adv: Advisory) -> list[str]:
    """The CVEs a record is about: its own id, else upstream/aliases (related only as a last resort)."""
    own = _PER_CVE_ID.match(adv.id)
    if own:
        return [own[1]]
    found: list[str] = []
    for group in ((adv.upstream, adv.aliases), (adv.related,)):
        for ids in group:
            for x in ids or ():
                if isinstance(x, str) and _CVE.fullmatch(x) and x not in found:
                    found.append(x)
        if found:
            break
    return found


def _rank(adv: Advisory) -> tuple[int, str]:
    # Per-CVE records (DEBIAN-CVE-…, CVE-…) carry the distro's view of that one CVE: name/severity
    # come from them; DSA/DLA/USN/GHSA ids are kept as vendor references.
    if _PER_CVE_ID.match(adv.id):
        return 0, adv.id
    if adv.id.startswith("GHSA-"):
        return 1, adv.id
    return 2, adv.id


def match_package(
    pkg: Package, entries: Iterable[Affected], advisories: Mapping[str, Advisory]
) -> list[Finding]:
    """Findings for one installed package given the affected[] rows stored for its lookup key."""
    key = lookup_key(pkg)
    if key is None:
        return []
    ecosystem, _name, version = key
    by_advisory: dict[str, list[Affected]] = {}
    for entry in entries:
        if not is_excluded(entry.advisory_id) and entry.advisory_id in advisories:
            by_advisory.setdefault(entry.advisory_id, []).append(entry)
    groups: dict[str, list[_Hit]] = {}
    for advisory_id, adv_entries in by_advisory.items():
        matched: list[Affected] = []
        fixes: list[str] = []
        for entry in adv_entries:
            hit, fixed = evaluate(ecosystem, version, entry)
            if hit:
                matched.append(entry)
                if fixed is not None:
                    fixes.append(fixed)
        if not matched:
            continue
        adv = advisories[advisory_id]
        hit_ = _Hit(adv, matched, smallest(ecosystem, fixes))
        for vuln_id in cve_ids(adv) or [adv.id]:
            groups.setdefault(vuln_id, []).append(hit_)
    return [_finding(pkg, ecosystem, vuln_id, hits) for vuln_id, hits in groups.items()]


def match_packages(
    packages: Iterable[Package],
    entries_by_key: Mapping[tuple[str, str], Sequence[Affected]],
    advisories: Mapping[str, Advisory],
) -> list[Finding]:
    """Findings for every package, most severe first, then by vulnerability id."""
    findings: list[Finding] = []
    for pkg in packages:
        key = lookup_key(pkg)
        if key is None:
            continue
        entries = entries_by_key.get((key[0], key[1]))
        if entries:
            findings.extend(match_package(pkg, entries, advisories))
    return sort_findings(findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(
        findings,
        key=lambda f: (
            order.get(f.severity, len(order)),
            f.vulnerability_id,
            f.package.name,
            f.package.version,
            f.package.file_path,
        ),
    )


# ----------------------------------------------------------------------------- findings
_TRACKERS = {
    "Debian": "https://security-tracker.debian.org/tracker/{}",
    "Ubuntu": "https://ubuntu.com/security/{}",
    "Alpine": "https://security.alpinelinux.org/vuln/{}",
}

_SOURCES = (
    (re.compile(r"^(DEBIAN-|DSA-|DLA-|DTSA-)"), "DEBIAN_CVE"),
    (re.compile(r"^(UBUNTU-|USN-|LSN-)"), "UBUNTU_CVE"),
    (re.compile(r"^ALPINE-"), "ALPINE_SEC"),
    (re.compile(r"^GHSA-"), "GITHUB"),
    (re.compile(r"^GO-"), "GO_VULNDB"),
    (re.compile(r"^PYSEC-"), "PYPA"),
    (re.compile(r"^RUSTSEC-"), "RUSTSEC"),
    (re.compile(r"^CVE-"), "NVD"),
)


def source_of(advisory_id: str) -> str:
    """Inspector-style vulnerability source for an advisory id."""
    for pattern, name in _SOURCES:
        if pattern.match(advisory_id):
            return name
    return "OSV"


def _cvss_source(advisory_id: str) -> str | None:
    # Distro per-CVE records copy NVD's vectors; GHSA scores are GitHub's own.
    if _PER_CVE_ID.match(advisory_id):
        return "NVD"
    if advisory_id.startswith("GHSA-"):
        return "GITHUB"
    return None


def _vendor_word(adv: Advisory, entries: Sequence[Affected], ecosystem: str) -> tuple[str, str] | None:
    base = ecosystem.split(":", 1)[0]
    if base == "Debian":
        for e in entries:
            urgency = (e.ecosystem_specific or {}).get("urgency")
            if isinstance(urgency, str) and urgency:
                return "debian", urgency
    if base == "Ubuntu":
        for e in entries:
            word = sev.ubuntu_priority(e.severity)
            if word:
                return "ubuntu", word
        word = sev.ubuntu_priority(adv.severity)
        if word:
            return "ubuntu", word
    ghsa = (adv.database_specific or {}).get("severity")
    if isinstance(ghsa, str) and ghsa:
        return "ghsa", ghsa
    return None


def _describe(hits: Sequence[_Hit]) -> str:
    for h in hits:
        text = (h.advisory.summary or "").strip() or (h.advisory.details or "").strip()
        if text:
            if len(text) > DESCRIPTION_LIMIT:
                text = text[: DESCRIPTION_LIMIT - 1].rsplit(" ", 1)[0] + "…"
            return text
    return ""


def _uri(vuln_id: str, ecosystem: str, primary: Advisory) -> str:
    tracker = _TRACKERS.get(ecosystem.split(":", 1)[0])
    if tracker and vuln_id.startswith("CVE-"):
        return tracker.format(vuln_id)
    for kind in ("ADVISORY", "WEB"):
        for ref in primary.references or ():
            if isinstance(ref, Mapping) and ref.get("type") == kind and isinstance(ref.get("url"), str):
                return str(ref["url"])
    return f"https://osv.dev/vulnerability/{primary.id}"


def _iso(when: datetime | None) -> str | None:
    # Go's vulndb repository writes 0001-01-01 as a placeholder date.
    if when is None or when.year < 1970:
        return None
    return when.isoformat().replace("+00:00", "Z")


def _finding(pkg: Package, ecosystem: str, vuln_id: str, hits: list[_Hit]) -> Finding:
    hits = sorted(hits, key=lambda h: _rank(h.advisory))
    primary = hits[0].advisory
    advisory_ids = tuple(dict.fromkeys(h.advisory.id for h in hits))

    vendor: tuple[str, str] | None = None
    severity: str | None = None
    for h in hits:
        word = _vendor_word(h.advisory, h.entries, ecosystem)
        if word is None:
            continue
        vendor = vendor or word
        chosen = sev.from_vendor(*word)
        if chosen is not None:
            vendor, severity = word, chosen
            break
    scores: list[Cvss] = []
    for h in hits:
        entry_severity = [s for e in h.entries for s in (e.severity or ())]
        scores = sev.cvss_entries(entry_severity or h.advisory.severity, _cvss_source(h.advisory.id))
        if scores:
            break
    if severity is None:
        severity = sev.from_cvss(scores) or "UNDEFINED"

    related: list[str] = []
    references: list[str] = []
    for h in hits:
        for x in (*h.advisory.upstream, *h.advisory.aliases, *h.advisory.related):
            if isinstance(x, str) and x != vuln_id and x not in advisory_ids and x not in related:
                related.append(x)
        for ref in h.advisory.references or ():
            url = ref.get("url") if isinstance(ref, Mapping) else None
            if isinstance(url, str) and url not in references:
                references.append(url)

    return Finding(
        vulnerability_id=vuln_id,
        package=pkg,
        severity=severity,
        description=_describe(hits),
        uri=_uri(vuln_id, ecosystem, primary),
        advisory_ids=advisory_ids,
        fixed_version=smallest(ecosystem, [h.fixed for h in hits if h.fixed is not None]),
        source=source_of(primary.id),
        cvss=tuple(scores),
        vendor_severity=vendor[1] if vendor else None,
        related=tuple(related),
        references=tuple(references),
        published=_iso(primary.published),
        modified=_iso(max((h.advisory.modified for h in hits if h.advisory.modified), default=None)),
    )
