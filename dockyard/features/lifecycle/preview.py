"""Shape evaluation outcomes as GetLifecyclePolicyPreview returns them.

Kept separate from the evaluator so the engine stays independent of the wire format: the
API layer pages ``previewResults`` (maxResults <= 100) and serialises the timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .evaluate import Outcome


def preview_result(outcome: Outcome) -> dict[str, Any]:
    """One ``LifecyclePolicyPreviewResult`` (``imagePushedAt`` left as a datetime)."""
    action: dict[str, Any] = {"type": outcome.action}
    if outcome.target_storage_class is not None:
        action["targetStorageClass"] = outcome.target_storage_class
    return {
        "imageTags": list(outcome.tags),
        "imageDigest": outcome.digest,
        "imagePushedAt": outcome.pushed_at,
        "action": action,
        "appliedRulePriority": outcome.rule_priority,
        "storageClass": outcome.storage_class,
    }


def preview_summary(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """``LifecyclePolicyPreviewSummary``.

    ``transitioningImageTotalCounts`` is only present when at least one image transitions,
    as the model documents.
    """
    expiring = 0
    transitioning: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.action == "EXPIRE":
            expiring += 1
        elif outcome.target_storage_class is not None:
            target = outcome.target_storage_class
            transitioning[target] = transitioning.get(target, 0) + 1
    summary: dict[str, Any] = {"expiringImageTotalCount": expiring}
    if transitioning:
        summary["transitioningImageTotalCounts"] = [
            {"targetStorageClass": target, "imageTotalCount": count}
            for target, count in sorted(transitioning.items())
        ]
    return summary
