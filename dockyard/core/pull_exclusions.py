"""Pull-time update exclusions: principals whose pulls do not move lastRecordedPullTime.

ECR keeps one list per registry (account), of at most 100 IAM user or role ARNs
(RegisterPullTimeUpdateExclusion). Pulls consult it through `excluded()`, which caches
each account's set (`EXCLUDED`, for up to `CACHE_SECONDS`), so a pull costs no extra query
in the common case; changes made through this process drop the cache at once, other
processes see them within about a second (the writes bump `EXCLUDED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dockyard.core.errors import DomainError
from dockyard.store.meta import tables as t
from dockyard.store.meta.cache import CacheSpec
from dockyard.store.meta.database import Database

MAX_EXCLUSIONS = 100  # per registry (the list's maximum length in the model)
CACHE_SECONDS = 30.0
# Each account's excluded principal ARNs, by account id.
EXCLUDED: CacheSpec[frozenset[str]] = CacheSpec("pull-time-exclusions", CACHE_SECONDS)


class ExclusionAlreadyExists(DomainError):
    pass


class ExclusionNotFound(DomainError):
    pass


class ExclusionLimitExceeded(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class Exclusion:
    principal_arn: str
    created_at: datetime


class PullExclusionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def excluded(self, account_id: str) -> frozenset[str]:
        """The account's excluded principal ARNs (cached: :data:`EXCLUDED`)."""
        return await self.db.caches.get(EXCLUDED, account_id, lambda: self._excluded(account_id))

    async def _excluded(self, account_id: str) -> frozenset[str]:
        pt = t.pull_time_exclusions
        async with self.db.read() as conn:
            return frozenset(
                (await conn.execute(sa.select(pt.c.principal_arn).where(pt.c.account_id == account_id)))
                .scalars()
                .all()
            )

    async def page(self, account_id: str, after: str | None, limit: int) -> tuple[list[Exclusion], bool]:
        """One page of the account's exclusions by ARN; True when more follow."""
        pt = t.pull_time_exclusions
        query = sa.select(pt.c.principal_arn, pt.c.created_at).where(pt.c.account_id == account_id)
        if after is not None:
            query = query.where(pt.c.principal_arn > after)
        query = query.order_by(pt.c.principal_arn).limit(limit + 1)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [Exclusion(r.principal_arn, r.created_at) for r in rows[:limit]], len(rows) > limit

    async def register(self, account_id: str, principal_arn: str) -> Exclusion:
        pt = t.pull_time_exclusions
        created = t.now()
        async with self.db.write() as conn:
            existing = await conn.scalar(
                sa.select(pt.c.created_at).where(
                    pt.c.account_id == account_id, pt.c.principal_arn == principal_arn
                )
            )
            if existing is not None:
                raise ExclusionAlreadyExists(
                    f"The principal '{principal_arn}' is already excluded from pull time updates in "
                    f"the registry with id '{account_id}'"
                )
            count = await conn.scalar(
                sa.select(sa.func.count()).select_from(pt).where(pt.c.account_id == account_id)
            )
            if int(count or 0) >= MAX_EXCLUSIONS:
                raise ExclusionLimitExceeded(
                    f"The registry with id '{account_id}' already has the maximum of {MAX_EXCLUSIONS} "
                    "pull time update exclusions"
                )
            await conn.execute(self.db.insert_ignore(t.accounts).values(id=account_id, created_at=created))
            await conn.execute(
                pt.insert().values(account_id=account_id, principal_arn=principal_arn, created_at=created)
            )
            await self.db.caches.bump(conn, EXCLUDED)
        self.db.caches.invalidate(EXCLUDED, account_id)
        return Exclusion(principal_arn, created)

    async def deregister(self, account_id: str, principal_arn: str) -> None:
        pt = t.pull_time_exclusions
        async with self.db.write() as conn:
            result = await conn.execute(
                pt.delete().where(pt.c.account_id == account_id, pt.c.principal_arn == principal_arn)
            )
            if result.rowcount == 0:
                raise ExclusionNotFound(
                    f"The principal '{principal_arn}' is not excluded from pull time updates in "
                    f"the registry with id '{account_id}'"
                )
            await self.db.caches.bump(conn, EXCLUDED)
        self.db.caches.invalidate(EXCLUDED, account_id)
