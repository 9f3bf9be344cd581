"""Shared builders for the policy tests: principals, documents and requests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.auth.policy import (
    AuthzRequest,
    ContextValue,
    Decision,
    NamedPolicy,
    PolicyDocument,
    PolicyKind,
    PolicySet,
    evaluate,
    parse_policy,
)
from dockyard.auth.principals import Principal

ACCOUNT = "111122223333"
OTHER = "444455556666"
REPO_ARN = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"

ALICE = Principal(account_id=ACCOUNT, user_id="AIDAALICE0000000000", user_name="alice")
BOB = Principal(account_id=ACCOUNT, user_id="AIDABOB00000000000000", user_name="bob")
ROOT = Principal(account_id=ACCOUNT, user_id=ACCOUNT, user_name="root", is_root=True)
MALLORY = Principal(account_id=OTHER, user_id="AIDAMALLORY000000000", user_name="mallory")
OTHER_ROOT = Principal(account_id=OTHER, user_id=OTHER, user_name="root", is_root=True)


def policy(
    *statements: Mapping[str, Any], kind: PolicyKind = "resource", version: str = "2012-10-17"
) -> PolicyDocument:
    return parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), kind)


def identity(
    *statements: Mapping[str, Any], name: str = "inline", version: str = "2012-10-17"
) -> NamedPolicy:
    return NamedPolicy(name, policy(*statements, kind="identity", version=version))


def allow(action: str | list[str] = "ecr:*", resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str] = "ecr:*", resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def grant(
    principal: Any, action: str | list[str] = "ecr:*", effect: str = "Allow", **extra: Any
) -> dict[str, Any]:
    """A repository-policy statement (no Resource: it is implicit)."""
    return {"Effect": effect, "Principal": principal, "Action": action, **extra}


def decide(
    principal: Principal | None,
    *,
    action: str = "ecr:BatchGetImage",
    resource: str = REPO_ARN,
    resource_account: str = ACCOUNT,
    identity_policies: Sequence[NamedPolicy] = (),
    resource_policy: PolicyDocument | None = None,
    registry_policy: PolicyDocument | None = None,
    context: Mapping[str, ContextValue] | None = None,
) -> Decision:
    request = AuthzRequest(principal, action, resource, resource_account, dict(context or {}))
    return evaluate(request, PolicySet(identity_policies, resource_policy, registry_policy))


def condition_holds(
    condition: Mapping[str, Any], context: Mapping[str, ContextValue], version: str = "2012-10-17"
) -> bool:
    """Evaluate one Condition block for ALICE through an identity policy that allows everything else."""
    named = identity(allow(Condition=condition), version=version)
    return decide(ALICE, identity_policies=[named], context=context).allowed
