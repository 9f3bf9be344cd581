"""PutLifecyclePolicy validation: what ECR accepts and refuses, and the messages it uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lifecycle_testlib import policy, rule, text

from dockyard.features.lifecycle import LifecyclePolicyError, parse_policy

FRAME = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "


def refused(raw: str, strict: bool = True) -> LifecyclePolicyError:
    with pytest.raises(LifecyclePolicyError) as caught:
        parse_policy(raw, strict_ecr=strict)
    return caught.value


def detail(raw: str, strict: bool = True) -> str:
    """The part inside 'Lifecycle policy validation failure: ...'."""
    error = refused(raw, strict)
    assert error.kind == "invalid"  # InvalidParameterException at the ECR door
    assert error.message.startswith(FRAME + "'Lifecycle policy validation failure: ")
    assert error.message.endswith("'")
    return error.message[len(FRAME + "'Lifecycle policy validation failure: ") : -1]


def padded(document: Any) -> str:
    """JSON long enough to pass the 100-character minimum."""
    raw = json.dumps(document)
    return raw + " " * max(0, 100 - len(raw))


# --- documented valid policies ----------------------------------------------------------

AWS_VALID = [
    # Filtering on image age (untagged, 14 days)
    [rule(1, "untagged", "sinceImagePushed", 14)],
    # Filtering on image age (prod* pattern, 14 days)
    [rule(1, "tagged", "sinceImagePushed", 14, tagPatternList=["prod*"])],
    # Filtering on image count
    [rule(1, "untagged", "imageCountMoreThan", 1)],
    # Multiple rules
    [rule(1, "tagged", tagPrefixList=["prod"]), rule(2, "tagged", tagPrefixList=["beta"])],
    # Multiple tags in one rule
    [rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["alpha", "beta"])],
    # Tagged and untagged in one policy, any last
    [
        rule(1, "untagged", "sinceImagePushed", 14),
        rule(2, "tagged", tagPrefixList=["prod"], count_number=5),
        rule(3, "any", "sinceImagePushed", 90),
    ],
    # The documented 4-wildcard example
    [rule(1, "tagged", count_number=100, tagPatternList=["*test*1*2*3", "test*1*2*3*"])],
    # Archive by pull age, delete from archive later (two `any` rules, one per storage class)
    [
        rule(1, "any", "sinceImagePulled", 90, "transition"),
        rule(2, "any", "sinceImageTransitioned", 365, storageClass="archive"),
    ],
    # Explicit storageClass standard, transition by count and by push age
    [rule(1, "tagged", count_number=10, action="transition", tagPrefixList=["v"], storageClass="standard")],
    [rule(1, "untagged", "sinceImagePushed", 30, "transition")],
]


@pytest.mark.parametrize("rules", AWS_VALID)
def test_documented_policies_are_accepted(rules: list[dict[str, Any]]) -> None:
    parsed = policy(*rules)
    assert [r.priority for r in parsed.rules] == sorted(r["rulePriority"] for r in rules)
    assert parsed.extensions == frozenset()


def test_rules_come_back_sorted_by_priority_and_priorities_need_not_be_contiguous() -> None:
    parsed = policy(rule(30, "any"), rule(2, "untagged"), rule(10, "tagged", tagPrefixList=["a"]))
    assert [r.priority for r in parsed.rules] == [2, 10, 30]
    first = parsed.rules[0]
    assert first.selection.tag_status == "untagged"
    assert first.selection.storage_class == "standard"
    assert first.action.type == "expire"
    assert first.description == "rule 2"


def test_parsed_fields() -> None:
    parsed = policy(rule(1, "tagged", "sinceImagePulled", 7, "transition", tagPatternList=["a*"]))
    (only,) = parsed.rules
    assert only.selection.tag_pattern_list == ("a*",)
    assert only.selection.count_unit == "days"
    assert only.action.target_storage_class == "archive"


# --- JSON and top-level shape -----------------------------------------------------------


def test_not_json() -> None:
    assert detail("{" + "x" * 120) == "Could not map policyString into LifecyclePolicy."


@pytest.mark.parametrize("document", [[1, 2, 3], "a string of some kind", 42])
def test_not_an_object(document: Any) -> None:
    assert detail(padded(document)) == "Could not map policyString into LifecyclePolicy."


def test_missing_rules() -> None:
    assert detail(padded({"description": "x"})) == 'object has missing required properties (["rules"])'


def test_unknown_top_level_key() -> None:
    raw = padded({"rules": [rule(1)], "version": "1"})
    assert detail(raw) == 'object instance has properties which are not allowed by the schema: (["version"])'


def test_rules_must_be_an_array() -> None:
    assert "does not match any allowed primitive type" in detail(padded({"rules": {"a": 1}}))


def test_rules_must_not_be_empty() -> None:
    assert detail(padded({"rules": []})).startswith("array is too short")


def test_at_most_50_rules() -> None:
    rules = [rule(i, "tagged", tagPrefixList=[f"p{i}"]) for i in range(1, 52)]
    assert detail(text(*rules)).startswith("array is too long: must have at most 50")
    policy(*rules[:50])


@pytest.mark.parametrize("length", [0, 99, 30721])
def test_text_length_limits(length: int) -> None:
    error = refused(" " * length)
    assert error.kind == "malformed"  # ValidationException at the ECR door
    assert error.message.startswith("1 validation error detected: Value '")
    assert "at 'lifecyclePolicyText' failed to satisfy constraint: Member must have length" in error.message


def test_text_length_bounds_are_inclusive() -> None:
    body = text(rule(1))
    policy_at_max = body + " " * (30720 - len(body))
    assert len(parse_policy(policy_at_max).rules) == 1


# --- rule shape ------------------------------------------------------------------------


def test_rule_must_be_object() -> None:
    assert detail(padded({"rules": ["x" * 100]})) == (
        'instance type (string) does not match any allowed primitive type (allowed: ["object"])'
    )


@pytest.mark.parametrize("missing", ["rulePriority", "selection", "action"])
def test_rule_required_properties(missing: str) -> None:
    r = rule(1)
    del r[missing]
    assert detail(text(r)) == f'object has missing required properties (["{missing}"])'


def test_rule_unknown_property() -> None:
    r = rule(1) | {"enabled": True}
    assert (
        detail(text(r)) == 'object instance has properties which are not allowed by the schema: (["enabled"])'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "numeric instance is lower than the required minimum (minimum: 1, found: 0)"),
        (-3, "numeric instance is lower than the required minimum (minimum: 1, found: -3)"),
        ("1", 'instance type (string) does not match any allowed primitive type (allowed: ["integer"])'),
        (1.5, 'instance type (number) does not match any allowed primitive type (allowed: ["integer"])'),
        (True, 'instance type (boolean) does not match any allowed primitive type (allowed: ["integer"])'),
    ],
)
def test_rule_priority_is_a_positive_integer(value: Any, message: str) -> None:
    assert detail(text(rule(1) | {"rulePriority": value})) == message


def test_rule_priorities_are_unique() -> None:
    raw = text(rule(1, "tagged", tagPrefixList=["a"]), rule(1, "tagged", tagPrefixList=["b"]))
    assert "rulePriority (1) must be unique" in detail(raw)


def test_description_optional_but_a_string() -> None:
    r = rule(1)
    del r["description"]
    assert policy(r).rules[0].description is None
    assert 'allowed: ["string"]' in detail(text(rule(1) | {"description": 5}))


# --- selection ---------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["tagStatus", "countType", "countNumber"])
def test_selection_required_properties(missing: str) -> None:
    r = rule(1)
    del r["selection"][missing]
    assert detail(text(r)) == f'object has missing required properties (["{missing}"])'


def test_selection_unknown_property() -> None:
    r = rule(1, tagFilter="x")
    assert (
        detail(text(r))
        == 'object instance has properties which are not allowed by the schema: (["tagFilter"])'
    )


def test_tag_status_enum() -> None:
    assert detail(text(rule(1, "TAGGED"))) == (
        'instance value (TAGGED) not found in enum :(possible values: ["tagged", "untagged", "any"])'
    )


def test_count_type_enum() -> None:
    assert detail(text(rule(1, count_type="imageCountLessThan"))) == (
        "instance failed to match exactly one schema (matched 0 out of 2)"
    )


@pytest.mark.parametrize("value", [0, -1])
def test_count_number_must_be_positive(value: int) -> None:
    assert detail(text(rule(1, count_number=value))) == (
        f"numeric instance is lower than the required minimum (minimum: 1, found: {value})"
    )


def test_count_number_must_be_an_integer() -> None:
    assert 'allowed: ["integer"]' in detail(text(rule(1, count_number="5")))


def test_tagged_requires_a_list() -> None:
    assert "tagPrefixList or tagPatternList is required" in detail(text(rule(1, "tagged")))


def test_tagged_refuses_both_lists() -> None:
    raw = text(rule(1, "tagged", tagPrefixList=["a"], tagPatternList=["b*"]))
    assert "either tagPatternList or tagPrefixList, but not both" in detail(raw)


@pytest.mark.parametrize("status", ["untagged", "any"])
@pytest.mark.parametrize("key", ["tagPrefixList", "tagPatternList"])
def test_untagged_and_any_refuse_tag_lists(status: str, key: str) -> None:
    assert "must be omitted" in detail(text(rule(1, status, **{key: ["a"]})))


@pytest.mark.parametrize("key", ["tagPrefixList", "tagPatternList"])
def test_tag_lists_must_be_non_empty_lists_of_non_empty_strings(key: str) -> None:
    assert detail(text(rule(1, "tagged", **{key: []}))).startswith("array is too short")
    assert "too short" in detail(text(rule(1, "tagged", **{key: [""]})))
    assert 'allowed: ["string"]' in detail(text(rule(1, "tagged", **{key: [3]})))
    assert 'allowed: ["array"]' in detail(text(rule(1, "tagged", **{key: "prod"})))


def test_the_documented_wildcard_limit() -> None:
    policy(rule(1, "tagged", tagPatternList=["*test*1*2*3", "test*1*2*3*"]))
    message = detail(text(rule(1, "tagged", tagPatternList=["test*1*2*3*4*5*6"])))
    assert "more than 4 wildcards" in message
    assert "test*1*2*3*4*5*6" in message
    # five is one too many, even when the other entries are fine
    assert "more than 4" in detail(text(rule(1, "tagged", tagPatternList=["ok*", "*a*b*c*d*"])))


@pytest.mark.parametrize("count_type", ["sinceImagePushed", "sinceImagePulled"])
def test_count_unit_required_with_since_types(count_type: str) -> None:
    r = rule(1, count_type=count_type, action="transition")
    del r["selection"]["countUnit"]
    assert f"countUnit is required when countType is {count_type}" in detail(text(r))


def test_count_unit_only_days() -> None:
    raw = text(rule(1, count_type="sinceImagePushed", countUnit="hours"))
    assert detail(raw) == 'instance value (hours) not found in enum :(possible values: ["days"])'


def test_count_unit_forbidden_with_image_count() -> None:
    raw = text(rule(1, countUnit="days"))
    assert "countUnit must not be specified when countType is imageCountMoreThan" in detail(raw)


def test_storage_class_enum() -> None:
    assert detail(text(rule(1, storageClass="glacier"))) == (
        'instance value (glacier) not found in enum :(possible values: ["standard", "archive"])'
    )


@pytest.mark.parametrize("count_type", ["imageCountMoreThan", "sinceImagePushed"])
def test_archive_class_only_with_since_image_transitioned(count_type: str) -> None:
    raw = text(rule(1, count_type=count_type, count_number=100, storageClass="archive"))
    assert f"storageClass must be standard when countType is {count_type}" in detail(raw)


def test_since_image_transitioned_needs_archive_class() -> None:
    raw = text(rule(1, count_type="sinceImageTransitioned", count_number=100))
    assert "storageClass must be archive when countType is sinceImageTransitioned" in detail(raw)


def test_since_image_transitioned_only_expires() -> None:
    raw = text(rule(1, "any", "sinceImageTransitioned", 100, "transition", storageClass="archive"))
    assert "action type must be expire when countType is sinceImageTransitioned" in detail(raw)


def test_since_image_transitioned_respects_the_90_day_minimum() -> None:
    raw = text(rule(1, "any", "sinceImageTransitioned", 89, storageClass="archive"))
    assert "countNumber must be at least 90" in detail(raw)
    policy(rule(1, "any", "sinceImageTransitioned", 90, storageClass="archive"))


# --- action ------------------------------------------------------------------------------


def test_action_type_enum() -> None:
    r = rule(1)
    r["action"] = {"type": "delete"}
    assert (
        detail(text(r))
        == 'instance value (delete) not found in enum :(possible values: ["expire", "transition"])'
    )


def test_action_requires_type_and_refuses_unknown_keys() -> None:
    r = rule(1)
    r["action"] = {}
    assert detail(text(r)) == 'object has missing required properties (["type"])'
    r["action"] = {"type": "expire", "after": 3}
    assert (
        detail(text(r)) == 'object instance has properties which are not allowed by the schema: (["after"])'
    )


def test_transition_requires_archive_target() -> None:
    r = rule(1, count_type="sinceImagePushed", count_number=30)
    r["action"] = {"type": "transition"}
    assert "targetStorageClass is required" in detail(text(r))
    r["action"] = {"type": "transition", "targetStorageClass": "standard"}
    assert detail(text(r)) == 'instance value (standard) not found in enum :(possible values: ["archive"])'


def test_expire_refuses_a_target() -> None:
    r = rule(1)
    r["action"] = {"type": "expire", "targetStorageClass": "archive"}
    assert "targetStorageClass may only be specified when action type is transition" in detail(text(r))


def test_ecr_only_archives_on_pull_age() -> None:
    raw = text(rule(1, "any", "sinceImagePulled", 30, "expire"))
    assert "action type must be transition when countType is sinceImagePulled" in detail(raw)


# --- rule set ----------------------------------------------------------------------------


def test_any_rule_must_have_the_highest_priority() -> None:
    raw = text(rule(1, "any"), rule(2, "tagged", tagPrefixList=["prod"]))
    assert "tagStatus any (rulePriority 1) must have the highest rulePriority" in detail(raw)


def test_only_one_any_rule_per_storage_class() -> None:
    raw = text(rule(1, "any", "sinceImagePushed", 10), rule(2, "any"))
    assert "must have the highest rulePriority" in detail(raw)


def test_only_one_untagged_rule() -> None:
    raw = text(rule(1, "untagged"), rule(2, "untagged", "sinceImagePushed", 3))
    assert detail(raw) == "only one rule is allowed to select untagged images"


def test_one_untagged_rule_per_storage_class_is_fine() -> None:
    policy(
        rule(1, "untagged", "sinceImagePushed", 30, "transition"),
        rule(2, "untagged", "sinceImageTransitioned", 120, storageClass="archive"),
    )


def test_the_first_problem_is_reported() -> None:
    """ECR reports one problem at a time; rule order decides which."""
    raw = text(rule(1, count_number=0), rule(2, "bogus"))
    assert "minimum: 1, found: 0" in detail(raw)
