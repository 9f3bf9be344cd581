"""Lifecycle policies and their previews as stored: a repository's policy on its row, its one
preview in ``lifecycle_previews`` (evaluated by the ``lifecycle-preview`` job, `runs`).

A preview's reported status is derived when it is read (`preview_status`): one whose job was
lost reads FAILED, and completed results expire after a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dockyard.core.errors import DomainError
from dockyard.core.repositories import Repository, RepositoryService
from dockyard.features.lifecycle.runs import COMPLETE, FAILED, IN_PROGRESS
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

EXPIRED = "EXPIRED"
# An IN_PROGRESS preview this old is taken as lost (its job failed for good), not as running:
# it reads FAILED, so the LifecyclePolicyPreviewComplete waiter stops instead of timing out.
STALE_PREVIEW = timedelta(hours=1)
# Results are kept this long after a preview completes; then it reads EXPIRED, without them
# (the model's fourth LifecyclePolicyPreviewStatus), until a new preview is started.
PREVIEW_RESULTS_TTL = timedelta(hours=24)


class LifecyclePolicyNotFound(DomainError):
    """The repository has no lifecycle policy."""


class PreviewInProgress(DomainError):
    """A preview of the repository is still running."""


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    text: str | None
    evaluated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Preview:
    status: str  # as stored
    reported_status: str  # as read (`preview_status`)
    policy_text: str
    results: list[dict[str, Any]] | None
    summary: dict[str, Any] | None
    started_at: datetime
    finished_at: datetime | None


def preview_status(row: Any, now: datetime) -> str:
    """The status GetLifecyclePolicyPreview reports for a preview (``status``, ``started_at``,
    ``finished_at``) at ``now``."""
    if row.status == IN_PROGRESS and row.started_at <= now - STALE_PREVIEW:
        return FAILED
    finished = row.finished_at or row.started_at
    if row.status == COMPLETE and finished <= now - PREVIEW_RESULTS_TTL:
        return EXPIRED
    return str(row.status)


class LifecyclePolicies:
    def __init__(self, db: Database, repositories: RepositoryService) -> None:
        self.db = db
        self.repositories = repositories

    async def put(self, account_id: str, name: str, text: str) -> Repository:
        """Store the repository's policy (already validated)."""
        async with self.db.write() as conn:
            repo = await self.repositories.get(account_id, name, conn)
            await conn.execute(
                t.repositories.update().where(t.repositories.c.id == repo.id).values(lifecycle_policy=text)
            )
        return repo

    async def get(self, account_id: str, name: str) -> tuple[Repository, StoredPolicy]:
        """The repository and its policy (``text`` None: none set)."""
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, name, conn)
            r = t.repositories
            row = (
                await conn.execute(
                    sa.select(r.c.lifecycle_policy, r.c.lifecycle_evaluated_at).where(r.c.id == repo.id)
                )
            ).one()
        return repo, StoredPolicy(row.lifecycle_policy, row.lifecycle_evaluated_at)

    async def delete(self, account_id: str, name: str) -> tuple[Repository, StoredPolicy]:
        """Remove the repository's policy; returns the one removed. LifecyclePolicyNotFound when
        there was none."""
        r = t.repositories
        async with self.db.write() as conn:
            repo = await self.repositories.get(account_id, name, conn)
            row = (
                await conn.execute(
                    sa.select(r.c.lifecycle_policy, r.c.lifecycle_evaluated_at).where(r.c.id == repo.id)
                )
            ).one()
            if not row.lifecycle_policy:
                raise LifecyclePolicyNotFound(f"no lifecycle policy for repository '{repo.name}'")
            await conn.execute(
                r.update().where(r.c.id == repo.id).values(lifecycle_policy=None, lifecycle_evaluated_at=None)
            )
        return repo, StoredPolicy(row.lifecycle_policy, row.lifecycle_evaluated_at)

    async def start_preview(
        self, account_id: str, name: str, text: str | None
    ) -> tuple[Repository, str, datetime]:
        """Replace the repository's preview with an IN_PROGRESS one of ``text`` (None: the stored
        policy); returns the repository, the policy text previewed and the preview's start.
        LifecyclePolicyNotFound when no text is given and none is stored, PreviewInProgress
        while the previous one runs (and is not stale)."""
        lp, r = t.lifecycle_previews, t.repositories
        now = t.now()
        async with self.db.write() as conn:
            repo = await self.repositories.get(account_id, name, conn)
            if text is None:
                text = await conn.scalar(sa.select(r.c.lifecycle_policy).where(r.c.id == repo.id))
                if not text:
                    raise LifecyclePolicyNotFound(f"no lifecycle policy for repository '{repo.name}'")
            current = (
                await conn.execute(
                    sa.select(lp.c.status, lp.c.started_at).where(lp.c.repository_id == repo.id)
                )
            ).first()
            if current is not None:
                if current.status == IN_PROGRESS and current.started_at > now - STALE_PREVIEW:
                    raise PreviewInProgress(f"a lifecycle policy preview of '{repo.name}' is running")
                await conn.execute(lp.delete().where(lp.c.repository_id == repo.id))
            await conn.execute(
                lp.insert().values(
                    repository_id=repo.id,
                    status=IN_PROGRESS,
                    policy_text=text,
                    results=None,
                    summary=None,
                    started_at=now,
                    finished_at=None,
                )
            )
        return repo, str(text), now

    async def preview(self, account_id: str, name: str) -> tuple[Repository, Preview | None]:
        """The repository and its preview (None: never started)."""
        lp = t.lifecycle_previews
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, name, conn)
            row = (await conn.execute(sa.select(lp).where(lp.c.repository_id == repo.id))).first()
        if row is None:
            return repo, None
        return repo, Preview(
            row.status,
            preview_status(row, t.now()),
            row.policy_text,
            row.results,
            row.summary,
            row.started_at,
            row.finished_at,
        )
