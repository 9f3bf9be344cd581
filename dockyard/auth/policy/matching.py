"""Does one statement apply to one request? (Action, Resource, Principal, Condition.)

Kept apart from the allow/deny combination logic in :mod:`evaluate` because it is the part
with all the IAM matching rules, and the part `dockyard iam simulate` wants to show per statement.
"""

from __future__ import annotations

from enum import Enum

from dockyard.auth.policy.conditions import evaluate_condition
from dockyard.auth.policy.context import RequestContext
from dockyard.auth.policy.document import PolicyDocument, PrincipalSpec, Statement
from dockyard.auth.policy.patterns import arn_match, glob_match
from dockyard.auth.principals import Principal


class PrincipalMatch(Enum):
    """How a resource-policy statement names the caller.

    ``DIRECT``: ``"*"``, the caller's own ARN (or unique ID), or ``NotPrincipal`` not naming it.
    ``ACCOUNT``: only through the caller's account (``123456789012`` / ``arn:aws:iam::...:root``).
    IAM treats the latter as delegation to the account: inside that account the caller's identity
    policies must still grant the action, so the distinction matters to :func:`evaluate`.
    """

    DIRECT = "direct"
    ACCOUNT = "account"


def action_matches(stmt: Statement, action: str) -> bool:
    """Action/NotAction; IAM action names are case-insensitive."""
    if stmt.actions is not None:
        return any(glob_match(p, action, ignore_case=True) for p in stmt.actions)
    assert stmt.not_actions is not None
    return not any(glob_match(p, action, ignore_case=True) for p in stmt.not_actions)


def resource_matches(stmt: Statement, resource: str | None, ctx: RequestContext, variables: bool) -> bool:
    """Resource/NotResource; absent in a resource policy means "the resource I am attached to".

    ``resource=None`` means "whatever resource this is" and ignores both elements (used by the
    lockout check, which has no ARN to hand).
    """
    if resource is None:
        return True
    if stmt.resources is not None:
        return any(_resource_pattern_matches(p, resource, ctx, variables) for p in stmt.resources)
    if stmt.not_resources is not None:
        return not any(_resource_pattern_matches(p, resource, ctx, variables) for p in stmt.not_resources)
    return True


def _resource_pattern_matches(pattern: str, resource: str, ctx: RequestContext, variables: bool) -> bool:
    if pattern == "*":
        return True
    return arn_match(pattern, resource, variables=variables, ctx=ctx)


def _names(spec: PrincipalSpec, principal: Principal | None) -> PrincipalMatch | None:
    """How ``spec`` names ``principal`` (None: it does not)."""
    if spec.wildcard:
        return PrincipalMatch.DIRECT
    if principal is None:
        return None
    root_arn = f"arn:aws:iam::{principal.account_id}:root"
    if principal.is_root:
        return PrincipalMatch.DIRECT if _lists(spec, root_arn) else None
    if principal.user_id in spec.aws or any(_same_user(arn, principal) for arn in spec.aws):
        return PrincipalMatch.DIRECT
    if _lists(spec, root_arn):
        return PrincipalMatch.ACCOUNT
    return None


def _lists(spec: PrincipalSpec, root_arn: str) -> bool:
    account = root_arn.split(":")[4]
    return any(a.endswith(f"::{account}:root") and a.startswith("arn:aws") for a in spec.aws)


def _same_user(arn: str, principal: Principal) -> bool:
    # Principal has no IAM path, and user names are unique per account whatever their path, so
    # arn:aws:iam::ACCT:user/any/path/NAME names the user NAME of ACCT.
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or parts[4] != principal.account_id:
        return False
    resource = parts[5]
    return resource.startswith("user/") and resource.rsplit("/", 1)[-1] == principal.user_name


def principal_matches(stmt: Statement, principal: Principal | None) -> PrincipalMatch | None:
    """Principal/NotPrincipal of a resource-policy statement.

    In a ``Deny``, NotPrincipal exempts a caller only if *every* identity in its chain is listed:
    a user is exempt when both its ARN and its account are listed, which is why AWS tells you to
    list the account next to the user in a ``Deny`` + ``NotPrincipal`` statement. In an ``Allow``
    the caller's own identity being listed is enough to leave it out: an Allow must never grant
    the principal it names as excluded. Anonymous callers are exempt only from ``NotPrincipal: "*"``.
    """
    if stmt.principal is not None:
        return _names(stmt.principal, principal)
    spec = stmt.not_principal
    if spec is None:  # identity policy: the statement is about its owner
        return PrincipalMatch.DIRECT
    if spec.wildcard:
        return None
    if principal is None:
        return PrincipalMatch.DIRECT
    root_listed = _lists(spec, f"arn:aws:iam::{principal.account_id}:root")
    if principal.is_root:
        exempt = root_listed
    else:
        user_listed = principal.user_id in spec.aws or any(_same_user(a, principal) for a in spec.aws)
        exempt = user_listed if stmt.effect == "Allow" else root_listed and user_listed
    return None if exempt else PrincipalMatch.DIRECT


def conditions_match(stmt: Statement, ctx: RequestContext, variables: bool) -> bool:
    """Every operator and every key must hold (AND); values of one key are OR'ed."""
    return all(evaluate_condition(c.operator, c.key, c.values, ctx, variables) for c in stmt.conditions)


def statement_applies(
    stmt: Statement,
    document: PolicyDocument,
    *,
    principal: Principal | None,
    action: str,
    resource: str | None,
    ctx: RequestContext,
) -> PrincipalMatch | None:
    """Whether ``stmt`` applies to the request; for resource policies, also how it names the caller."""
    if not action_matches(stmt, action):
        return None
    if not resource_matches(stmt, resource, ctx, document.variables):
        return None
    match = principal_matches(stmt, principal) if document.kind == "resource" else PrincipalMatch.DIRECT
    if match is None:
        return None
    if not conditions_match(stmt, ctx, document.variables):
        return None
    return match
