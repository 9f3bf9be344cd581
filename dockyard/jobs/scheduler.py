"""Enqueues periodic jobs. Every node runs it; a lease lets one of them act at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dockyard.jobs.queue import JobQueue, Leases
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

log = logging.getLogger("dockyard.jobs")
LEASE = "scheduler"


@dataclass(frozen=True)
class Periodic:
    kind: str
    every_seconds: float
    payload: dict[str, Any] = field(default_factory=dict)


class Scheduler:
    def __init__(
        self, db: Database, queue: JobQueue, leases: Leases, tasks: list[Periodic], tick: float = 30.0
    ):
        self.db = db
        self.queue = queue
        self.leases = leases
        self.tasks = tasks
        self.tick = tick
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.tasks:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                if await self.leases.acquire(LEASE, self.tick * 3):
                    await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.tick)

    async def run_due(self) -> list[str]:
        """Enqueue every periodic task whose interval has passed; returns their kinds."""
        now = time.time()
        enqueued = []
        for task in self.tasks:
            name = f"last:{task.kind}"
            async with self.db.read() as conn:
                last = await conn.scalar(
                    sa.select(t.settings.c.value).where(
                        t.settings.c.scope == "schedule", t.settings.c.name == name
                    )
                )
            if last is not None and now - float(last) < task.every_seconds:
                continue
            await self.queue.enqueue(task.kind, task.payload, unique_key=f"periodic:{task.kind}")
            async with self.db.write() as conn:
                updated = await conn.execute(
                    t.settings.update()
                    .where(t.settings.c.scope == "schedule", t.settings.c.name == name)
                    .values(value=str(now))
                )
                if not updated.rowcount:
                    await conn.execute(
                        self.db.insert_ignore(t.settings).values(scope="schedule", name=name, value=str(now))
                    )
            enqueued.append(task.kind)
        return enqueued
