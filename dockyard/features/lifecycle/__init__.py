"""Lifecycle policies: ECR's rule language, validated and evaluated in pure Python.

* ``rules``: ``parse_policy(text, strict_ecr=...)`` validates a policy as PutLifecyclePolicy
  does and returns a ``LifecyclePolicy``; failures raise ``LifecyclePolicyError``.
* ``evaluate``: ``evaluate(policy, images, now)`` lists the images the policy expires or
  archives (ECR's preview), ``explain(...)`` says why every image is kept or not.
* ``preview``: the GetLifecyclePolicyPreview ``previewResults`` / ``summary`` shapes.

No I/O in those: ``runs`` loads images and persists results, as the feature's jobs
(``job_handlers``: previews, runs, and the periodic ``lifecycle-scan`` of ``periodic_tasks``).
"""

from dockyard.config import Settings
from dockyard.features import RegistryParts
from dockyard.features.lifecycle import runs
from dockyard.jobs.scheduler import Periodic
from dockyard.jobs.worker import JobHandler

from .evaluate import Explanation, ImageInfo, Outcome, evaluate, explain
from .preview import preview_result, preview_summary
from .rules import (
    EXT_EXPIRE_ON_PULL,
    EXT_SORT_BY_LAST_PULLED,
    Action,
    LifecyclePolicy,
    LifecyclePolicyError,
    Rule,
    Selection,
    parse_policy,
)

__all__ = [
    "EXT_EXPIRE_ON_PULL",
    "EXT_SORT_BY_LAST_PULLED",
    "Action",
    "Explanation",
    "ImageInfo",
    "LifecyclePolicy",
    "LifecyclePolicyError",
    "Outcome",
    "Rule",
    "Selection",
    "evaluate",
    "explain",
    "job_handlers",
    "parse_policy",
    "periodic_tasks",
    "preview_result",
    "preview_summary",
]


def job_handlers(registry: RegistryParts) -> dict[str, JobHandler]:
    return runs.handlers(registry)


def periodic_tasks(settings: Settings) -> list[Periodic]:
    return [Periodic(runs.SCAN, settings.lifecycle_interval_minutes * 60)]
