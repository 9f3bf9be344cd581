"""Dockyard's opt-in extensions: refused under strict_ecr, honoured when enabled."""

from __future__ import annotations

import pytest
from lifecycle_testlib import NOW, image, policy, rule, text

from dockyard.features.lifecycle import (
    EXT_EXPIRE_ON_PULL,
    EXT_SORT_BY_LAST_PULLED,
    LifecyclePolicyError,
    evaluate,
    parse_policy,
)

EXPIRE_ON_PULL = rule(1, "any", "sinceImagePulled", 30, "expire")
KEEP_RECENTLY_PULLED = rule(1, "tagged", count_number=2, tagPrefixList=["v"], sortBy="lastPulled")


@pytest.mark.parametrize("r", [EXPIRE_ON_PULL, KEEP_RECENTLY_PULLED])
def test_strict_mode_refuses_extensions(r: dict) -> None:
    with pytest.raises(LifecyclePolicyError) as caught:
        parse_policy(text(r), strict_ecr=True)
    assert caught.value.kind == "invalid"  # InvalidParameterException at the ECR door


def test_strict_is_the_default() -> None:
    with pytest.raises(LifecyclePolicyError):
        parse_policy(text(EXPIRE_ON_PULL))


def test_extensions_are_reported() -> None:
    assert policy(EXPIRE_ON_PULL, strict=False).extensions == {EXT_EXPIRE_ON_PULL}
    assert policy(KEEP_RECENTLY_PULLED, strict=False).extensions == {EXT_SORT_BY_LAST_PULLED}
    assert policy(rule(1), strict=False).extensions == frozenset()


def test_expire_on_pull_age() -> None:
    p = policy(EXPIRE_ON_PULL, strict=False)
    images = [
        image("stale", ["a"], pushed=100, pulled=40),
        image("fresh", ["b"], pushed=100, pulled=3),
        image("never-old", ["c"], pushed=31),
        image("never-new", ["d"], pushed=29),
    ]
    outcomes = evaluate(p, images, NOW)
    assert [(o.digest, o.action, o.target_storage_class) for o in outcomes] == [
        ("stale", "EXPIRE", None),
        ("never-old", "EXPIRE", None),
    ]


def test_keep_the_n_most_recently_pulled() -> None:
    p = policy(KEEP_RECENTLY_PULLED, strict=False)
    images = [
        image("v1", ["v1"], pushed=50, pulled=1),  # oldest push, pulled yesterday: kept
        image("v2", ["v2"], pushed=40, pulled=30),
        image("v3", ["v3"], pushed=20),  # never pulled: ranks by push time (20 days)
        image("v4", ["v4"], pushed=5, pulled=2),
    ]
    assert [o.digest for o in evaluate(p, images, NOW)] == ["v2", "v3"]
    # the same rule without sortBy keeps the two most recently pushed
    plain = policy(rule(1, "tagged", count_number=2, tagPrefixList=["v"]))
    assert [o.digest for o in evaluate(plain, images, NOW)] == ["v1", "v2"]


def test_sort_by_is_validated() -> None:
    with pytest.raises(LifecyclePolicyError, match="not found in enum"):
        policy(rule(1, sortBy="size"), strict=False)
    with pytest.raises(LifecyclePolicyError, match="only be specified when countType is imageCountMoreThan"):
        policy(rule(1, "any", "sinceImagePushed", 3, sortBy="lastPulled"), strict=False)


def test_non_strict_still_enforces_everything_else() -> None:
    with pytest.raises(LifecyclePolicyError, match="must have the highest rulePriority"):
        policy(rule(1, "any"), rule(2, "untagged"), strict=False)
