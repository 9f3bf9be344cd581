"""Runs queued jobs on this node: claim, run with a renewed lease, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.jobs.queue import QUEUED, Job, JobQueue
from dockyard.observability import JOBS

log = logging.getLogger("dockyard.jobs")

JobHandler = Callable[[dict[str, Any]], Awaitable[Any]]


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: dict[str, JobHandler],
        *,
        concurrency: int = 2,
        lease_seconds: float = 60.0,
        poll_seconds: float = 2.0,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def wake(self) -> None:
        """Look for work now (after a local enqueue) instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self.handlers:
            self._tasks = [asyncio.create_task(self._loop(i)) for i in range(self.concurrency)]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def run_once(self) -> bool:
        """Claim and run one job; False when there was none."""
        job = await self.queue.claim(list(self.handlers), self.lease_seconds)
        if job is None:
            return False
        await self._run(job)
        return True

    async def _loop(self, index: int) -> None:
        while not self._stopping:
            try:
                if await self.run_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job worker %d: claim failed", index)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds * random.uniform(0.5, 1.5))

    async def _run(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        renewer = asyncio.create_task(self._renew(job.id))
        try:
            result = await handler(job.payload)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            status = await self.queue.fail(job, f"{type(e).__name__}: {e}")
            JOBS.labels(job.kind, "retry" if status == QUEUED else status).inc()
            log.warning("job %d (%s) attempt %d failed (%s): %s", job.id, job.kind, job.attempts, status, e)
        else:
            await self.queue.complete(job.id, result)
            JOBS.labels(job.kind, "done").inc()
            log.info("job %d (%s) done", job.id, job.kind)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not await self.queue.renew(job_id, self.lease_seconds):
                log.warning("job %d: lease lost to another node", job_id)
                return
