"""Server-wide values every node must agree on (signing keys), kept in the database."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from dockyard.store.meta import tables as t
from dockyard.store.meta.cache import CacheSpec
from dockyard.store.meta.database import Database

# Values by (scope, name). They never change once created, so a process keeps what it read.
SERVER_SETTINGS: CacheSpec[str] = CacheSpec("server-settings", None)


async def get_or_create(db: Database, scope: str, name: str, make: Callable[[], str]) -> str:
    """The stored value; the first node to ask creates it, later ones read the same."""
    query = sa.select(t.settings.c.value).where(t.settings.c.scope == scope, t.settings.c.name == name)
    async with db.read() as conn:
        value = await conn.scalar(query)
    if value is not None:
        return str(value)
    async with db.write() as conn:
        await conn.execute(db.insert_ignore(t.settings).values(scope=scope, name=name, value=make()))
        return str(await conn.scalar(query))


async def cached(db: Database, scope: str, name: str, make: Callable[[], str]) -> str:
    """:func:`get_or_create`, read once per process."""
    return await db.caches.get(SERVER_SETTINGS, (scope, name), lambda: get_or_create(db, scope, name, make))
