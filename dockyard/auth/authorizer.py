"""Authorization for both front doors: load the policies that bear on a request and decide.

The policy language itself (parsing, evaluation) lives in :mod:`dockyard.auth.policy`; this module
only finds the documents (identity policies of the user and of its IAM groups, the repository
policy, the account's registry policy as REGISTRY_POLICY_SCOPE allows) and caches their parses by text.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
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
from dockyard.auth.policy_store import REPOSITORY_POLICIES, PolicyStore
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


@lru_cache(maxsize=1024)
def _deny_only(text: str) -> PolicyDocument | None:
    document = _parse(text, "resource")
    if document is None:
        return None
    denies = tuple(s for s in document.statements if s.effect == "Deny")
    return dataclasses.replace(document, statements=denies) if denies else None


def deny_statements(text: str | None) -> PolicyDocument | None:
    """Only the ``Deny`` statements of a stored resource policy (None when it has none): all that
    can bear on the root user in its own account."""
    if not text:
        return None
    return _deny_only(text)


def mentions_resource_tags(documents: Iterable[PolicyDocument | None]) -> bool:
    """Whether a condition of any document reads ``ecr:ResourceTag/*`` or ``aws:ResourceTag/*``."""
    for document in documents:
        if document is None:
            continue
        for stmt in document.statements:
            for clause in stmt.conditions:
                if ":resourcetag/" in clause.key.lower():
                    return True
    return False


def _with_resource_tags(
    context: Mapping[str, ContextValue], tags: Mapping[str, str]
) -> dict[str, ContextValue]:
    found = dict(context)
    for key, value in tags.items():
        found[f"ecr:ResourceTag/{key}"] = value
        found[f"aws:ResourceTag/{key}"] = value
    return found




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
        # The user's own policies and those of its groups, in one query (never cached: a change
        # takes effect on the next request).
        p, g, m, gp = t.user_policies, t.iam_groups, t.iam_group_members, t.iam_group_policies
        own = sa.select(sa.literal("").label("grp"), p.c.name, p.c.document).where(
            p.c.user_id == principal.user_id
        )
        grouped = (
            sa.select(g.c.name.label("grp"), gp.c.name, gp.c.document)
            .select_from(m.join(g, g.c.id == m.c.group_id).join(gp, gp.c.group_id == g.c.id))
            .where(m.c.user_id == principal.user_id, g.c.account_id == principal.account_id)
        )
        query = sa.union_all(own, grouped).subquery()
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(query).order_by(query.c.grp, query.c.name))).all()
        found = []
        for row in rows:
            document = parse_cached(row.document, "identity")
            if document is not None:
                label = f"identity:group/{row.grp}/{row.name}" if row.grp else f"identity:{row.name}"
                found.append(NamedPolicy(label, document))
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
        return await PolicyStore(self.db).repository_policy(account_id, name)

    async def cached_repository_policy(self, account_id: str, name: str) -> str | None:
        """:meth:`repository_policy`, answered from this process's copy (:data:`REPOSITORY_POLICIES`;
        used for the root user, whose requests otherwise need no query)."""
        return await self.db.caches.get(
            REPOSITORY_POLICIES, (account_id, name), lambda: self.repository_policy(account_id, name)
        )

    def forget_repository_policy(self, account_id: str, name: str) -> None:
        """Drop this process's copy after a change made here (the writer also bumps
        :data:`REPOSITORY_POLICIES` so that other processes drop theirs)."""
        self.db.caches.invalidate(REPOSITORY_POLICIES, (account_id, name))

    async def repository_policies(self, account_id: str, names: list[str]) -> dict[str, str | None]:
        """The policy texts of several repositories, in one query."""
        if not names:
            return {}
        r = t.repositories
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(r.c.name, r.c.policy).where(r.c.account_id == account_id, r.c.name.in_(names))
                )
            ).all()
        return {row.name: (None if row.policy is None else str(row.policy)) for row in rows}

    async def resource_tags(self, account_id: str, names: list[str]) -> dict[str, dict[str, str]]:
        """The resource tags of several repositories, in one query."""
        if not names:
            return {}
        r, rt = t.repositories, t.repository_tags
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(r.c.name, rt.c.key, rt.c.value)
                    .select_from(rt.join(r, r.c.id == rt.c.repository_id))
                    .where(r.c.account_id == account_id, r.c.name.in_(names))
                )
            ).all()
        found: dict[str, dict[str, str]] = {}
        for row in rows:
            found.setdefault(row.name, {})[row.key] = row.value
        return found

    async def visible(
        self,
        principal: Principal | None,
        action: str,
        account_id: str,
        names: list[str],
        arn_for: Callable[[str], str],
        context: Mapping[str, ContextValue] | None = None,
    ) -> set[str]:
        """Which of ``names`` the principal may ``action``: one query for their policies, one for
        the caller's identity policies and the registry policy, one for tags if a condition needs them."""
        if not names:
            return set()
        texts = await self.repository_policies(account_id, names)
        root = principal is not None and principal.is_root and principal.account_id == account_id
        if root and not any(texts.values()):
            return set(names)
        try:
            identity = await self.identity_policies(principal)
            registry = None if root else await self.registry_policy(account_id, action)
            documents = {
                n: deny_statements(texts.get(n)) if root else parse_cached(texts.get(n), "resource")
                for n in names
            }
            tags: dict[str, dict[str, str]] = {}
            if mentions_resource_tags([*(p.document for p in identity), registry, *documents.values()]):
                tags = await self.resource_tags(account_id, names)
            allowed = set()
            for name in names:
                if root and documents[name] is None:
                    allowed.add(name)
                    continue
                policies = PolicySet(identity=identity, resource=documents[name], registry=registry)
                ctx = _with_resource_tags(context or {}, tags.get(name, {}))
                request = AuthzRequest(principal, action, arn_for(name), account_id, ctx)
                if evaluate(request, policies).allowed:
                    allowed.add(name)
            return allowed
        except Exception:
            log.exception("authorization of %s on repositories of %s failed; denying", action, account_id)
            return set()

    async def check(
        self,
        principal: Principal | None,
        action: str,
        resource_arn: str,
        resource_account: str,
        repository_policy: str | None,
        context: Mapping[str, ContextValue] | None = None,
        repository: str | None = None,
    ) -> Decision:
        """Decide; never raises (an unexpected failure is logged and denies).

        The root user in its own account is allowed unless a ``Deny`` of the repository policy
        applies; only that policy's Deny statements are evaluated for it (no other query).
        ``repository`` names the repository whose tags ``*:ResourceTag/*`` conditions read."""
        root = principal is not None and principal.is_root and principal.account_id == resource_account
        if root and deny_statements(repository_policy) is None:
            return ROOT_ALLOWED
        try:
            if root:
                policies = PolicySet(resource=deny_statements(repository_policy))
            else:
                policies = PolicySet(
                    identity=await self.identity_policies(principal),
                    resource=parse_cached(repository_policy, "resource"),
                    registry=await self.registry_policy(resource_account, action),
                )
            values = dict(context or {})
            if repository and mentions_resource_tags(
                [*(p.document for p in policies.identity), policies.resource, policies.registry]
            ):
                tags = await self.resource_tags(resource_account, [repository])
                values = _with_resource_tags(values, tags.get(repository, {}))
            request = AuthzRequest(principal, action, resource_arn, resource_account, values)
            decision = evaluate(request, policies)
        except Exception:
            log.exception("authorization of %s on %s failed; denying", action, resource_arn)
            return Decision(False, "implicit deny", detail="authorization failed; see the server log")
        if not decision.allowed:
            who = "anonymous" if principal is None else principal.arn
            log.info("denied %s %s on %s: %s", who, action, resource_arn, decision.explain())
        return decision


def authorizer_for(registry: Any) -> Authorizer:
    """An Authorizer for the registry (cheap: what it caches lives in ``registry.db.caches``)."""
    return Authorizer(registry.db, getattr(registry, "account_setting_defaults", None))
