"""Combine identity, repository and registry policies into one allow/deny decision.

This is AWS's documented evaluation logic, reduced to what a registry has (no SCPs, permission
boundaries or session policies):

1. an explicit ``Deny`` in any applicable policy wins;
2. the root user may do anything to its own account's resources (identity policies cannot
   restrict root; a resource-policy ``Deny`` still applies, see 1);
3. same account: an ``Allow`` in an identity policy, or a resource policy ``Allow`` that names the
   caller (``"*"`` or its ARN), suffices. A resource policy that names only the caller's *account*
   delegates to the account, so then the identity policy must allow;
4. cross account: the resource side (repository or registry policy) must allow the caller, *and*
   the caller's identity policies must allow (a foreign root user has no identity policies and
   counts as allowing itself);
5. anything else is an implicit deny.

The registry policy is a resource-based policy of the registry account, evaluated alongside the
repository policy: an ``Allow`` in either satisfies the resource side, a ``Deny`` in either wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from dockyard import clock
from dockyard.auth.policy.context import ContextValue, RequestContext
from dockyard.auth.policy.document import Effect, PolicyDocument, Statement
from dockyard.auth.policy.matching import PrincipalMatch, statement_applies
from dockyard.auth.principals import Principal

Reason = Literal[
    "explicit deny", "allowed by identity policy", "allowed by resource policy", "implicit deny", "root user"
]

REPOSITORY_POLICY_NAME = "repository-policy"
REGISTRY_POLICY_NAME = "registry-policy"


@dataclass(frozen=True, slots=True)
class AuthzRequest:
    """One authorization question: may ``principal`` do ``action`` on ``resource``?

    ``principal=None`` is an anonymous caller. ``resource`` is an ARN
    (``arn:aws:ecr:us-east-1:111122223333:repository/team/app``) or ``"*"`` for account-wide
    actions such as ``ecr:GetAuthorizationToken``; ``resource_account`` is the account that owns it.
    """

    principal: Principal | None
    action: str
    resource: str
    resource_account: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NamedPolicy:
    """An identity policy with the name explanations refer to it by."""

    name: str
    document: PolicyDocument


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every policy that bears on one request."""

    identity: Sequence[NamedPolicy] = ()
    resource: PolicyDocument | None = None
    registry: PolicyDocument | None = None


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Which statement decided, for logs and ``dockyard iam simulate``."""

    policy: str
    index: int
    sid: str | None
    effect: Effect

    @property
    def label(self) -> str:
        return f"{self.policy}/{self.sid}" if self.sid else f"{self.policy}/Statement[{self.index}]"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    statement: StatementRef | None = None
    supporting: tuple[StatementRef, ...] = ()
    """Other statements the decision needed (the identity allow of a cross-account request)."""
    detail: str = ""

    def explain(self) -> str:
        verdict = "ALLOW" if self.allowed else "DENY"
        parts = [f"{verdict} ({self.reason})"]
        if self.statement is not None:
            parts.append(f"by {self.statement.label}")
        if self.supporting:
            parts.append("with " + ", ".join(s.label for s in self.supporting))
        text = " ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text


def request_context(request: AuthzRequest, now: datetime | None = None) -> RequestContext:
    """The request's condition keys plus the global keys IAM always sets, unless given."""
    ctx = RequestContext(request.context)
    moment = now or clock.now()
    defaults: dict[str, ContextValue] = {
        "aws:CurrentTime": moment,
        "aws:EpochTime": int(moment.timestamp()),
        "aws:ResourceAccount": request.resource_account,
    }
    p = request.principal
    if p is None:
        defaults["aws:PrincipalType"] = "Anonymous"
    else:
        defaults["aws:PrincipalAccount"] = p.account_id
        defaults["aws:PrincipalArn"] = p.arn
        defaults["aws:PrincipalType"] = "Account" if p.is_root else "User"
        defaults["aws:userid"] = p.account_id if p.is_root else p.user_id
        if not p.is_root:  # IAM sets aws:username only for IAM users
            defaults["aws:username"] = p.user_name
    for key, value in defaults.items():
        if key not in ctx:
            ctx.set(key, value)
    return ctx


def _check_kinds(policies: PolicySet) -> None:
    # A policy parsed with the wrong kind would be evaluated with the wrong rules (an identity
    # document as a repository policy would have no Principal and so grant everyone): refuse it.
    for named in policies.identity:
        if named.document.kind != "identity":
            raise ValueError(f"identity policy {named.name!r} was parsed as a {named.document.kind} policy")
    for label, document in (("repository", policies.resource), ("registry", policies.registry)):
        if document is not None and document.kind != "resource":
            raise ValueError(f"the {label} policy was parsed as an {document.kind} policy")


def _ref(policy: str, stmt: Statement) -> StatementRef:
    return StatementRef(policy=policy, index=stmt.index, sid=stmt.sid, effect=stmt.effect)


def evaluate(request: AuthzRequest, policies: PolicySet) -> Decision:
    """Decide ``request`` against ``policies`` with AWS's evaluation logic (see module doc)."""
    return evaluate_with(request, policies, match_any_resource=False)


def evaluate_with(request: AuthzRequest, policies: PolicySet, *, match_any_resource: bool) -> Decision:
    """:func:`evaluate`; ``match_any_resource`` ignores Resource/NotResource (no ARN known)."""
    _check_kinds(policies)
    ctx = request_context(request)
    principal = request.principal
    is_root = principal is not None and principal.is_root
    resource = None if match_any_resource else request.resource

    def applies(stmt: Statement, document: PolicyDocument) -> PrincipalMatch | None:
        return statement_applies(
            stmt, document, principal=principal, action=request.action, resource=resource, ctx=ctx
        )

    identity_allow: StatementRef | None = None
    # Anonymous callers have no identity; root cannot be restricted (or granted) by identity policies.
    identity = () if principal is None or is_root else policies.identity
    for named in identity:
        for stmt in named.document.statements:
            if applies(stmt, named.document) is None:
                continue
            if stmt.effect == "Deny":
                return Decision(False, "explicit deny", _ref(named.name, stmt))
            identity_allow = identity_allow or _ref(named.name, stmt)

    resource_allow: tuple[StatementRef, PrincipalMatch] | None = None
    for name, document in (
        (REPOSITORY_POLICY_NAME, policies.resource),
        (REGISTRY_POLICY_NAME, policies.registry),
    ):
        if document is None:
            continue
        for stmt in document.statements:
            match = applies(stmt, document)
            if match is None:
                continue
            if stmt.effect == "Deny":
                return Decision(False, "explicit deny", _ref(name, stmt))
            if resource_allow is None or (
                resource_allow[1] is PrincipalMatch.ACCOUNT and match is PrincipalMatch.DIRECT
            ):
                resource_allow = (_ref(name, stmt), match)

    same_account = principal is not None and principal.account_id == request.resource_account
    if is_root and same_account:
        return Decision(
            True, "root user", detail="the root user may do anything to its own account's resources"
        )
    if principal is None or is_root:
        if resource_allow is not None:
            return Decision(True, "allowed by resource policy", resource_allow[0])
        who = "anonymous callers" if principal is None else "another account's root user"
        return Decision(False, "implicit deny", detail=f"no resource-based policy grants {who} this action")
    if same_account:
        if identity_allow is not None:
            return Decision(True, "allowed by identity policy", identity_allow)
        if resource_allow is not None and resource_allow[1] is PrincipalMatch.DIRECT:
            return Decision(True, "allowed by resource policy", resource_allow[0])
        if resource_allow is not None:
            return Decision(
                False,
                "implicit deny",
                detail=(
                    f"{resource_allow[0].label} grants the account, which delegates to "
                    "identity policies; none allows"
                ),
            )
        return Decision(False, "implicit deny", detail="no policy allows this action")
    if resource_allow is not None and identity_allow is not None:
        return Decision(True, "allowed by resource policy", resource_allow[0], supporting=(identity_allow,))
    missing = []
    if resource_allow is None:
        missing.append("no repository or registry policy allows this caller")
    if identity_allow is None:
        missing.append("no identity policy of the caller allows it")
    return Decision(False, "implicit deny", detail="cross-account request: " + " and ".join(missing))
