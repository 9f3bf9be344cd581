"""Findings in ECR's shapes: basic ``findings`` and Inspector-style ``enhancedFindings`` of
DescribeImageScanFindings, and its paging.

ECR's model refuses empty attribute values, so an attribute without a value is left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dockyard.features.scanning.model import OS, SEVERITIES, Finding

DEFAULT_PAGE, MAX_PAGE = 100, 1000
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_MAX_ATTRIBUTE = 256
_MAX_DESCRIPTION = 4096


def _score(value: float) -> str:
    return f"{value:.1f}"


def _attributes(finding: Finding) -> list[dict[str, str]]:
    pairs: list[tuple[str, str | None]] = [
        ("package_name", finding.package.name),
        ("package_version", finding.package.version),
    ]
    v2 = next((c for c in finding.cvss if c.version.startswith("2")), None)
    v3 = next((c for c in finding.cvss if c.version.startswith("3")), None)
    if v2 is not None:
        pairs += [("CVSS2_VECTOR", v2.vector), ("CVSS2_SCORE", _score(v2.base_score))]
    if v3 is not None:
        pairs += [("CVSS3_VECTOR", v3.vector), ("CVSS3_SCORE", _score(v3.base_score))]
    return [{"key": k, "value": v[:_MAX_ATTRIBUTE]} for k, v in pairs if v]


def basic(finding: Finding) -> dict[str, Any]:
    """One element of ``imageScanFindings.findings``."""
    out: dict[str, Any] = {
        "name": finding.vulnerability_id,
        "severity": finding.severity if finding.severity in _RANK else "UNDEFINED",
        "attributes": _attributes(finding),
    }
    if finding.description:
        out["description"] = finding.description[:_MAX_DESCRIPTION]
    if finding.uri:
        out["uri"] = finding.uri
    return out


def finding_arn(region: str, account: str, manifest_digest: str, finding: Finding) -> str:
    """A stable Inspector-style ARN: the same finding keeps its ARN across rescans."""
    digest = hashlib.sha256(f"{manifest_digest}|{finding.key}".encode()).hexdigest()[:32]
    return f"arn:aws:inspector2:{region}:{account}:finding/{digest}"


def _epoch(version: str) -> tuple[int | None, str, str | None]:
    """Split ``[epoch:]version[-release]`` as Inspector reports distro packages."""
    epoch: int | None = None
    rest = version
    head, sep, tail = version.partition(":")
    if sep and head.isdigit():
        epoch, rest = int(head), tail
    release: str | None = None
    if "-" in rest:
        rest, release = rest.rsplit("-", 1)
    return epoch, rest, release


def _vulnerable_package(finding: Finding) -> dict[str, Any]:
    p = finding.package
    out: dict[str, Any] = {"name": p.name, "packageManager": p.package_manager, "filePath": p.file_path}
    if p.package_manager == OS:
        epoch, version, release = _epoch(p.version)
        out["version"] = version
        out["epoch"] = epoch if epoch is not None else 0
        if release:
            out["release"] = release
    else:
        out["version"] = p.version
    if p.arch:
        out["arch"] = p.arch
    if p.layer_digest:
        out["sourceLayerHash"] = p.layer_digest
    if finding.fixed_version:
        out["fixedInVersion"] = finding.fixed_version
    return {k: v for k, v in out.items() if v is not None and v != ""}


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def enhanced(
    finding: Finding,
    *,
    region: str,
    account: str,
    repository: str,
    manifest_digest: str,
    tags: Sequence[str],
    pushed_at: datetime | None,
    architecture: str | None,
    platform: str | None,
    first_observed: datetime,
    last_observed: datetime,
    updated_at: datetime,
) -> dict[str, Any]:
    """One element of ``imageScanFindings.enhancedFindings`` (Inspector's finding shape)."""
    best = max(finding.cvss, key=lambda c: (c.version, c.base_score), default=None)
    details: dict[str, Any] = {
        "vulnerabilityId": finding.vulnerability_id,
        "source": finding.source,
        "sourceUrl": finding.uri or None,
        "vendorSeverity": finding.vendor_severity,
        "vendorCreatedAt": _iso(finding.published),
        "vendorUpdatedAt": _iso(finding.modified),
        "referenceUrls": list(finding.references) or None,
        "relatedVulnerabilities": list(finding.related) or None,
        "cvss": [
            {
                "baseScore": c.base_score,
                "scoringVector": c.vector,
                "source": c.source or finding.source,
                "version": c.version,
            }
            for c in finding.cvss
        ]
        or None,
        "vulnerablePackages": [_vulnerable_package(finding)],
    }
    image: dict[str, Any] = {
        "imageHash": manifest_digest,
        "registry": account,
        "repositoryName": repository,
        "imageTags": list(tags) or None,
        "pushedAt": pushed_at,
        "architecture": architecture,
        "platform": platform,
    }
    package = finding.package
    fix = (
        f"Upgrade {package.name} to version {finding.fixed_version} or later."
        if finding.fixed_version
        else ("None provided")
    )
    image_hash = manifest_digest.split(":", 1)[-1]
    out: dict[str, Any] = {
        "awsAccountId": account,
        "description": (finding.description or finding.vulnerability_id)[:_MAX_DESCRIPTION],
        "findingArn": finding_arn(region, account, manifest_digest, finding),
        "firstObservedAt": first_observed,
        "lastObservedAt": last_observed,
        "updatedAt": updated_at,
        "packageVulnerabilityDetails": {k: v for k, v in details.items() if v is not None},
        "remediation": {"recommendation": {"text": fix}},
        "resources": [
            {
                "id": f"arn:aws:ecr:{region}:{account}:repository/{repository}/{image_hash}",
                "type": "AWS_ECR_CONTAINER_IMAGE",
                "details": {"awsEcrContainerImage": {k: v for k, v in image.items() if v is not None}},
            }
        ],
        "severity": finding.severity if finding.severity in _RANK else "UNDEFINED",
        "status": "ACTIVE",
        "title": f"{finding.vulnerability_id} - {package.name}",
        "type": "PACKAGE_VULNERABILITY",
        "fixAvailable": "YES" if finding.fixed_version else "NO",
        "exploitAvailable": "NO",
    }
    if best is not None:
        out["score"] = best.base_score
        out["scoreDetails"] = {
            "cvss": {
                "score": best.base_score,
                "scoreSource": best.source or finding.source,
                "scoringVector": best.vector,
                "version": best.version,
                "adjustments": [],
            }
        }
    return out


def page_bounds(start: int, limit: int, total: int) -> tuple[int, int, int | None]:
    """[start, end) of one page and the next start (None on the last page)."""
    start = max(0, min(start, total))
    end = min(total, start + limit)
    return start, end, end if end < total else None
