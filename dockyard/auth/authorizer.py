"""Authorization for both front doors: load the policies that bear on a request and decide.

The policy language itself (parsing, evaluation) lives in :mod:`dockyard.auth.policy`; this module
only finds the documents (identity policies of the user, the repository policy, the account's
registry policy as REGISTRY_POLICY_SCOPE allows) and caches their parses by text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from dockyard.auth.policy import (
    AuthzRequest,
    ContextValue,
    Decision,
    NamedPolicy,
    PolicyDocument,
    PolicyError,
    PolicySet,
    evaluate,
)
from dockyard.auth.principals import Principal
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

log = logging.getLogger("dockyard.authz")

# Registry policy scope V1 honours only these actions (registry-permissions-account-settings).
V1_REGISTRY_ACTIONS = frozenset(
    {"ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}
)
ROOT_ALLOWED = Decision(
    True, "root user", detail="the root user may do anything to its own account's resources"
)


@lru_cache(maxsize=1024)
def _parse(text: str, kind: str) -> PolicyDocument | None:
    from dockyard.auth.policy import parse_policy

    try:
        return parse_policy(text, "identity" if kind == "identity" else "resource")
    except PolicyError as err:
        log.warning("ignoring a stored %s policy that does not parse: %s", kind, err.message)
        return None


def parse_cached(text: str | None, kind: str) -> PolicyDocument | None:
    """The parse of a stored policy (None for no policy or one that no longer parses)."""
    if not text:
        return None
    return _parse(text, kind)


def deny_reason(decision: Decision, action: str, principal: Principal | None, resource_account: str) -> str:
    """AWS's tail for an AccessDenied message ("because no ... policy allows ...")."""
    if decision.reason == "explicit deny" and decision.statement is not None:
        where = (
            "an identity-based" if decision.statement.policy.startswith("identity:") else "a resource-based"
        )
        return f"with an explicit deny in {where} policy"
    if principal is not None and principal.account_id == resource_account and not principal.is_root:
        return f"because no identity-based policy allows the {action} action"
    return f"because no resource-based policy allows the {action} action"


class Authorizer:
    """Answers "may this principal do this action on this resource?" for one registry."""

    def __init__(self, db: Database, setting_defaults: Mapping[str, str] | None = None) -> None:
        self.db = db
        self.setting_defaults = dict(setting_defaults or {})

    async def identity_policies(self, principal: Principal | None) -> tuple[NamedPolicy, ...]:
        if principal is None or principal.is_root:
            return ()
        p = t.user_policies
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(p.c.name, p.c.document)
                    .where(p.c.user_id == principal.user_id)
                    .order_by(p.c.name)
                )
            ).all()
        found = []
        for row in rows:
            document = parse_cached(row.document, "identity")
            if document is not None:
                found.append(NamedPolicy(f"identity:{row.name}", document))
        return tuple(found)

    async def registry_policy(self, account_id: str, action: str) -> PolicyDocument | None:
        """The account's registry policy, if it applies to ``action`` under REGISTRY_POLICY_SCOPE."""
        a, s = t.accounts, t.account_settings
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(a.c.registry_policy, s.c.value)
                    .select_from(
                        a.outerjoin(s, sa.and_(s.c.account_id == a.c.id, s.c.name == "REGISTRY_POLICY_SCOPE"))
                    )
                    .where(a.c.id == account_id)
                )
            ).first()
        if row is None or not row.registry_policy:
            return None
        scope = row.value or self.setting_defaults.get("REGISTRY_POLICY_SCOPE", "V2")
        if scope == "V1" and action not in V1_REGISTRY_ACTIONS:
            return None
        return parse_cached(row.registry_policy, "resource")

    async def repository_policy(self, account_id: str, name: str) -> str | None:
        r = t.repositories
        async with self.db.read() as conn:
            text = await conn.scalar(
                sa.select(r.c.policy).where(r.c.account_id == account_id, r.c.name == name)
            )
        return None if text is None else str(text)

    async def check(
        self,
        principal: Principal | None,
        action: str,
        resource_arn: str,
        resource_account: str,
        repository_policy: str | None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> Decision:
        """Decide; never raises (an unexpected failure is logged and denies)."""
        if principal is not None and principal.is_root and principal.account_id == resource_account:
            return ROOT_ALLOWED
        try:
            policies = PolicySet(
                identity=await self.identity_policies(principal),
                resource=parse_cached(repository_policy, "resource"),
                registry=await self.registry_policy(resource_account, action),
            )
            request = AuthzRequest(principal, action, resource_arn, resource_account, dict(context or {}))
            decision = evaluate(request, policies)
        except Exception:
            log.exception("authorization of %s on %s failed; denying", action, resource_arn)
            return Decision(False, "implicit deny", detail="authorization failed; see the server log")
        if not decision.allowed:
            who = "anonymous" if principal is None else principal.arn
            log.info("denied %s %s on %s: %s", who, action, resource_arn, decision.explain())
        return decision


def authorizer_for(registry: Any) -> Authorizer:
    """The registry's shared Authorizer, made on first use."""
    found = getattr(registry, "_dockyard_authorizer", None)
    if isinstance(found, Authorizer):
        return found
    made = Authorizer(registry.db, getattr(registry, "account_setting_defaults", None))
    registry._dockyard_authorizer = made
    return made
