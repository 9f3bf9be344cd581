"""Checks a repository or registry policy must pass when it is saved, beyond its syntax.

:func:`~dockyard.auth.policy.parse_policy` knows only the document; these checks need the
registry's state: which accounts and users exist (AWS refuses a policy naming a principal it
cannot find, and here every account and user is local, so we can tell), and the account's
REGISTRY_POLICY_SCOPE (under V1 a registry policy may only grant V1's actions).
"""

from __future__ import annotations

import sqlalchemy as sa

from dockyard.auth.authorizer import V1_REGISTRY_ACTIONS
from dockyard.auth.policy import PolicyDocument
from dockyard.auth.policy.patterns import glob_match
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

PRINCIPAL_NOT_FOUND = "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"
"""ECR's text for a policy naming an unknown principal (as captured in terraform-provider-aws
issue 39064 for SetRepositoryPolicy); ECR never says which principal."""


def _named_principals(document: PolicyDocument) -> set[str]:
    """The AWS principals of every Principal and NotPrincipal (account IDs already as root ARNs)."""
    found: set[str] = set()
    for stmt in document.statements:
        for spec in (stmt.principal, stmt.not_principal):
            if spec is not None:
                found.update(spec.aws)
    return found


def _classify(principal: str) -> tuple[str, str, str]:
    """(kind, account or unique ID, user name): kind is account, user, id or other."""
    parts = principal.split(":", 5)
    if len(parts) != 6:
        return "id", principal, ""
    if parts[2] == "iam" and parts[5] == "root":
        return "account", parts[4], ""
    if parts[2] == "iam" and parts[5].startswith("user/"):
        return "user", parts[4], parts[5].rsplit("/", 1)[-1]
    return "other", "", ""


async def unknown_principals(db: Database, document: PolicyDocument, own_account: str) -> list[str]:
    """The AWS principals ``document`` names that do not exist here, sorted.

    An account exists when it has a row (``own_account``, the policy's own, always does: a
    development-mode registry may not have written its row yet); a user when its account has a
    user of that name, whatever IAM path the ARN gives; a unique ID (``AIDA...``) when it is a
    user's ID. Dockyard has no roles, assumed-role sessions or federated users, so ARNs of those
    never exist. ``"*"`` and service principals are not checked.
    """
    named = {p: _classify(p) for p in _named_principals(document)}
    accounts = {key for kind, key, _ in named.values() if kind in ("account", "user")}
    ids = {key for kind, key, _ in named.values() if kind == "id"}
    found_accounts = {own_account}
    found_users: set[tuple[str, str]] = set()
    found_ids: set[str] = set()
    u = t.users
    async with db.read() as conn:
        if accounts:
            rows = await conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id.in_(accounts)))
            found_accounts.update(r.id for r in rows)
            names = {name for kind, _, name in named.values() if kind == "user"}
            if names:
                rows = await conn.execute(
                    sa.select(u.c.account_id, u.c.name).where(
                        u.c.account_id.in_(accounts), u.c.name.in_(names)
                    )
                )
                found_users.update((r.account_id, r.name) for r in rows)
        if ids:
            found_ids.update(r.id for r in await conn.execute(sa.select(u.c.id).where(u.c.id.in_(ids))))
    known = {
        "account": lambda key, _: key in found_accounts,
        "user": lambda key, name: (key, name) in found_users,
        "id": lambda key, _: key in found_ids,
    }
    return sorted(
        p for p, (kind, key, name) in named.items() if kind not in known or not known[kind](key, name)
    )


def outside_v1_scope(document: PolicyDocument) -> bool:
    """Whether a statement grants or denies something other than V1's registry actions.

    Under REGISTRY_POLICY_SCOPE=V1 ECR honours only ``ecr:ReplicateImage``,
    ``ecr:BatchImportUpstreamImage`` and ``ecr:CreateRepository`` and refuses a registry policy
    that names other actions ("If any additional actions are added to the registry policy, an
    error will occur"). A pattern is fine when it covers some V1 action (``ecr:*`` does: AWS
    accepts it, advising against it); ``NotAction`` likewise when it leaves one out.
    """
    for stmt in document.statements:
        if stmt.actions is not None:
            for pattern in stmt.actions:
                if not any(glob_match(pattern, action, ignore_case=True) for action in V1_REGISTRY_ACTIONS):
                    return True
        elif stmt.not_actions is not None:
            excluded = {
                action
                for action in V1_REGISTRY_ACTIONS
                if any(glob_match(p, action, ignore_case=True) for p in stmt.not_actions)
            }
            if excluded == set(V1_REGISTRY_ACTIONS):
                return True
    return False
