"""ECR finding shapes: basic findings, enhanced (Inspector) findings, severity counts and paging,
validated against botocore's model of DescribeImageScanFindings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from dockyard.ecr import scan_findings as ef
from dockyard.features.scanning import findings as fx
from dockyard.features.scanning.model import NODEPKG, OS, Cvss, Finding, Package

MODEL = botocore.session.get_session().get_service_model("ecr")
OUTPUT = MODEL.operation_model("DescribeImageScanFindings").output_shape
SEVERITIES = set(MODEL.shape_for("FindingSeverity").enum)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def package(name: str, version: str, manager: str = OS, **extra: Any) -> Package:
    ecosystem = "Debian:12" if manager == OS else "npm"
    return Package(
        name, version, ecosystem, manager, f"var/lib/dpkg/status#{name}", "sha256:" + "a" * 64, **extra
    )


def finding(
    vid: str, pkg: Package, severity: str, fixed: str | None = None, cvss: tuple[Cvss, ...] = ()
) -> Finding:
    return Finding(
        vulnerability_id=vid,
        package=pkg,
        severity=severity,
        description=f"{vid} description",
        uri=f"https://security-tracker.debian.org/tracker/{vid}",
        advisory_ids=(vid,),
        fixed_version=fixed,
        source="DEBIAN_CVE",
        cvss=cvss,
        published="2023-10-25T18:17:00Z",
    )


V2 = Cvss("2.0", "AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, "NVD")
V3 = Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, "NVD")
FINDINGS = [
    finding("CVE-2023-45853", package("zlib1g", "1:1.2.13.dfsg-1", source_name="zlib"), "CRITICAL"),
    finding("CVE-2023-5363", package("openssl", "3.0.11-1~deb12u1"), "HIGH", "3.0.11-1~deb12u2", (V2, V3)),
    finding("CVE-2021-23337", package("lodash", "4.17.20", NODEPKG), "HIGH", "4.17.21", (V3,)),
    finding("CVE-2023-0001", package("libc6", "2.36-9", arch="amd64"), "weird"),
]


def validate(response: dict[str, Any]) -> None:
    report = ParamValidator().validate(response, OUTPUT)
    assert not report.has_errors(), report.generate_report()


def test_basic_findings_are_os_only_sorted_and_valid() -> None:
    chosen = fx.for_scan_type(FINDINGS, fx.BASIC)
    assert [f.vulnerability_id for f in chosen] == ["CVE-2023-45853", "CVE-2023-5363", "CVE-2023-0001"]
    shaped = [ef.basic(f) for f in chosen]
    openssl = shaped[1]
    assert openssl["name"] == "CVE-2023-5363" and openssl["severity"] == "HIGH"
    attributes = {a["key"]: a["value"] for a in openssl["attributes"]}
    assert attributes == {
        "package_name": "openssl",
        "package_version": "3.0.11-1~deb12u1",
        "CVSS2_VECTOR": "AV:N/AC:L/Au:N/C:P/I:N/A:N",
        "CVSS2_SCORE": "5.0",
        "CVSS3_VECTOR": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "CVSS3_SCORE": "7.5",
    }
    # No CVSS known: no CVSS keys and never an empty value.
    assert {a["key"] for a in shaped[0]["attributes"]} == {"package_name", "package_version"}
    assert all(a["value"] for s in shaped for a in s["attributes"])
    assert shaped[2]["severity"] == "UNDEFINED"
    assert {s["severity"] for s in shaped} <= SEVERITIES
    validate({"imageScanFindings": {"findings": shaped, "findingSeverityCounts": fx.severity_counts(chosen)}})


def test_severity_counts_only_present_severities() -> None:
    assert fx.severity_counts(fx.for_scan_type(FINDINGS, fx.ENHANCED)) == {
        "CRITICAL": 1,
        "HIGH": 2,
        "UNDEFINED": 1,
    }
    assert fx.severity_counts([]) == {}


def test_enhanced_findings_include_language_packages_and_are_valid() -> None:
    chosen = fx.for_scan_type(FINDINGS, fx.ENHANCED)
    assert {f.package.name for f in chosen} == {"zlib1g", "openssl", "lodash", "libc6"}
    shaped = [
        ef.enhanced(
            f,
            region="us-east-1",
            account="123456789012",
            repository="team/app",
            manifest_digest="sha256:" + "b" * 64,
            tags=["v1"],
            pushed_at=NOW,
            architecture="amd64",
            platform=None,
            first_observed=NOW,
            last_observed=NOW,
            updated_at=NOW,
        )
        for f in chosen
    ]
    validate({"imageScanFindings": {"enhancedFindings": shaped}})
    by_package = {s["packageVulnerabilityDetails"]["vulnerablePackages"][0]["name"]: s for s in shaped}
    zlib = by_package["zlib1g"]["packageVulnerabilityDetails"]["vulnerablePackages"][0]
    assert (zlib["epoch"], zlib["version"], zlib["release"]) == (1, "1.2.13.dfsg", "1")
    assert by_package["zlib1g"]["fixAvailable"] == "NO" and "fixedInVersion" not in zlib
    lodash = by_package["lodash"]
    assert lodash["packageVulnerabilityDetails"]["vulnerablePackages"][0]["packageManager"] == "NODEPKG"
    assert lodash["fixAvailable"] == "YES" and lodash["score"] == 7.5
    assert lodash["findingArn"].startswith("arn:aws:inspector2:us-east-1:123456789012:finding/")
    # The ARN is stable for the same finding in the same image.
    again = ef.finding_arn("us-east-1", "123456789012", "sha256:" + "b" * 64, chosen[1])
    assert again == ef.finding_arn("us-east-1", "123456789012", "sha256:" + "b" * 64, chosen[1])


def test_page_bounds() -> None:
    assert ef.page_bounds(0, 2, 5) == (0, 2, 2)
    assert ef.page_bounds(4, 2, 5) == (4, 5, None)
    assert ef.page_bounds(0, 100, 0) == (0, 0, None)
    assert ef.page_bounds(9, 2, 5) == (5, 5, None)
