"""Image scanning through the real clients: scan on push (aws CLI, OCI pushes, skopeo), the
ImageScanComplete waiter, DescribeImageScanFindings (basic and enhanced shapes, pagination),
DescribeImages' scan summary, registry scanning configuration, StartImageScan's 24-hour quota
(on a second node whose clock is a day ahead), unsupported images, continuous rescans after a
vulnerability database import, the per-layer cache, and a 1 GiB layer scanned in bounded memory.

The tests run on a server of their own (the registry scanning configuration is registry-wide),
with the OSV fixtures of tests/fixtures/osv imported through `dockyard vulndb import`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests import scanning_images as si
from tests.integration import clients
from tests.integration.clients import Registry, Skopeo, require_tool
from tests.integration.ecrtools import aws_cli, check_output_shape, ecr_client, error_code
from tests.integration.ocitools import Oci

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
OSV = ROOT / "tests" / "fixtures" / "osv"
MODEL = botocore.session.get_session().get_service_model("ecr")
SCAN_STATUSES = set(MODEL.shape_for("ScanStatus").enum)
SEVERITIES = set(MODEL.shape_for("FindingSeverity").enum)
FREQUENCIES = set(MODEL.shape_for("ScanFrequency").enum)
DAY = 24 * 3600
MiB = 1024 * 1024

# What the Debian 12 test image must show (tests/scanning_images.py, §6.7 of the research notes).
OS_FINDINGS = {
    ("CVE-2023-5363", "openssl", "HIGH"),
    ("CVE-2023-5363", "libssl3", "HIGH"),
    ("CVE-2023-4911", "libc6", "UNDEFINED"),  # the DSA fixture carries no severity
    ("CVE-2023-45853", "zlib1g", "CRITICAL"),
}
PROBE = "dockyard-rescan-probe"  # a PyPI package only the continuous-rescan test's image has
LANGUAGE_FINDINGS = {
    ("CVE-2023-43804", "urllib3"),
    ("CVE-2024-37891", "urllib3"),
    ("CVE-2021-23337", "lodash"),
}


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def scan_reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("dockyard-scan")
    with clients.dockyard_server(workdir) as reg:
        result = reg.cli("vulndb", "import", str(OSV))
        assert result.returncode == 0, result.describe()
        yield reg


@pytest.fixture
def ecr_server(scan_reg: Registry) -> Registry:
    """``ecr`` talks to this module's server."""
    return scan_reg


def shared_storage(reg: Registry) -> dict[str, str]:
    """DOCKYARD_* settings that make another server a second node of ``reg``."""
    if reg.storage_env:
        return dict(reg.storage_env)
    return {
        "DOCKYARD_DATABASE": f"sqlite+aiosqlite:///{(reg.data_dir / 'dockyard.db').resolve()}",
        "DOCKYARD_BLOB_STORE": f"file:{(reg.data_dir / 'blobs').resolve()}",
    }


# ------------------------------------------------------------------------------ helpers
def name(prefix: str) -> str:
    return f"scan/{prefix}-{uuid.uuid4().hex[:8]}"


def set_config(ecr: Any, scan_type: str, rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return ecr.put_registry_scanning_configuration(scanType=scan_type, rules=rules or [])


def wildcard(frequency: str, *filters: str) -> dict[str, Any]:
    return {
        "scanFrequency": frequency,
        "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters],
    }


def push(reg: Registry, repo: str, image: si.TestImage, tag: str = "v1") -> str:
    oci = Oci(reg)
    try:
        for blob in image.blobs().values():
            oci.push_blob(repo, blob)
        r = oci.put_manifest(repo, tag, image.manifest, image.manifest_media_type)
        assert r.status_code == 201, r.text
    finally:
        oci.close()
    return image.digest


def derived(base: si.TestImage, extra: list[si.Entry], label: str) -> si.TestImage:
    """An image that shares ``base``'s first layer (byte for byte) and adds one of its own."""
    tar = si.build_layer(extra)
    tars = [base.uncompressed_layers[0], tar]
    layers = [base.layers[0], (si.LAYER_GZIP, si.compress(tar, "gzip"))]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [si.sha256(t) for t in tars]},
            "config": {"Labels": {"variant": label}},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": si.OCI_MANIFEST,
            "config": {"mediaType": si.OCI_CONFIG, "digest": si.sha256(config), "size": len(config)},
            "layers": [{"mediaType": mt, "digest": si.sha256(b), "size": len(b)} for mt, b in layers],
        },
        sort_keys=True,
    ).encode()
    return si.TestImage(label, tars, layers, config, manifest)


def findings_set(response: dict[str, Any]) -> set[tuple[str, str, str]]:
    out = set()
    for f in response["imageScanFindings"].get("findings", []):
        attributes = {a["key"]: a["value"] for a in f["attributes"]}
        out.add((f["name"], attributes["package_name"], f["severity"]))
    return out


def enhanced_set(response: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (
            f["packageVulnerabilityDetails"]["vulnerabilityId"],
            f["packageVulnerabilityDetails"]["vulnerablePackages"][0]["name"],
        )
        for f in response["imageScanFindings"].get("enhancedFindings", [])
    }


def check_enums(response: dict[str, Any]) -> None:
    """Enum values botocore's validator does not check on output."""
    status = response.get("imageScanStatus")
    if status is not None:
        assert status["status"] in SCAN_STATUSES
    body = response.get("imageScanFindings") or {}
    assert set(body.get("findingSeverityCounts", {})) <= SEVERITIES
    for f in body.get("findings", []):
        assert f["severity"] in SEVERITIES
        assert all(a["value"] for a in f["attributes"]), f
    for f in body.get("enhancedFindings", []):
        assert f["severity"] in SEVERITIES
        assert f["status"] == "ACTIVE" and f["type"] == "PACKAGE_VULNERABILITY"
        assert f["fixAvailable"] in ("YES", "NO", "PARTIAL")


def wait_status(ecr: Any, repo: str, digest: str, wanted: set[str], timeout: float = 120.0) -> dict[str, Any]:
    """Poll DescribeImageScanFindings (the waiter knows only COMPLETE and FAILED)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response: dict[str, Any] = ecr.describe_image_scan_findings(
                repositoryName=repo, imageId={"imageDigest": digest}
            )
            if response["imageScanStatus"]["status"] in wanted:
                return response
        except ClientError as e:
            if e.response["Error"]["Code"] != "ScanNotFoundException":
                raise
        assert time.monotonic() < deadline, f"scan of {repo}@{digest} did not reach {wanted}"
        time.sleep(0.5)


def manifest_id(reg: Registry, repo: str, digest: str) -> int:
    rows = reg.sql(
        "SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id "
        f"WHERE r.name = '{repo}' AND m.digest = '{digest}'"
    )
    return int(rows[0][0])


def scan_jobs(reg: Registry, mid: int) -> list[dict[str, Any]]:
    """Results of the finished scan jobs of one manifest."""
    out = []
    for payload, result in reg.sql(
        "SELECT payload, result FROM jobs WHERE kind = 'scan-image' AND status = 'done'"
    ):
        payload = json.loads(payload) if isinstance(payload, str) else payload
        result = json.loads(result) if isinstance(result, str) else result
        if int(payload["manifest_id"]) == mid:
            out.append(result)
    return out


# ------------------------------------------------------------------------------ tests
def test_scan_on_push_basic_through_the_aws_cli(scan_reg: Registry, ecr: Any) -> None:
    set_config(ecr, "BASIC")
    repo = name("basic")
    created = aws_cli(
        scan_reg,
        "create-repository",
        "--repository-name",
        repo,
        "--image-scanning-configuration",
        "scanOnPush=true",
    )
    assert created["repository"]["imageScanningConfiguration"] == {"scanOnPush": True}
    image = si.debian12_image()
    digest = push(scan_reg, repo, image)

    assert (
        aws_cli(
            scan_reg, "wait", "image-scan-complete", "--repository-name", repo, "--image-id", "imageTag=v1"
        )
        == {}
    )
    response = aws_cli(
        scan_reg, "describe-image-scan-findings", "--repository-name", repo, "--image-id", "imageTag=v1"
    )
    check_output_shape("DescribeImageScanFindings", response)
    check_enums(response)
    assert response["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert response["imageScanStatus"]["status"] == "COMPLETE"
    # OS packages only: nothing for urllib3/lodash, nothing for the whited-out requests.
    assert findings_set(response) == OS_FINDINGS
    body = response["imageScanFindings"]
    assert body["findingSeverityCounts"] == {"CRITICAL": 1, "HIGH": 2, "UNDEFINED": 1}
    assert "enhancedFindings" not in body
    assert body["imageScanCompletedAt"] and body["vulnerabilitySourceUpdatedAt"]
    openssl = next(f for f in body["findings"] if f["name"] == "CVE-2023-5363")
    assert openssl["uri"].endswith("CVE-2023-5363") and openssl["description"]

    # The same through boto3 (every response is checked against botocore's shape), paginated.
    paginator = ecr.get_paginator("describe_image_scan_findings")
    pages = list(
        paginator.paginate(
            repositoryName=repo, imageId={"imageDigest": digest}, PaginationConfig={"PageSize": 1}
        )
    )
    assert len(pages) == 4 and all(len(p["imageScanFindings"]["findings"]) == 1 for p in pages)
    assert set().union(*(findings_set(p) for p in pages)) == OS_FINDINGS
    for page in pages:
        check_enums(page)
    with pytest.raises(ClientError) as bad:
        ecr.describe_image_scan_findings(
            repositoryName=repo, imageId={"imageDigest": digest}, nextToken="garbage"
        )
    assert error_code(bad) == "InvalidParameterException"

    # DescribeImages carries the scan status and summary.
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["imageDetails"][0]
    assert detail["imageScanStatus"]["status"] == "COMPLETE"
    assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == body["findingSeverityCounts"]
    listed = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert listed[0]["imageScanFindingsSummary"]["findingSeverityCounts"] == body["findingSeverityCounts"]

    configs = ecr.batch_get_repository_scanning_configuration(repositoryNames=[repo])
    assert configs["scanningConfigurations"][0]["scanOnPush"] is True
    assert configs["scanningConfigurations"][0]["scanFrequency"] == "SCAN_ON_PUSH"

    # A second image on the same base layer: only its own layer is analyzed.
    layers_before = scan_reg.sql("SELECT digest, analyzed_at FROM scan_layers")
    second = derived(image, [si.file("srv/app.txt", "hello\n")], "second")
    second_digest = push(scan_reg, repo, second, "v2")
    aws_cli(scan_reg, "wait", "image-scan-complete", "--repository-name", repo, "--image-id", "imageTag=v2")
    [result] = scan_jobs(scan_reg, manifest_id(scan_reg, repo, second_digest))
    assert (result["analyzed"], result["cached"]) == (1, 1), result
    layers_after = scan_reg.sql("SELECT digest, analyzed_at FROM scan_layers")
    assert set(layers_before) <= set(layers_after) and len(layers_after) == len(layers_before) + 1
    second_findings = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v2"})
    assert findings_set(second_findings) == OS_FINDINGS


def test_enhanced_scanning_with_skopeo_and_continuous_rescan(
    scan_reg: Registry, ecr: Any, tmp_path: Path
) -> None:
    prefix = f"live{uuid.uuid4().hex[:6]}"
    repo = f"{prefix}/app"
    other = f"scan/{prefix}-manual"
    missing = f"scan/{prefix}-missing"
    put = set_config(
        ecr, "ENHANCED", [wildcard("CONTINUOUS_SCAN", f"{prefix}/*"), wildcard("SCAN_ON_PUSH", "nothing-*")]
    )
    try:
        assert put["registryScanningConfiguration"]["scanType"] == "ENHANCED"
        got = ecr.get_registry_scanning_configuration()
        assert got["scanningConfiguration"] == put["registryScanningConfiguration"]
        assert got["registryId"] == ecr.describe_registry()["registryId"]
        cli_view = aws_cli(scan_reg, "get-registry-scanning-configuration")
        check_output_shape("GetRegistryScanningConfiguration", cli_view)
        assert cli_view["scanningConfiguration"]["rules"][0]["scanFrequency"] in FREQUENCIES

        ecr.create_repository(repositoryName=repo)
        ecr.create_repository(repositoryName=other, imageScanningConfiguration={"scanOnPush": True})
        batch = ecr.batch_get_repository_scanning_configuration(repositoryNames=[repo, other, missing])
        by_name = {c["repositoryName"]: c for c in batch["scanningConfigurations"]}
        assert by_name[repo]["scanFrequency"] == "CONTINUOUS_SCAN"
        assert by_name[repo]["appliedScanFilters"] == [{"filter": f"{prefix}/*", "filterType": "WILDCARD"}]
        # ENHANCED ignores the repository's own scanOnPush flag.
        assert (by_name[other]["scanFrequency"], by_name[other]["appliedScanFilters"]) == ("MANUAL", [])
        assert batch["failures"] == [
            {
                "repositoryName": missing,
                "failureCode": "REPOSITORY_NOT_FOUND",
                "failureReason": "REPOSITORY_NOT_FOUND",
            }
        ]

        # Push with skopeo from an OCI layout written by the image builder.
        skopeo = Skopeo(tmp_path / "skopeo", binary=require_tool("skopeo"))
        scan_reg.login(skopeo)
        layout = si.write_oci_layout(si.debian12_image(), tmp_path / "layout")
        skopeo.copy(f"oci:{layout}:latest", f"docker://{scan_reg.host}/{repo}:v1", "--preserve-digests")
        digest = si.debian12_image().digest
        ecr.get_waiter("image_scan_complete").wait(
            repositoryName=repo, imageId={"imageTag": "v1"}, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        response = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
        check_enums(response)
        body = response["imageScanFindings"]
        assert "findings" not in body
        assert enhanced_set(response) == {(c, p) for c, p, _ in OS_FINDINGS} | LANGUAGE_FINDINGS
        zlib = next(f for f in body["enhancedFindings"] if f["title"].startswith("CVE-2023-45853"))
        assert zlib["fixAvailable"] == "NO"
        package = zlib["packageVulnerabilityDetails"]["vulnerablePackages"][0]
        assert "fixedInVersion" not in package and package["packageManager"] == "OS"
        assert package["sourceLayerHash"] == si.debian12_image().layer_digests[0]
        lodash = next(f for f in body["enhancedFindings"] if "lodash" in f["title"])
        assert lodash["packageVulnerabilityDetails"]["vulnerablePackages"][0]["packageManager"] == "NODEPKG"
        assert lodash["resources"][0]["details"]["awsEcrContainerImage"]["imageHash"] == digest
        pages = list(
            ecr.get_paginator("describe_image_scan_findings").paginate(
                repositoryName=repo, imageId={"imageTag": "v1"}, PaginationConfig={"PageSize": 3}
            )
        )
        assert [len(p["imageScanFindings"]["enhancedFindings"]) for p in pages] == [3, 3, 1]

        # A new advisory arrives: the continuously scanned images are re-matched from their stored
        # inventories; no layer is read again and no new scan job runs. The advisory names a
        # package only this test's second image has, so other tests on this server see no change.
        probe = derived(
            si.debian12_image(),
            [
                si.file(
                    f"{si.SITE}/dockyard_rescan_probe-1.0.0.dist-info/METADATA", si.metadata(PROBE, "1.0.0")
                )
            ],
            "probe",
        )
        probe_digest = push(scan_reg, repo, probe, "probe")
        ecr.get_waiter("image_scan_complete").wait(
            repositoryName=repo, imageId={"imageTag": "probe"}, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        mid = manifest_id(scan_reg, repo, probe_digest)
        assert ("CVE-2099-0001", PROBE) not in enhanced_set(
            ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "probe"})
        )
        layers_before = sorted(scan_reg.sql("SELECT digest, analyzed_at FROM scan_layers"))
        advisory = tmp_path / "GHSA-dkyd-0000-0001.json"
        advisory.write_text(
            json.dumps(
                {
                    "schema_version": "1.6.0",
                    "id": "GHSA-dkyd-0000-0001",
                    "modified": "2099-01-02T00:00:00Z",
                    "published": "2099-01-01T00:00:00Z",
                    "aliases": ["CVE-2099-0001"],
                    "summary": "A made-up issue for the continuous rescan test.",
                    "affected": [
                        {
                            "package": {"ecosystem": "PyPI", "name": PROBE},
                            "ranges": [
                                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}
                            ],
                        }
                    ],
                    "database_specific": {"severity": "HIGH"},
                }
            )
        )
        imported = scan_reg.cli("vulndb", "import", str(advisory))
        assert imported.returncode == 0, imported.describe()
        deadline = time.monotonic() + 120
        while True:
            response = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "probe"})
            if ("CVE-2099-0001", PROBE) in enhanced_set(response):
                break
            assert time.monotonic() < deadline, f"no rescan picked up the new advisory\n{scan_reg.log_tail()}"
            time.sleep(1)
        assert sorted(scan_reg.sql("SELECT digest, analyzed_at FROM scan_layers")) == layers_before
        assert len(scan_jobs(scan_reg, mid)) == 1
        rescans = scan_reg.sql("SELECT result FROM jobs WHERE kind = 'scan-rescan' AND status = 'done'")
        assert rescans, "the rescan ran as a job"
        new = next(
            f for f in response["imageScanFindings"]["enhancedFindings"] if f["title"].startswith("CVE-2099")
        )
        assert new["severity"] == "HIGH" and new["fixAvailable"] == "YES"
        assert new["packageVulnerabilityDetails"]["vulnerablePackages"][0]["fixedInVersion"] == "2.0.0"
        assert (
            response["imageScanFindings"]["vulnerabilitySourceUpdatedAt"]
            > body["vulnerabilitySourceUpdatedAt"]
        )
    finally:
        set_config(ecr, "BASIC")


def test_registry_scanning_configuration_validation(scan_reg: Registry, ecr: Any) -> None:
    try:
        with pytest.raises(ClientError) as bad:
            set_config(ecr, "BASIC", [wildcard("CONTINUOUS_SCAN", "*")])
        assert error_code(bad) == "InvalidParameterException"
        with pytest.raises(ClientError) as bad:
            set_config(ecr, "BASIC", [wildcard("SCAN_ON_PUSH", "a"), wildcard("SCAN_ON_PUSH", "b")])
        assert error_code(bad) == "InvalidParameterException"
        with pytest.raises(ClientError) as bad:
            set_config(ecr, "BASIC", [wildcard("SCAN_ON_PUSH", "Bad Filter")])
        assert error_code(bad) == "ValidationException"
        with pytest.raises(ClientError) as bad:
            set_config(ecr, "BASIC", [wildcard("SCAN_ON_PUSH", *(f"f{i}" for i in range(101)))])
        assert error_code(bad) == "ValidationException"
        assert ecr.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "BASIC"

        # A filter without '*' matches names containing it; '*' matches any run of characters.
        tag = uuid.uuid4().hex[:6]
        set_config(ecr, "BASIC", [wildcard("SCAN_ON_PUSH", f"team{tag}", f"prod{tag}-*")])
        names = [f"x/team{tag}/api", f"prod{tag}-web", f"x/prod{tag}-web", f"dev{tag}"]
        for n in names:
            ecr.create_repository(repositoryName=n)
        result = ecr.batch_get_repository_scanning_configuration(repositoryNames=names)
        frequencies = {c["repositoryName"]: c["scanFrequency"] for c in result["scanningConfigurations"]}
        assert frequencies == {
            names[0]: "SCAN_ON_PUSH",
            names[1]: "SCAN_ON_PUSH",
            names[2]: "MANUAL",
            names[3]: "MANUAL",
        }
        with pytest.raises(ClientError) as bad:
            ecr.batch_get_repository_scanning_configuration(repositoryNames=[f"r{i}" for i in range(26)])
        assert error_code(bad) == "ValidationException"
    finally:
        set_config(ecr, "BASIC")


def test_start_image_scan_quota_unsupported_and_errors(
    scan_reg: Registry, ecr: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    set_config(ecr, "BASIC")
    repo = name("manual")
    ecr.create_repository(repositoryName=repo)
    digest = push(scan_reg, repo, si.debian12_image())

    with pytest.raises(ClientError) as missing:
        ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": digest})
    assert error_code(missing) == "ScanNotFoundException"
    with pytest.raises(ClientError) as unknown:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "nope"})
    assert error_code(unknown) == "ImageNotFoundException"

    started = ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "v1"})
    assert started["imageScanStatus"]["status"] == "IN_PROGRESS"
    assert started["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    ecr.get_waiter("image_scan_complete").wait(
        repositoryName=repo, imageId={"imageDigest": digest}, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    with pytest.raises(ClientError) as quota:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest})
    assert error_code(quota) == "LimitExceededException"
    assert "quota" in str(quota.value)

    # A second node of the same registry whose clock is 25 hours ahead: the quota has passed.
    workdir = tmp_path_factory.mktemp("dockyard-scan-later")
    credentials = (str(scan_reg.access_key_id), str(scan_reg.secret_access_key))
    with clients.dockyard_server(
        workdir,
        extra_args=["--dev-clock-offset-seconds", str(25 * 3600)],
        storage=shared_storage(scan_reg),
        credentials=credentials,
    ) as later:
        later_ecr = ecr_client(later)
        again = later_ecr.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest})
        assert again["imageScanStatus"]["status"] == "IN_PROGRESS"
        with pytest.raises(ClientError) as quota:
            later_ecr.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest})
        assert error_code(quota) == "LimitExceededException"
        wait_status(later_ecr, repo, digest, {"COMPLETE"})

    # A scratch image: no operating system, so a BASIC scan calls it unsupported.
    scratch = si.scratch_image()
    scratch_digest = push(scan_reg, repo, scratch, "scratch")
    ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "scratch"})
    response = wait_status(ecr, repo, scratch_digest, {"UNSUPPORTED_IMAGE", "FAILED", "COMPLETE"})
    assert response["imageScanStatus"] == {
        "status": "UNSUPPORTED_IMAGE",
        "description": (
            "UnsupportedImageError: The operating system and/or package manager are not supported."
        ),
    }
    assert "imageScanFindings" not in response
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "scratch"}])["imageDetails"][0]
    assert detail["imageScanStatus"]["status"] == "UNSUPPORTED_IMAGE"
    assert "imageScanFindingsSummary" not in detail

    # An image index cannot be scanned (its platform images can).
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": si.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": si.OCI_MANIFEST,
                    "digest": digest,
                    "size": len(si.debian12_image().manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    oci = Oci(scan_reg)
    try:
        assert oci.put_manifest(repo, "multi", index, si.OCI_INDEX).status_code == 201
    finally:
        oci.close()
    with pytest.raises(ClientError) as unsupported:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "multi"})
    assert error_code(unsupported) == "UnsupportedImageTypeException"


def test_cli_scan_and_sbom(scan_reg: Registry, ecr: Any) -> None:
    set_config(ecr, "BASIC")
    repo = name("cli")
    ecr.create_repository(repositoryName=repo)
    push(scan_reg, repo, si.debian12_image())
    table = scan_reg.cli("scan", f"{repo}:v1")
    assert table.returncode == 0, table.describe()
    assert "CVE-2023-45853" in table.stdout and "zlib1g" in table.stdout
    as_json = json.loads(scan_reg.cli("scan", f"{repo}:v1", "--json", "--scan-type", "ENHANCED").stdout)
    zlib = next(f for f in as_json["findings"] if f["vulnerability_id"] == "CVE-2023-45853")
    assert zlib["fixed_version"] is None
    assert {f["package"]["name"] for f in as_json["findings"]} >= {"urllib3", "lodash"}
    assert "requests" not in {f["package"]["name"] for f in as_json["findings"]}
    sbom = json.loads(scan_reg.cli("sbom", f"{repo}:v1").stdout)
    assert sbom["bomFormat"] == "CycloneDX"
    names = {c.get("name") for c in sbom.get("components", [])}
    assert {"openssl", "libssl3", "urllib3", "lodash"} <= names and "requests" not in names


# ------------------------------------------------------------------------------ a large layer
class _RandomReader:
    """``size`` bytes of random data, read in chunks (tarfile copies from it)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


class _HashingWriter:
    """Counts and hashes what passes through, on its way to ``target``."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def build_large_layer(path: Path, size: int) -> tuple[str, str, int]:
    """A gzip (level 1) tar holding a Debian os-release and ``size`` random bytes, written
    streaming; returns (blob digest, diff_id, blob size)."""
    with path.open("wb") as raw:
        compressed = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=1, mtime=0) as gz:
            plain = _HashingWriter(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                release = si.DEBIAN_OS_RELEASE.encode()
                info = tarfile.TarInfo("usr/lib/os-release")
                info.size = len(release)
                tar.addfile(info, _RandomReaderBytes(release))
                big = tarfile.TarInfo("srv/data/random.bin")
                big.size = size
                tar.addfile(big, _RandomReader(size))
    return compressed.digest, plain.digest, compressed.size


class _RandomReaderBytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        n = len(self.data) if n < 0 else n
        out, self.data = self.data[:n], self.data[n:]
        return out


def push_chunked(reg: Registry, repo: str, path: Path, digest: str, chunk: int = 32 * MiB) -> None:
    """POST, a PATCH per chunk, then PUT ?digest: the OCI chunked upload."""
    oci = Oci(reg)
    try:
        location = oci.start_upload(repo).headers["Location"]
        offset = 0
        with path.open("rb") as f:
            while data := f.read(chunk):
                r = oci.patch_chunk(location, data, offset)
                assert r.status_code == 202, r.text
                location = r.headers["Location"]
                offset += len(data)
        assert oci.put_upload(location, digest).status_code == 201
    finally:
        oci.close()


def peak_rss_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) among a process and its descendants (the server's
    workers are child processes), in MiB."""
    peak, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return peak / 1024


@pytest.mark.slow
def test_large_layer_scans_in_bounded_memory(tmp_path_factory: pytest.TempPathFactory) -> None:
    """~1 GiB of incompressible data in one gzip layer: upload and scan stay under 200 MB RSS."""
    workdir = tmp_path_factory.mktemp("dockyard-scan-large")
    with clients.dockyard_server(workdir) as reg:
        ecr = ecr_client(reg)
        repo = name("large")
        ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
        layer_path = workdir / "layer.tar.gz"
        layer_digest, diff_id, layer_size = build_large_layer(layer_path, 1024 * MiB)
        push_chunked(reg, repo, layer_path, layer_digest)
        layer_path.unlink()
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
        ).encode()
        oci = Oci(reg)
        try:
            oci.push_blob(repo, config)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": si.OCI_MANIFEST,
                    "config": {"mediaType": si.OCI_CONFIG, "digest": si.sha256(config), "size": len(config)},
                    "layers": [{"mediaType": si.LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
                }
            ).encode()
            assert oci.put_manifest(repo, "big", manifest, si.OCI_MANIFEST).status_code == 201
        finally:
            oci.close()
        response = wait_status(
            ecr, repo, si.sha256(manifest), {"COMPLETE", "FAILED", "UNSUPPORTED_IMAGE"}, 600
        )
        assert response["imageScanStatus"]["status"] == "COMPLETE", response
        peak = peak_rss_mb(reg.process.pid)
        print(
            f"server peak RSS while uploading and scanning a {layer_size / MiB:.0f} MiB layer: {peak:.0f} MiB"
        )
        assert peak < 200, f"the server peaked at {peak:.0f} MiB RSS"
        result = reg.sql("SELECT size FROM blobs WHERE digest = '" + layer_digest + "'")
        assert int(result[0][0]) == layer_size


def test_scanning_actions_go_through_authorization(scan_reg: Registry, ecr: Any) -> None:
    """A ReadOnly user may read findings but neither start scans nor touch the configuration."""
    set_config(ecr, "BASIC")
    repo = name("authz")
    ecr.create_repository(repositoryName=repo)
    digest = push(scan_reg, repo, si.debian12_image())
    ecr.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest})

    user = f"scan-reader-{uuid.uuid4().hex[:6]}"
    scan_reg.cli("user", "create", user)
    scan_reg.cli("iam", "attach-policy", "--user", user, "--managed", "ReadOnly")
    out = scan_reg.cli("key", "create", "--user", user).stdout
    values = dict(
        line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith("#")
    )
    reader = ecr_client(
        scan_reg, access_key_id=values["aws_access_key_id"], secret_access_key=values["aws_secret_access_key"]
    )

    response = wait_status(reader, repo, digest, {"COMPLETE"})
    assert findings_set(response) == OS_FINDINGS
    denied = [
        lambda: reader.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest}),
        lambda: reader.put_registry_scanning_configuration(scanType="ENHANCED", rules=[]),
        lambda: reader.get_registry_scanning_configuration(),
        lambda: reader.batch_get_repository_scanning_configuration(repositoryNames=[repo]),
    ]
    for attempt in denied:
        with pytest.raises(ClientError) as err:
            attempt()
        assert error_code(err) == "AccessDeniedException"
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "BASIC"


def test_docker_cli_push_is_scanned_on_push(
    registry: Registry, docker_cli: clients.DockerCLI, tmp_path: Path
) -> None:
    """The user's path: `aws ecr create-repository --image-scanning-configuration scanOnPush=true`,
    `docker load` + `docker push`, `aws ecr wait image-scan-complete`, describe the findings.

    It runs on the session server (the one the docker CLI fixture trusts), whose registry
    scanning configuration is the default BASIC one, so the repository's own flag decides."""
    imported = registry.cli("vulndb", "import", str(OSV))
    assert imported.returncode == 0, imported.describe()
    repo = name("docker")
    aws_cli(
        registry,
        "create-repository",
        "--repository-name",
        repo,
        "--image-scanning-configuration",
        "scanOnPush=true",
    )
    image = si.debian12_image(compressions=("gzip", "gzip"))
    archive = si.write_docker_archive(image, tmp_path / "debian12.tar")
    docker_cli.run("load", "-i", str(archive))
    local = f"{image.name}:{image.tag}"
    target = f"{registry.localhost}/{repo}:v1"
    docker_cli.run("tag", local, target)
    docker_cli.run("push", target)
    try:
        aws_cli(
            registry, "wait", "image-scan-complete", "--repository-name", repo, "--image-id", "imageTag=v1"
        )
        response = aws_cli(
            registry, "describe-image-scan-findings", "--repository-name", repo, "--image-id", "imageTag=v1"
        )
        check_output_shape("DescribeImageScanFindings", response)
        check_enums(response)
        assert response["imageScanStatus"]["status"] == "COMPLETE"
        # docker recompresses the layers (new digests), but the packages are the same.
        assert findings_set(response) == OS_FINDINGS
    finally:
        docker_cli.run("rmi", "--force", local, target, check=False)


def test_archived_image_reports_image_archived_until_restored(scan_reg: Registry, ecr: Any) -> None:
    set_config(ecr, "BASIC")
    repo = name("archived")
    ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    digest = push(scan_reg, repo, si.debian12_image())
    complete = wait_status(ecr, repo, digest, {"COMPLETE", "FAILED"})
    assert complete["imageScanStatus"]["status"] == "COMPLETE"
    counts = complete["imageScanFindings"]["findingSeverityCounts"]

    out = ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
    )
    assert out["imageStatus"] == "ARCHIVED"
    response = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
    check_output_shape("DescribeImageScanFindings", response)
    check_enums(response)
    status = response["imageScanStatus"]
    assert status["status"] == "IMAGE_ARCHIVED"
    assert "archived" in status["description"] and "Restore" in status["description"]
    assert "imageScanFindings" not in response
    described = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    check_output_shape("DescribeImages", described)
    [detail] = described["imageDetails"]
    check_enums(detail)
    assert detail["imageStatus"] == "ARCHIVED"
    assert detail["imageScanStatus"] == status
    assert "imageScanFindingsSummary" not in detail
    listed = ecr.describe_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})["imageDetails"]
    assert [d["imageScanStatus"]["status"] for d in listed] == ["IMAGE_ARCHIVED"]
    # Scanning it stays refused while it is archived.
    with pytest.raises(ClientError) as archived:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "v1"})
    assert error_code(archived) == "ImageArchivedException"

    # Restored: the stored scan shows again, findings and all.
    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "v1"}, targetStorageClass="STANDARD"
    )
    restored = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
    check_output_shape("DescribeImageScanFindings", restored)
    check_enums(restored)
    assert restored["imageScanStatus"] == complete["imageScanStatus"]
    assert findings_set(restored) == OS_FINDINGS
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["imageDetails"][0]
    assert detail["imageScanStatus"]["status"] == "COMPLETE"
    assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == counts
