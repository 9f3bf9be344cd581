"""Builders shared by the lifecycle engine tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.features.lifecycle import ImageInfo, LifecyclePolicy, parse_policy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def rule(
    priority: int,
    tag_status: str = "any",
    count_type: str = "imageCountMoreThan",
    count_number: int = 1,
    action: str = "expire",
    **selection: Any,
) -> dict[str, Any]:
    """A rule dict; ``countUnit: days`` is added for the since* types unless overridden."""
    sel: dict[str, Any] = {"tagStatus": tag_status, "countType": count_type, "countNumber": count_number}
    if count_type != "imageCountMoreThan":
        sel["countUnit"] = "days"
    sel.update(selection)
    act: dict[str, Any] = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {"rulePriority": priority, "description": f"rule {priority}", "selection": sel, "action": act}


def text(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)}, indent=2)


def policy(*rules: dict[str, Any], strict: bool = True) -> LifecyclePolicy:
    return parse_policy(text(*rules), strict_ecr=strict)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def image(
    digest: str,
    tags: list[str] | None = None,
    pushed: float = 1,
    pulled: float | None = None,
    **fields: Any,
) -> ImageInfo:
    """An image pushed ``pushed`` days before NOW (and last pulled ``pulled`` days before)."""
    return ImageInfo(
        digest=digest,
        tags=list(tags or []),
        pushed_at=days_ago(pushed),
        last_pulled_at=None if pulled is None else days_ago(pulled),
        **fields,
    )
