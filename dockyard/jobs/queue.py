"""The job queue: rows in the metadata database, claimed with leases.

Any node may run any job. A claim takes a lease (`lease_until`); a worker that
dies stops renewing it, and once it lapses another node claims the job again,
so a job runs at least once and handlers must be idempotent. On PostgreSQL the
claim is `SELECT ... FOR UPDATE SKIP LOCKED`; on SQLite, `BEGIN IMMEDIATE`
already serializes writers, so the same query needs no row locks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    status: str = RUNNING
    result: Any = None
    last_error: str | None = None


def backoff(attempts: int, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds before retry `attempts`: exponential with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** max(attempts - 1, 0)))


class JobQueue:
    def __init__(self, db: Database, node_id: str) -> None:
        self.db = db
        self.node_id = node_id

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        unique_key: str | None = None,
        delay: float = 0.0,
        max_attempts: int = 5,
    ) -> int | None:
        """Add a job; with `unique_key`, None if an equal job is already queued or running."""
        now = t.now()
        values = {
            "kind": kind,
            "payload": payload,
            "status": QUEUED,
            "unique_key": unique_key,
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": now + timedelta(seconds=delay),
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self.db.write() as conn:
                result = await conn.execute(t.jobs.insert().values(**values).returning(t.jobs.c.id))
                return int(result.scalar_one())
        except IntegrityError:
            if unique_key is None:
                raise
            return None

    async def claim(self, kinds: list[str], lease_seconds: float) -> Job | None:
        now = t.now()
        j = t.jobs
        query = (
            sa.select(j.c.id, j.c.kind, j.c.payload, j.c.attempts, j.c.max_attempts)
            .where(
                j.c.kind.in_(kinds),
                sa.or_(
                    sa.and_(j.c.status == QUEUED, j.c.run_after <= now),
                    sa.and_(j.c.status == RUNNING, j.c.lease_until < now),  # its worker died
                ),
            )
            .order_by(j.c.run_after, j.c.id)
            .limit(1)
        )
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        async with self.db.write() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            attempts = row.attempts + 1
            await conn.execute(
                j.update()
                .where(j.c.id == row.id)
                .values(
                    status=RUNNING,
                    attempts=attempts,
                    locked_by=self.node_id,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
            )
        return Job(row.id, row.kind, row.payload, attempts, row.max_attempts)

    async def renew(self, job_id: int, lease_seconds: float) -> bool:
        """Extend our lease; False if the job is no longer ours (the lease lapsed and was taken)."""
        now = t.now()
        async with self.db.write() as conn:
            result = await conn.execute(
                t.jobs.update()
                .where(t.jobs.c.id == job_id, t.jobs.c.locked_by == self.node_id, t.jobs.c.status == RUNNING)
                .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
        return bool(result.rowcount)

    async def complete(self, job_id: int, result: Any = None) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                t.jobs.update()
                .where(t.jobs.c.id == job_id, t.jobs.c.locked_by == self.node_id)
                .values(status=DONE, result=result, lease_until=None, updated_at=t.now())
            )

    async def fail(self, job: Job, error: str) -> str:
        """Record a failure: retried later with backoff, or failed for good after max attempts."""
        final = job.attempts >= job.max_attempts
        now = t.now()
        values: dict[str, Any] = {"last_error": error[:4000], "lease_until": None, "updated_at": now}
        if final:
            values["status"] = FAILED
        else:
            values.update(status=QUEUED, run_after=now + timedelta(seconds=backoff(job.attempts)))
        async with self.db.write() as conn:
            await conn.execute(
                t.jobs.update()
                .where(t.jobs.c.id == job.id, t.jobs.c.locked_by == self.node_id)
                .values(**values)
            )
        return FAILED if final else QUEUED

    async def get(self, job_id: int) -> Job | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id))).first()
        if row is None:
            return None
        return Job(
            row.id,
            row.kind,
            row.payload,
            row.attempts,
            row.max_attempts,
            row.status,
            row.result,
            row.last_error,
        )

    async def list(self, status: str | None = None, limit: int = 100) -> list[Job]:
        query = sa.select(t.jobs).order_by(t.jobs.c.id.desc()).limit(limit)
        if status:
            query = query.where(t.jobs.c.status == status)
        async with self.db.read() as conn:
            rows = await conn.execute(query)
            return [
                Job(r.id, r.kind, r.payload, r.attempts, r.max_attempts, r.status, r.result, r.last_error)
                for r in rows
            ]


class Leases:
    """Named, expiring locks: at most one holder runs a singleton task at a time."""

    def __init__(self, db: Database, holder: str) -> None:
        self.db = db
        self.holder = holder

    async def acquire(self, name: str, ttl_seconds: float) -> bool:
        now = t.now()
        until = now + timedelta(seconds=ttl_seconds)
        lz = t.leases
        async with self.db.write() as conn:
            taken = await conn.execute(
                lz.update()
                .where(lz.c.name == name, sa.or_(lz.c.holder == self.holder, lz.c.expires_at < now))
                .values(holder=self.holder, expires_at=until)
            )
            if taken.rowcount:
                return True
            inserted = await conn.execute(
                self.db.insert_ignore(lz).values(name=name, holder=self.holder, expires_at=until)
            )
            return bool(inserted.rowcount)

    async def release(self, name: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                t.leases.delete().where(t.leases.c.name == name, t.leases.c.holder == self.holder)
            )

    async def holder_of(self, name: str) -> tuple[str, datetime] | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(t.leases).where(t.leases.c.name == name))).first()
        return None if row is None else (row.holder, row.expires_at)
