"""Properties of the policy language, checked on generated input (hypothesis).

* the parser answers anything JSON-ish (and any mutation of a valid policy) with a document or a
  PolicyError, never another exception;
* adding a Deny statement never widens access;
* for a caller in the resource's account, adding identity Allow statements never narrows access.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.auth.policy import PolicyError, parse_policy
from dockyard.auth.principals import Principal
from tests.unit.policy.policy_testlib import (
    ACCOUNT,
    ALICE,
    BOB,
    MALLORY,
    OTHER,
    OTHER_ROOT,
    REPO_ARN,
    ROOT,
    decide,
    identity,
    policy,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- the parser never crashes

KEYS = st.sampled_from(
    [
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Service",
        "StringEquals",
        "IpAddress",
        "ForAnyValue:StringLike",
        "aws:SourceIp",
        "ecr:ResourceTag/team",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["Allow", "Deny", "*", "ecr:*", "2012-10-17", "2008-10-17", "10.0.0.0/8", REPO_ARN, ACCOUNT]
    )
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

VALID = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Pull",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
        {"Effect": "Deny", "Principal": "*", "NotAction": "ecr:Describe*", "Resource": REPO_ARN},
    ],
}


def _parse_or_policy_error(value: Any, kind: Any) -> None:
    with contextlib.suppress(PolicyError):
        parse_policy(value, kind)


@SETTINGS
@given(JSONISH, st.sampled_from(["identity", "resource"]))
def test_parser_raises_only_policy_error_on_jsonish_values(value: Any, kind: Any) -> None:
    _parse_or_policy_error(json.dumps(value), kind)
    if isinstance(value, dict):
        _parse_or_policy_error(value, kind)


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(["identity", "resource"]))
def test_parser_raises_only_policy_error_on_any_text(text: str, kind: Any) -> None:
    _parse_or_policy_error(text, kind)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


@st.composite
def mutated_policies(draw: st.DrawFn) -> Any:
    document: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        if not path:
            document = draw(JSONISH)
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "replace":
            parent[path[-1]] = draw(JSONISH)
        elif how == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(KEYS)] = draw(JSONISH)
        else:
            parent.append(draw(JSONISH))
    return document


@SETTINGS
@given(mutated_policies(), st.sampled_from(["identity", "resource"]))
def test_parser_raises_only_policy_error_on_mutated_policies(document: Any, kind: Any) -> None:
    _parse_or_policy_error(json.dumps(document), kind)
    if isinstance(document, dict):
        _parse_or_policy_error(document, kind)


def test_the_valid_policy_parses() -> None:
    assert len(parse_policy(json.dumps(VALID), "resource").statements) == 2


# ---------------------------------------------------------------- evaluation properties

ACTIONS = ["ecr:BatchGetImage", "ecr:PutImage", "ecr:DescribeRepositories", "ecr:Get*", "ecr:*", "*"]
REQUEST_ACTIONS = [
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:DescribeRepositories",
    "ecr:GetAuthorizationToken",
]
RESOURCES = [
    "*",
    REPO_ARN,
    f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/*",
    f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/other",
    f"arn:aws:ecr:*:{OTHER}:repository/*",
]
PRINCIPALS: list[Any] = [
    "*",
    {"AWS": "*"},
    {"AWS": ACCOUNT},
    {"AWS": OTHER},
    {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
    {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    {"AWS": f"arn:aws:iam::{OTHER}:user/mallory"},
]
CONDITIONS: list[dict[str, Any] | None] = [
    None,
    {"StringEquals": {"aws:username": "alice"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"StringEqualsIfExists": {"ecr:ResourceTag/team": "a"}},
]
CALLERS: list[Principal | None] = [ALICE, BOB, ROOT, MALLORY, OTHER_ROOT, None]
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"aws:SecureTransport": True, "aws:SourceIp": "10.1.2.3"},
    {"aws:SecureTransport": False, "aws:SourceIp": "192.168.0.1", "ecr:ResourceTag/team": "a"},
]


def _with_condition(stmt: dict[str, Any], condition: dict[str, Any] | None) -> dict[str, Any]:
    return stmt if condition is None else {**stmt, "Condition": condition}


@st.composite
def identity_statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    stmt = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        "Action": draw(st.sampled_from(ACTIONS)),
        "Resource": draw(st.sampled_from(RESOURCES)),
    }
    return _with_condition(stmt, draw(st.sampled_from(CONDITIONS)))


@st.composite
def resource_statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    stmt = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        "Principal": draw(st.sampled_from(PRINCIPALS)),
        "Action": draw(st.sampled_from(ACTIONS)),
    }
    return _with_condition(stmt, draw(st.sampled_from(CONDITIONS)))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "identity": draw(st.lists(identity_statements(), max_size=3)),
        "resource": draw(st.lists(resource_statements(), max_size=3)),
        "registry": draw(st.lists(resource_statements(), max_size=2)),
        "action": draw(st.sampled_from(REQUEST_ACTIONS)),
        "resource_arn": draw(st.sampled_from([REPO_ARN, "*"])),
        "context": draw(st.sampled_from(CONTEXTS)),
    }


def _allowed(principal: Principal | None, s: dict[str, Any]) -> bool:
    return decide(
        principal,
        action=s["action"],
        resource=s["resource_arn"],
        identity_policies=[identity(*s["identity"])] if s["identity"] else [],
        resource_policy=policy(*s["resource"]) if s["resource"] else None,
        registry_policy=policy(*s["registry"]) if s["registry"] else None,
        context=s["context"],
    ).allowed


@SETTINGS
@given(
    scenarios(),
    st.sampled_from(CALLERS),
    st.sampled_from(["identity", "resource", "registry"]),
    st.data(),
)
def test_adding_a_deny_never_widens_access(
    scenario: dict[str, Any], caller: Principal | None, where: str, data: st.DataObject
) -> None:
    before = _allowed(caller, scenario)
    strategy = identity_statements("Deny") if where == "identity" else resource_statements("Deny")
    extended = {**scenario, where: [*scenario[where], data.draw(strategy)]}
    after = _allowed(caller, extended)
    assert not after or before, "a Deny statement turned a denial into an allow"


@SETTINGS
@given(
    scenarios(), st.sampled_from([ALICE, BOB]), st.lists(identity_statements("Allow"), min_size=1, max_size=3)
)
def test_identity_allows_are_monotone_for_the_same_account(
    scenario: dict[str, Any], caller: Principal, extra: list[dict[str, Any]]
) -> None:
    before = _allowed(caller, scenario)
    after = _allowed(caller, {**scenario, "identity": [*scenario["identity"], *extra]})
    assert after or not before, "an identity Allow statement turned an allow into a denial"


@SETTINGS
@given(scenarios())
def test_root_in_its_account_is_denied_only_explicitly(scenario: dict[str, Any]) -> None:
    decision = decide(
        ROOT,
        action=scenario["action"],
        resource=scenario["resource_arn"],
        identity_policies=[identity(*scenario["identity"])] if scenario["identity"] else [],
        resource_policy=policy(*scenario["resource"]) if scenario["resource"] else None,
        registry_policy=policy(*scenario["registry"]) if scenario["registry"] else None,
        context=scenario["context"],
    )
    assert decision.allowed or decision.reason == "explicit deny"
    if decision.reason == "explicit deny":
        assert decision.statement is not None and not decision.statement.policy.startswith("identity")
