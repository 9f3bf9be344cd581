"""Image scanning actions: StartImageScan, DescribeImageScanFindings,
PutRegistryScanningConfiguration, GetRegistryScanningConfiguration and
BatchGetRepositoryScanningConfiguration.

Scans run in the background (`dockyard.features.scanning.service`); these handlers only request them and
report their state, in ECR's shapes (`dockyard.ecr.scan_findings`). Authorization is the
common one of every action (`ecr:<Action>` on the repository, or the registry for registry-wide
configuration).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockyard import clock
from dockyard.core.errors import RepositoryNotFound
from dockyard.core.images import ARCHIVED, ImageId, ImageInfo, check_image_id
from dockyard.core.media_types import INDEXES
from dockyard.ecr import scan_findings as ef
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.errors import EcrError, from_validation, image_not_found, invalid_parameter, limit_exceeded
from dockyard.ecr.pagination import open_cursor, seal_cursor
from dockyard.ecr.shapes import failure_reason, image_id_from_params, scan_status
from dockyard.features.scanning import config as sc
from dockyard.features.scanning import findings as fx
from dockyard.features.scanning.service import IMAGE_CONFIGS, QuotaExceeded, ScanRecord


def _image_id_text(image_id: ImageId) -> str:
    return f"{{imageDigest:'{image_id.digest or 'null'}', imageTag:'{image_id.tag or 'null'}'}}"


def scan_not_found(image_id: ImageId, repository: str, registry_id: str) -> EcrError:
    return EcrError(
        "ScanNotFoundException",
        f"Image scan does not exist for the image with '{_image_id_text(image_id)}' in the repository "
        f"with name '{repository}' in the registry with id '{registry_id}'",
    )


def unsupported_image_type() -> EcrError:
    return EcrError("UnsupportedImageTypeException", "The image is of a type that cannot be scanned.")


def image_archived(image_id: ImageId, repository: str, registry_id: str) -> EcrError:
    return EcrError(
        "ImageArchivedException",
        f"The image with imageId {_image_id_text(image_id)} in the repository with name '{repository}' "
        f"in the registry with id '{registry_id}' is archived and cannot be scanned",
    )


async def _image(call: Call, account: str, repository: str, params: Params) -> tuple[ImageId, ImageInfo]:
    """The one image ``imageId`` names (ImageNotFoundException otherwise)."""
    image_id = image_id_from_params(params.get("imageId") or {})
    problem = check_image_id(image_id)
    if problem is not None:
        raise invalid_parameter(
            f"Invalid parameter at 'imageId' failed to satisfy constraint: '{failure_reason(problem)}'"
        )
    _, infos, failures = await call.registry.images.describe_ids(account, repository, [image_id])
    if failures or not infos:
        raise image_not_found(repository, account, image_id.digest, image_id.tag)
    return image_id, infos[0]


def _image_id_out(image_id: ImageId, info: ImageInfo) -> dict[str, str]:
    out = {"imageDigest": info.digest}
    if image_id.tag is not None:
        out["imageTag"] = image_id.tag
    return out


@action("StartImageScan")
async def start_image_scan(call: Call, params: Params) -> Result:
    account = call.account(params)
    repository = params["repositoryName"]
    image_id, info = await _image(call, account, repository, params)
    if info.status == ARCHIVED:
        raise image_archived(image_id, repository, account)
    if info.media_type in INDEXES or (
        info.config_media_type is not None and info.config_media_type not in IMAGE_CONFIGS
    ):
        raise unsupported_image_type()
    scans = call.registry.scans
    repo = await call.registry.repositories.get(account, repository)
    scanning = await scans.repository_scanning(repo)
    try:
        record = await scans.request(info.id, scanning.scan_type, manual=True)
    except QuotaExceeded:
        raise limit_exceeded("The scan quota per image has been exceeded. Wait and try again.") from None
    return {
        "registryId": account,
        "repositoryName": repository,
        "imageId": _image_id_out(image_id, info),
        "imageScanStatus": scan_status(record),
    }


def _findings_page(
    call: Call,
    account: str,
    repository: str,
    info: ImageInfo,
    record: ScanRecord,
    start: int,
    limit: int,
) -> tuple[dict[str, Any], int | None]:
    findings = record.findings()
    begin, end, following = ef.page_bounds(start, limit, len(findings))
    chosen = findings[begin:end]
    body: dict[str, Any] = {"findingSeverityCounts": record.severity_counts or {}}
    if record.completed_at is not None:
        body["imageScanCompletedAt"] = record.completed_at
    if record.vulndb_updated_at is not None:
        body["vulnerabilitySourceUpdatedAt"] = record.vulndb_updated_at
    if record.scan_type == fx.ENHANCED:
        completed = record.completed_at or clock.now()
        first_seen = record.first_observed or {}
        body["enhancedFindings"] = [
            ef.enhanced(
                f,
                region=call.region,
                account=account,
                repository=repository,
                manifest_digest=info.digest,
                tags=info.tags,
                pushed_at=info.pushed_at,
                architecture=None,
                platform=None,
                first_observed=_parse_time(first_seen.get(f.key)) or completed,
                last_observed=completed,
                updated_at=completed,
            )
            for f in chosen
        ]
    else:
        body["findings"] = [ef.basic(f) for f in chosen]
    return body, following


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@action("DescribeImageScanFindings")
async def describe_image_scan_findings(call: Call, params: Params) -> Result:
    account = call.account(params)
    repository = params["repositoryName"]
    image_id, info = await _image(call, account, repository, params)
    scans = call.registry.scans
    record = await scans.get(info.id)
    if record is None:
        raise scan_not_found(image_id, repository, account)
    limit = int(params.get("maxResults") or ef.DEFAULT_PAGE)
    if not 1 <= limit <= ef.MAX_PAGE:
        raise invalid_parameter(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: "
            f"'Member must have value between 1 and {ef.MAX_PAGE}'"
        )
    out: dict[str, Any] = {
        "registryId": account,
        "repositoryName": repository,
        "imageId": _image_id_out(image_id, info),
        "imageScanStatus": scan_status(record),
    }
    if not record.has_findings:  # not finished, or archived (SCAN_ELIGIBILITY_EXPIRED keeps them)
        return out
    scope = {
        "image": info.id,
        "completed": record.completed_at.timestamp() if record.completed_at else None,
    }
    cursor = await open_cursor(call, params, scope)
    start = int(cursor["c"]) if cursor is not None and isinstance(cursor.get("c"), int) else 0
    body, following = _findings_page(call, account, repository, info, record, start, limit)
    out["imageScanFindings"] = body
    if following is not None:
        out["nextToken"] = await seal_cursor(call, scope, following)
    try:
        repo = await call.registry.repositories.get(account, repository)
        await scans.nudge_rescan(record, await scans.repository_scanning(repo))
    except Exception:  # a stale-findings nudge must never fail the read
        pass
    return out


@action("PutRegistryScanningConfiguration")
async def put_registry_scanning_configuration(call: Call, params: Params) -> Result:
    account = call.account(params)
    try:
        config = sc.parse(params.get("scanType"), params.get("rules"))
    except sc.ScanningConfigError as err:
        raise from_validation(err.kind, err.message) from None
    await call.registry.scans.put_registry_config(account, config)
    return {"registryScanningConfiguration": config.to_json()}


@action("GetRegistryScanningConfiguration")
async def get_registry_scanning_configuration(call: Call, params: Params) -> Result:
    account = call.account(params)
    config = await call.registry.scans.registry_config(account)
    return {"registryId": account, "scanningConfiguration": config.to_json()}


@action("BatchGetRepositoryScanningConfiguration")
async def batch_get_repository_scanning_configuration(call: Call, params: Params) -> Result:
    account = call.account(params)
    registry = call.registry
    config = await registry.scans.registry_config(account)
    found: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for name in dict.fromkeys(params["repositoryNames"]):
        try:
            repo = await registry.repositories.get(account, name)
        except RepositoryNotFound:
            failures.append(
                {
                    "repositoryName": name,
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": "REPOSITORY_NOT_FOUND",
                }
            )
            continue
        scanning = sc.effective(config, repo.name, repo.scan_on_push)
        found.append(
            {
                "repositoryArn": call.repository_arn(account, repo.name),
                "repositoryName": repo.name,
                **scanning.to_json(),
            }
        )
    return {"scanningConfigurations": found, "failures": failures}
