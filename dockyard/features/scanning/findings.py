"""What a scan reports of the matcher's findings, and their severity counts.

The matcher produces `Finding`s for every package; what a scan reports depends on its type:
BASIC reports OS packages only (as ECR's basic scanning does), ENHANCED adds language packages.
The ECR door shapes them (`dockyard.ecr.scan_findings`).
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.features.scanning.model import OS, SEVERITIES, Finding

BASIC, ENHANCED = "BASIC", "ENHANCED"
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def for_scan_type(findings: Iterable[Finding], scan_type: str) -> list[Finding]:
    """What a scan of ``scan_type`` reports, most severe first (then by name and package)."""
    chosen = [f for f in findings if scan_type == ENHANCED or f.package.package_manager == OS]
    return sorted(
        chosen,
        key=lambda f: (_RANK.get(f.severity, len(SEVERITIES)), f.vulnerability_id, f.package.name, f.key),
    )


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """findingSeverityCounts: only severities that occur."""
    counts: dict[str, int] = {}
    for f in findings:
        severity = f.severity if f.severity in _RANK else "UNDEFINED"
        counts[severity] = counts.get(severity, 0) + 1
    return {s: counts[s] for s in SEVERITIES if s in counts}
