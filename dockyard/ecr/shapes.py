"""Domain values in ECR's JSON shapes: image ids, batch failures and scan states.

The domain speaks in neutral values (an `ImageId`, a failure code, a `ScanRecord`); how ECR
names their members and words their reasons lives here, in the door.
"""

from __future__ import annotations

from typing import Any

from dockyard.core.images import (
    IMAGE_INACCESSIBLE,
    IMAGE_NOT_FOUND,
    INVALID_IMAGE_DIGEST,
    INVALID_IMAGE_TAG,
    MISSING_DIGEST_AND_TAG,
    TAG_DOES_NOT_MATCH_DIGEST,
    ImageFailure,
    ImageId,
)
from dockyard.features.scanning.records import ScanRecord

# ECR's failureReason for each failure code of batch operations (ImageFailureCode).
REASONS = {
    MISSING_DIGEST_AND_TAG: "Invalid request parameters: both tag and digest cannot be null",
    INVALID_IMAGE_DIGEST: (
        "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
    ),
    INVALID_IMAGE_TAG: (
        "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'"
    ),
    IMAGE_NOT_FOUND: "Requested image not found",
    TAG_DOES_NOT_MATCH_DIGEST: "Invalid request parameters: given tag does not map to the given digest",
    IMAGE_INACCESSIBLE: (
        "The requested image is archived and cannot be pulled; restore it with "
        "UpdateImageStorageClass (targetStorageClass STANDARD) or push it again"
    ),
}


def image_id_from_params(value: dict[str, Any]) -> ImageId:
    """An ``imageId`` member, as the caller wrote it."""
    return ImageId(value.get("imageDigest"), value.get("imageTag"))


def image_id_params(image_id: ImageId) -> dict[str, str]:
    out: dict[str, str] = {}
    if image_id.digest is not None:
        out["imageDigest"] = image_id.digest
    if image_id.tag is not None:
        out["imageTag"] = image_id.tag
    return out


def failure_reason(failure: ImageFailure) -> str:
    """The failure's own reason where the domain gave one, else ECR's text for its code."""
    return failure.reason or REASONS[failure.code]


def failure_params(failure: ImageFailure) -> dict[str, Any]:
    return {
        "imageId": image_id_params(failure.image_id),
        "failureCode": failure.code,
        "failureReason": failure_reason(failure),
    }


def scan_status(record: ScanRecord) -> dict[str, Any]:
    """``imageScanStatus``."""
    out: dict[str, Any] = {"status": record.status}
    if record.description:
        out["description"] = record.description
    return out


def scan_findings_summary(record: ScanRecord) -> dict[str, Any] | None:
    """DescribeImages' imageScanFindingsSummary (only once a scan has finished)."""
    if not record.has_findings:
        return None
    out: dict[str, Any] = {"findingSeverityCounts": record.severity_counts or {}}
    if record.completed_at is not None:
        out["imageScanCompletedAt"] = record.completed_at
    if record.vulndb_updated_at is not None:
        out["vulnerabilitySourceUpdatedAt"] = record.vulndb_updated_at
    return out
