"""Where resource policies are kept: a repository's policy on its row, the registry policy on
the account's. The authorizer reads them for decisions; the doors set and show them here."""

from __future__ import annotations

import sqlalchemy as sa

from dockyard.store.meta import tables as t
from dockyard.store.meta.cache import CacheSpec
from dockyard.store.meta.database import Database

# How long a node may answer from its copy of a repository policy (the root user's Deny check)
# when a change made elsewhere did not announce itself (writers bump REPOSITORY_POLICIES, which
# other processes notice within about a second).
POLICY_CACHE_SECONDS = 5.0
# Repository policy texts by (account, repository name); writers of ``repositories.policy``
# bump it in their transaction (or call ``db.caches.changed``).
REPOSITORY_POLICIES: CacheSpec[str | None] = CacheSpec("repository-policies", POLICY_CACHE_SECONDS)


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def repository_policy(self, account_id: str, name: str) -> str | None:
        """The repository's policy text (None: no policy, or no such repository)."""
        r = t.repositories
        async with self.db.read() as conn:
            text = await conn.scalar(
                sa.select(r.c.policy).where(r.c.account_id == account_id, r.c.name == name)
            )
        return None if text is None else str(text)

    async def set_repository_policy(self, account_id: str, name: str, text: str | None) -> None:
        """Store (or with None, remove) the repository's policy."""
        r = t.repositories
        async with self.db.write() as conn:
            await conn.execute(
                r.update().where(r.c.account_id == account_id, r.c.name == name).values(policy=text)
            )
            await self.db.caches.bump(conn, REPOSITORY_POLICIES)  # other nodes drop their copy

    async def registry_policy(self, account_id: str) -> str | None:
        """The account's registry policy text (None: none set)."""
        a = t.accounts
        async with self.db.read() as conn:
            text = await conn.scalar(sa.select(a.c.registry_policy).where(a.c.id == account_id))
        return None if text is None else str(text)

    async def set_registry_policy(self, account_id: str, text: str | None) -> None:
        """Store (or with None, remove) the account's registry policy."""
        a = t.accounts
        async with self.db.write() as conn:
            await conn.execute(a.update().where(a.c.id == account_id).values(registry_policy=text))
