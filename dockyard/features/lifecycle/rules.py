"""Parse and validate lifecycle policy text the way ECR's PutLifecyclePolicy does.

ECR validates the policy with a JSON schema before it stores it, and clients (the AWS CLI,
Terraform, CDK) surface its messages verbatim, so the texts here follow the shape ECR uses:
an ``InvalidParameterException`` whose message is::

    Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint:
    'Lifecycle policy validation failure: <detail>'

where ``<detail>`` is a JSON-schema phrase (``object has missing required properties
(["rules"])``, ``instance value (x) not found in enum :(possible values: [...])``,
``numeric instance is lower than the required minimum (minimum: 1, found: 0)``...), as
moto copied them from AWS. For the cross-field rules (unique priorities, the ``any`` rule
last, one ``untagged`` rule...) AWS's exact wording is not public; those messages are ours,
in the same frame. The 100..30720 length limit is a model constraint, which AWS reports as
a ``ValidationException`` ("1 validation error detected: ..."); ``LifecyclePolicyError.kind``
says which of the two a failure is ("invalid" or "malformed"; the ECR door names them).

Extensions (Dockyard additions; rejected when ``strict_ecr=True`` so the ECR API stays exact):

* ``"action": {"type": "expire"}`` with ``"countType": "sinceImagePulled"``: delete images
  nobody has pulled for N days. ECR only *transitions* (archives) on pull age
  (aws/containers-roadmap#921 closed as "won't expire images", #2728 still asks for it).
* ``"sortBy": "lastPulled"`` in a selection with ``"countType": "imageCountMoreThan"``: keep
  the N most recently *pulled* images (never-pulled images rank by push time) instead of the
  N most recently pushed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from dockyard.core import untrusted_json

PREFIX: Final = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
FAILURE: Final = "Lifecycle policy validation failure: "
MIN_TEXT_LENGTH: Final = 100  # LifecyclePolicyText in the botocore model
MAX_TEXT_LENGTH: Final = 30720
MAX_RULES: Final = 50  # ECR service quota "Rules per lifecycle policy" (not adjustable)
MAX_PATTERN_WILDCARDS: Final = 4
ARCHIVE_MINIMUM_DAYS: Final = 90  # archived images have a 90-day minimum storage duration

TAG_STATUSES: Final = ("tagged", "untagged", "any")
COUNT_TYPES: Final = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned")
TIME_COUNT_TYPES: Final = frozenset({"sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"})
COUNT_UNITS: Final = ("days",)
STORAGE_CLASSES: Final = ("standard", "archive")
ACTION_TYPES: Final = ("expire", "transition")
TARGET_STORAGE_CLASSES: Final = ("archive",)
SORT_BY_VALUES: Final = ("lastPulled",)  # extension

POLICY_KEYS: Final = frozenset({"rules"})
RULE_KEYS: Final = frozenset({"rulePriority", "description", "selection", "action"})
RULE_REQUIRED: Final = ("action", "rulePriority", "selection")
SELECTION_KEYS: Final = frozenset(
    {"tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType", "countUnit", "countNumber"}
)
SELECTION_REQUIRED: Final = ("countNumber", "countType", "tagStatus")
ACTION_KEYS: Final = frozenset({"type", "targetStorageClass"})

EXT_EXPIRE_ON_PULL: Final = "expire-sinceImagePulled"
EXT_SORT_BY_LAST_PULLED: Final = "sortBy-lastPulled"

TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"]
StorageClass = Literal["standard", "archive"]
ActionType = Literal["expire", "transition"]


class LifecyclePolicyError(ValueError):
    """A policy ECR would refuse; ``kind`` says how: "invalid" (content the service refuses) or
    "malformed" (outside the API model: the text's length). The doors name it."""

    def __init__(self, message: str, kind: Literal["invalid", "malformed"] = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Selection:
    """Which images a rule looks at, and the count/age criterion it applies to them."""

    tag_status: TagStatus
    count_type: CountType
    count_number: int
    tag_prefix_list: tuple[str, ...] = ()
    tag_pattern_list: tuple[str, ...] = ()
    count_unit: str | None = None
    storage_class: StorageClass = "standard"
    sort_by: str | None = None  # extension: "lastPulled"


@dataclass(frozen=True, slots=True)
class Action:
    """What happens to the images a rule marks."""

    type: ActionType
    target_storage_class: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    priority: int
    selection: Selection
    action: Action
    description: str | None = None


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """A validated policy; ``rules`` is sorted by priority (the order ECR applies them)."""

    rules: tuple[Rule, ...]
    extensions: frozenset[str] = frozenset()  # which Dockyard extensions the text uses


def _fail(detail: str) -> LifecyclePolicyError:
    return LifecyclePolicyError(f"{PREFIX}'{FAILURE}{detail}'")


def _json_type(value: Any) -> str:
    """The JSON-schema name of a decoded value's type, as schema errors print it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expect(value: Any, kind: str) -> None:
    if _json_type(value) != kind:
        raise _fail(
            f"instance type ({_json_type(value)}) does not match any allowed primitive type "
            f'(allowed: ["{kind}"])'
        )


def _check_keys(obj: dict[str, Any], allowed: frozenset[str], required: tuple[str, ...]) -> None:
    missing = [key for key in required if key not in obj]
    if missing:
        raise _fail(f"object has missing required properties ({json.dumps(sorted(missing))})")
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _fail(
            f"object instance has properties which are not allowed by the schema: ({json.dumps(extra)})"
        )


def _check_enum(value: Any, allowed: tuple[str, ...]) -> None:
    _expect(value, "string")
    if value not in allowed:
        raise _fail(
            f"instance value ({value}) not found in enum :(possible values: {json.dumps(list(allowed))})"
        )


def _check_integer(value: Any, minimum: int) -> int:
    _expect(value, "integer")
    if value < minimum:
        raise _fail(
            f"numeric instance is lower than the required minimum (minimum: {minimum}, found: {value})"
        )
    return int(value)


def _string_list(value: Any) -> tuple[str, ...]:
    _expect(value, "array")
    if not value:
        raise _fail("array is too short: must have at least 1 elements but instance has 0 elements")
    for item in value:
        _expect(item, "string")
        if not item:
            raise _fail('string "" is too short (length: 0, required minimum: 1)')
    return tuple(value)


def parse_policy(text: str, *, strict_ecr: bool = True) -> LifecyclePolicy:
    """Validate ``text`` as PutLifecyclePolicy does and return the parsed policy.

    ``strict_ecr=True`` accepts exactly what ECR accepts (use it behind the ECR API);
    ``strict_ecr=False`` also accepts the Dockyard extensions listed in the module docstring.
    Raises ``LifecyclePolicyError`` on the first problem found, as ECR reports one at a time.
    """
    if not isinstance(text, str):
        raise _fail("Could not map policyString into LifecyclePolicy.")
    if len(text) < MIN_TEXT_LENGTH or len(text) > MAX_TEXT_LENGTH:
        bound = (
            f"greater than or equal to {MIN_TEXT_LENGTH}"
            if len(text) < MIN_TEXT_LENGTH
            else f"less than or equal to {MAX_TEXT_LENGTH}"
        )
        raise LifecyclePolicyError(
            f"1 validation error detected: Value '{text}' at 'lifecyclePolicyText' failed to satisfy "
            f"constraint: Member must have length {bound}",
            kind="malformed",
        )
    try:
        document = untrusted_json.loads(text)
    except ValueError:
        raise _fail("Could not map policyString into LifecyclePolicy.") from None
    if not isinstance(document, dict):
        raise _fail("Could not map policyString into LifecyclePolicy.")
    _check_keys(document, POLICY_KEYS, ("rules",))
    raw_rules = document["rules"]
    _expect(raw_rules, "array")
    if not raw_rules:
        raise _fail("array is too short: must have at least 1 elements but instance has 0 elements")
    if len(raw_rules) > MAX_RULES:
        raise _fail(
            f"array is too long: must have at most {MAX_RULES} elements "
            f"but instance has {len(raw_rules)} elements"
        )
    extensions: set[str] = set()
    rules = [_parse_rule(raw, strict_ecr, extensions) for raw in raw_rules]
    _check_rule_set(rules)
    return LifecyclePolicy(
        rules=tuple(sorted(rules, key=lambda rule: rule.priority)), extensions=frozenset(extensions)
    )


def _parse_rule(raw: Any, strict_ecr: bool, extensions: set[str]) -> Rule:
    _expect(raw, "object")
    _check_keys(raw, RULE_KEYS, RULE_REQUIRED)
    priority = _check_integer(raw["rulePriority"], 1)
    description = raw.get("description")
    if description is not None:
        _expect(description, "string")
    selection = _parse_selection(raw["selection"], strict_ecr, extensions)
    action = _parse_action(raw["action"])
    _check_combination(selection, action, strict_ecr, extensions)
    return Rule(priority=priority, selection=selection, action=action, description=description)


def _parse_selection(raw: Any, strict_ecr: bool, extensions: set[str]) -> Selection:
    _expect(raw, "object")
    allowed = SELECTION_KEYS if strict_ecr else SELECTION_KEYS | {"sortBy"}
    _check_keys(raw, allowed, SELECTION_REQUIRED)
    _check_enum(raw["tagStatus"], TAG_STATUSES)
    _check_enum(raw.get("storageClass", "standard"), STORAGE_CLASSES)
    count_type = raw["countType"]
    _expect(count_type, "string")
    if count_type not in COUNT_TYPES:
        raise _fail("instance failed to match exactly one schema (matched 0 out of 2)")
    count_number = _check_integer(raw["countNumber"], 1)

    tag_status = raw["tagStatus"]
    prefixes = _string_list(raw["tagPrefixList"]) if "tagPrefixList" in raw else ()
    patterns = _string_list(raw["tagPatternList"]) if "tagPatternList" in raw else ()
    if tag_status == "tagged":
        if not prefixes and not patterns:
            raise _fail("tagPrefixList or tagPatternList is required when tagStatus is tagged")
        if prefixes and patterns:
            raise _fail("a rule may specify either tagPatternList or tagPrefixList, but not both")
    elif prefixes or patterns:
        raise _fail(f"tagPrefixList and tagPatternList must be omitted when tagStatus is {tag_status}")
    for pattern in patterns:
        if pattern.count("*") > MAX_PATTERN_WILDCARDS:
            raise _fail(
                f"tagPatternList entry ({pattern}) has more than {MAX_PATTERN_WILDCARDS} wildcards (*)"
            )

    count_unit = raw.get("countUnit")
    if count_type in TIME_COUNT_TYPES:
        if count_unit is None:
            raise _fail(f"countUnit is required when countType is {count_type}")
        _check_enum(count_unit, COUNT_UNITS)
    elif "countUnit" in raw:
        raise _fail(f"countUnit must not be specified when countType is {count_type}")

    sort_by = raw.get("sortBy")
    if "sortBy" in raw:
        _check_enum(sort_by, SORT_BY_VALUES)
        if count_type != "imageCountMoreThan":
            raise _fail("sortBy may only be specified when countType is imageCountMoreThan")
        extensions.add(EXT_SORT_BY_LAST_PULLED)

    return Selection(
        tag_status=tag_status,
        count_type=count_type,
        count_number=count_number,
        tag_prefix_list=prefixes,
        tag_pattern_list=patterns,
        count_unit=count_unit,
        storage_class=raw.get("storageClass", "standard"),
        sort_by=sort_by,
    )


def _parse_action(raw: Any) -> Action:
    _expect(raw, "object")
    _check_keys(raw, ACTION_KEYS, ("type",))
    _check_enum(raw["type"], ACTION_TYPES)
    target = raw.get("targetStorageClass")
    if raw["type"] == "transition":
        if target is None:
            raise _fail("targetStorageClass is required when action type is transition")
        _check_enum(target, TARGET_STORAGE_CLASSES)
    elif "targetStorageClass" in raw:
        raise _fail("targetStorageClass may only be specified when action type is transition")
    return Action(type=raw["type"], target_storage_class=target)


def _check_combination(selection: Selection, action: Action, strict_ecr: bool, extensions: set[str]) -> None:
    """The storage-class / count-type / action pairings ECR allows."""
    count_type = selection.count_type
    if count_type == "sinceImageTransitioned":
        if selection.storage_class != "archive":
            raise _fail("storageClass must be archive when countType is sinceImageTransitioned")
        if action.type != "expire":
            raise _fail("action type must be expire when countType is sinceImageTransitioned")
        if selection.count_number < ARCHIVE_MINIMUM_DAYS:
            raise _fail(
                f"countNumber must be at least {ARCHIVE_MINIMUM_DAYS} when countType is "
                "sinceImageTransitioned: archived images have a 90-day minimum storage duration"
            )
    elif selection.storage_class != "standard":
        raise _fail(f"storageClass must be standard when countType is {count_type}")
    if count_type == "sinceImagePulled" and action.type == "expire":
        if strict_ecr:
            raise _fail("action type must be transition when countType is sinceImagePulled")
        extensions.add(EXT_EXPIRE_ON_PULL)


def _check_rule_set(rules: list[Rule]) -> None:
    """Cross-rule constraints: unique priorities, ``any`` last, one ``untagged`` rule.

    The ``any``-last and single-``untagged`` rules are applied per storage class: AWS's own
    examples pair an ``any`` standard-class archival rule with a later ``any`` archive-class
    expiry rule, and its evaluation rules now read "Only one rule selecting a specific
    storage class is allowed to select untagged images".
    """
    seen: set[int] = set()
    for rule in rules:
        if rule.priority in seen:
            raise _fail(f"rulePriority ({rule.priority}) must be unique across rules")
        seen.add(rule.priority)
    for storage_class in STORAGE_CLASSES:
        same_class = [rule for rule in rules if rule.selection.storage_class == storage_class]
        if not same_class:
            continue
        highest = max(rule.priority for rule in same_class)
        for rule in same_class:
            if rule.selection.tag_status == "any" and rule.priority != highest:
                raise _fail(
                    f"the rule with tagStatus any (rulePriority {rule.priority}) must have "
                    "the highest rulePriority"
                )
        untagged = [rule for rule in same_class if rule.selection.tag_status == "untagged"]
        if len(untagged) > 1:
            raise _fail("only one rule is allowed to select untagged images")
