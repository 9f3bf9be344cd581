"""Identity policies attached to a user or an IAM group, by name (one document per name).

The authorizer reads them (see :meth:`dockyard.auth.authorizer.Authorizer.identity_policies`);
this module attaches, detaches and lists them. Documents are checked by the caller
(:func:`dockyard.auth.policy.parse_policy`) before they are attached.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database


@dataclass(frozen=True, slots=True)
class PolicyHolder:
    """Whose policies: a user (by its user id) or a group (by its id); exactly one is set."""

    user_id: str | None = None
    group_id: int | None = None

    @classmethod
    def user(cls, user_id: str) -> PolicyHolder:
        return cls(user_id=user_id)

    @classmethod
    def group(cls, group_id: int) -> PolicyHolder:
        return cls(group_id=group_id)


def _policies_of(holder: PolicyHolder) -> tuple[sa.Table, sa.Column[object], str | int]:
    """The holder's policy table, its owner column and the holder's id in it."""
    if holder.group_id is not None:
        return t.iam_group_policies, t.iam_group_policies.c.group_id, holder.group_id
    assert holder.user_id is not None
    return t.user_policies, t.user_policies.c.user_id, holder.user_id


async def attach_policy(db: Database, holder: PolicyHolder, name: str, document: str) -> None:
    """Attach a policy named ``name``, replacing one of that name."""
    table, owner, owner_id = _policies_of(holder)
    async with db.write() as conn:
        await conn.execute(table.delete().where(owner == owner_id, table.c.name == name))
        await conn.execute(table.insert().values({owner.name: owner_id, "name": name, "document": document}))


async def detach_policy(db: Database, holder: PolicyHolder, name: str) -> bool:
    """Detach the policy named ``name``; False if there was none."""
    table, owner, owner_id = _policies_of(holder)
    async with db.write() as conn:
        result = await conn.execute(table.delete().where(owner == owner_id, table.c.name == name))
    return bool(result.rowcount)


async def policy_names(db: Database, holder: PolicyHolder) -> list[str]:
    """The names of the policies attached to the holder itself (not those of a user's groups)."""
    table, owner, owner_id = _policies_of(holder)
    async with db.read() as conn:
        rows = await conn.execute(sa.select(table.c.name).where(owner == owner_id).order_by(table.c.name))
        return [str(row.name) for row in rows]
