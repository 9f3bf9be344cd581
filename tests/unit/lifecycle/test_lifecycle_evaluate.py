"""Evaluation semantics, checked against the outcomes the AWS lifecycle examples document."""

from __future__ import annotations

import pytest

from dockyard.features.lifecycle import ImageInfo, LifecyclePolicy, Outcome, evaluate
from tests.unit.lifecycle.lifecycle_testlib import NOW, image, policy, rule


def expired(p: LifecyclePolicy, images: list[ImageInfo]) -> list[str]:
    return [o.digest for o in evaluate(p, images, NOW) if o.action == "EXPIRE"]


# --- lifecycle_policy_examples: filtering on image age / count ----------------------------


def test_filtering_on_image_age_untagged() -> None:
    p = policy(rule(1, "untagged", "sinceImagePushed", 14))
    images = [image("old", pushed=20), image("new", pushed=3), image("tagged-old", ["v1"], pushed=30)]
    assert expired(p, images) == ["old"]


def test_filtering_on_image_age_prod_pattern() -> None:
    p = policy(rule(1, "tagged", "sinceImagePushed", 14, tagPatternList=["prod*"]))
    images = [
        image("prod-old", ["prod-1"], pushed=20),
        image("prod-new", ["prod-2"], pushed=10),
        image("dev-old", ["dev-1"], pushed=30),
        image("untagged-old", pushed=30),
    ]
    assert expired(p, images) == ["prod-old"]


def test_filtering_on_image_count_keeps_one_untagged() -> None:
    p = policy(rule(1, "untagged", "imageCountMoreThan", 1))
    images = [image("a", pushed=3), image("b", pushed=2), image("c", pushed=1), image("t", ["x"], pushed=9)]
    assert expired(p, images) == ["a", "b"]


# --- filtering on multiple rules (Examples A and B) ---------------------------------------

REPO = [
    image("A", ["beta-1", "prod-1"], pushed=10),
    image("B", ["beta-2", "prod-2"], pushed=9),
    image("C", ["beta-3"], pushed=8),
]


def test_multiple_rules_example_a() -> None:
    """Rule 2 would mark B, but B matches Rule 1's tags, so only A is expired."""
    p = policy(
        rule(1, "tagged", tagPrefixList=["prod"]),
        rule(2, "tagged", tagPrefixList=["beta"]),
    )
    outcomes = evaluate(p, REPO, NOW)
    assert [(o.digest, o.rule_priority) for o in outcomes] == [("A", 1)]


def test_multiple_rules_example_b() -> None:
    p = policy(
        rule(1, "tagged", tagPrefixList=["beta"]),
        rule(2, "tagged", tagPrefixList=["prod"]),
    )
    outcomes = evaluate(p, REPO, NOW)
    assert [(o.digest, o.rule_priority) for o in outcomes] == [("A", 1), ("B", 1)]


# --- filtering on multiple tags in a single rule -----------------------------------------


def test_multiple_tags_example_a_prefixes_are_and() -> None:
    p = policy(rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["alpha", "beta"]))
    images = [
        image("A", ["alpha-1"], pushed=12),
        image("B", ["beta-1"], pushed=11),
        image("C", ["alpha-2", "beta-2"], pushed=10),
        image("D", ["alpha-3"], pushed=4),
        image("E", ["beta-3"], pushed=3),
        image("F", ["alpha-4", "beta-4"], pushed=2),
    ]
    assert expired(p, images) == ["C"]


def test_multiple_tags_example_b_tags_are_not_exclusive() -> None:
    p = policy(rule(1, "tagged", tagPrefixList=["alpha", "beta"]))
    images = [
        image("A", ["alpha-1", "beta-1", "gamma-1"], pushed=10),
        image("B", ["alpha-2", "beta-2"], pushed=9),
        image("C", ["alpha-3", "beta-3", "gamma-2"], pushed=8),
    ]
    assert expired(p, images) == ["A", "B"]


def test_pattern_lists_are_and_too() -> None:
    p = policy(rule(1, "tagged", tagPatternList=["*-rc*", "release-*"]))
    images = [
        image("both-old", ["release-1", "1.0-rc1"], pushed=5),
        image("both-new", ["release-2", "2.0-rc1"], pushed=1),
        image("one-only", ["release-0"], pushed=9),
    ]
    assert expired(p, images) == ["both-old"]


# --- filtering on all images (Examples A and B): tagged and untagged in one policy ---------


def test_all_images_example_a() -> None:
    p = policy(rule(1, "any"))
    images = [
        image("A", ["alpha-1"], pushed=4),
        image("B", ["beta-1"], pushed=3),
        image("C", [], pushed=2),
        image("D", ["alpha-2"], pushed=1),
    ]
    assert expired(p, images) == ["A", "B", "C"]


def test_all_images_example_b_tagged_and_untagged_in_one_policy() -> None:
    p = policy(
        rule(1, "tagged", tagPrefixList=["alpha"]),
        rule(2, "untagged", "sinceImagePushed", 1),
        rule(3, "any"),
    )
    images = [
        image("A", ["alpha-1", "beta-1"], pushed=4),
        image("B", [], pushed=3),
        image("C", ["alpha-2"], pushed=2),
        image("D", ["git hash"], pushed=1.0),
        image("E", [], pushed=0.99),
    ]
    outcomes = evaluate(p, images, NOW)
    assert [(o.digest, o.rule_priority) for o in outcomes] == [("A", 1), ("B", 2), ("D", 3)]


# --- the general rules --------------------------------------------------------------------


def test_lower_rules_count_images_marked_by_higher_rules() -> None:
    """Rule 2 keeps 2 of {a, b, c}; a and b are younger but b was marked by rule 1."""
    p = policy(
        rule(1, "tagged", "sinceImagePushed", 1, tagPrefixList=["tmp"]),
        rule(2, "any", count_number=2),
    )
    images = [image("old", ["x"], pushed=9), image("b", ["tmp-1"], pushed=5), image("c", ["y"], pushed=3)]
    outcomes = evaluate(p, images, NOW)
    # rule 2 ranks c, b, old and keeps c and b (counting b though rule 1 marked it)
    assert [(o.digest, o.rule_priority) for o in outcomes] == [("old", 2), ("b", 1)]


def test_a_protecting_rule_need_not_mark_anything() -> None:
    """Keep-everything rules (countNumber huge) shield their images from later rules."""
    p = policy(
        rule(1, "tagged", count_number=9999, tagPatternList=["prod-*"]),
        rule(2, "any", "sinceImagePushed", 30),
    )
    images = [image("prod", ["prod-1"], pushed=400), image("dev", ["dev-1"], pushed=400)]
    assert expired(p, images) == ["dev"]


def test_untagged_images_are_protected_by_an_untagged_rule_from_the_any_rule() -> None:
    p = policy(rule(1, "untagged", count_number=5), rule(2, "any", "sinceImagePushed", 7))
    images = [image("u", pushed=60), image("t", ["v"], pushed=60)]
    assert expired(p, images) == ["t"]


def test_image_count_ranks_by_push_time_and_results_are_oldest_first() -> None:
    p = policy(rule(1, "any", count_number=2))
    images = [image("d", pushed=1), image("a", pushed=40), image("c", pushed=2), image("b", pushed=20)]
    outcomes = evaluate(p, images, NOW)
    assert [o.digest for o in outcomes] == ["a", "b"]
    assert all(isinstance(o, Outcome) and o.target_storage_class is None for o in outcomes)


@pytest.mark.parametrize(("pushed", "expected"), [(14.01, ["x"]), (14.0, []), (13.9, [])])
def test_age_must_exceed_count_number_days(pushed: float, expected: list[str]) -> None:
    p = policy(rule(1, "any", "sinceImagePushed", 14))
    assert expired(p, [image("x", pushed=pushed)]) == expected


def test_prefix_matches_by_start_and_pattern_matches_whole_tag() -> None:
    p = policy(rule(1, "tagged", "sinceImagePushed", 1, tagPrefixList=["prod"]))
    images = [
        image("p", ["prod"], pushed=5),
        image("p2", ["prod2"], pushed=5),
        image("x", ["xprod"], pushed=5),
    ]
    assert expired(p, images) == ["p", "p2"]
    p = policy(rule(1, "tagged", "sinceImagePushed", 1, tagPatternList=["prod"]))
    assert expired(p, images) == ["p"]
    p = policy(rule(1, "tagged", "sinceImagePushed", 1, tagPatternList=["*prod*"]))
    assert expired(p, images) == ["p", "p2", "x"]


def test_tagged_rules_never_select_untagged_images() -> None:
    p = policy(rule(1, "tagged", "sinceImagePushed", 1, tagPatternList=["*"]))
    assert expired(p, [image("u", pushed=5), image("t", ["a"], pushed=5)]) == ["t"]


def test_empty_repository() -> None:
    assert evaluate(policy(rule(1)), [], NOW) == []
