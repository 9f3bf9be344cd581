"""IAM-style groups: named sets of users of one account whose policies apply to every member.

The authorizer reads group policies together with a user's own (see
:meth:`dockyard.auth.authorizer.Authorizer.identity_policies`); this module manages the groups.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dockyard.auth.identity import IdentityError
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

_GROUP_RE = re.compile(r"^[\w+=,.@-]{1,128}$")


async def create_group(db: Database, account_id: str, name: str) -> int:
    """Create a group; returns its id."""
    if not _GROUP_RE.match(name):
        raise IdentityError(f"group name {name!r} must be 1-128 characters of letters, digits and +=,.@_-")
    try:
        async with db.write() as conn:
            exists = await conn.scalar(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id))
            if exists is None:
                raise IdentityError(f"account {account_id} does not exist")
            result = await conn.execute(
                t.iam_groups.insert().values(account_id=account_id, name=name, created_at=t.now())
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])
    except IntegrityError:
        raise IdentityError(f"group {name!r} already exists in account {account_id}") from None


async def group_id(db: Database, account_id: str, name: str) -> int:
    """The id of a group of the account (IdentityError if there is none)."""
    g = t.iam_groups
    async with db.read() as conn:
        found = await conn.scalar(sa.select(g.c.id).where(g.c.account_id == account_id, g.c.name == name))
    if found is None:
        raise IdentityError(f"group {name!r} does not exist in account {account_id}")
    return int(found)


async def add_member(db: Database, group: int, user_id: str) -> bool:
    """Add a user to a group; False if it already was a member."""
    m = t.iam_group_members
    async with db.write() as conn:
        exists = await conn.scalar(
            sa.select(m.c.user_id).where(m.c.group_id == group, m.c.user_id == user_id)
        )
        if exists is not None:
            return False
        await conn.execute(m.insert().values(group_id=group, user_id=user_id))
    return True


async def remove_member(db: Database, group: int, user_id: str) -> bool:
    """Remove a user from a group; False if it was not a member."""
    m = t.iam_group_members
    async with db.write() as conn:
        result = await conn.execute(m.delete().where(m.c.group_id == group, m.c.user_id == user_id))
    return bool(result.rowcount)


async def list_groups(db: Database, account_id: str, user_id: str | None = None) -> list[str]:
    """The names of the account's groups (only those ``user_id`` belongs to, if given)."""
    g, m = t.iam_groups, t.iam_group_members
    query = sa.select(g.c.name).where(g.c.account_id == account_id).order_by(g.c.name)
    if user_id is not None:
        query = query.join(m, m.c.group_id == g.c.id).where(m.c.user_id == user_id)
    async with db.read() as conn:
        return [str(row.name) for row in (await conn.execute(query)).all()]
