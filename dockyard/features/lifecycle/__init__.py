"""Lifecycle policies: ECR's rule language, validated and evaluated in pure Python.

* ``rules``: ``parse_policy(text, strict_ecr=...)`` validates a policy as PutLifecyclePolicy
  does and returns a ``LifecyclePolicy``; failures raise ``LifecyclePolicyError``.
* ``evaluate``: ``evaluate(policy, images, now)`` lists the images the policy expires or
  archives (ECR's preview), ``explain(...)`` says why every image is kept or not.
* ``preview``: the GetLifecyclePolicyPreview ``previewResults`` / ``summary`` shapes.

No I/O: callers load images and persist results.
"""

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
    "parse_policy",
    "preview_result",
    "preview_summary",
]
