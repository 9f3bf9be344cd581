"""Pull-time update exclusions and image archival in the domain core, without a server (a
real SQLite database in a temporary directory)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from registry_testlib import OCI_INDEX, OCI_MANIFEST, MetadataEnv, run_metadata, sha256

from dockyard.core import pull_exclusions
from dockyard.core.errors import ManifestUnknown
from dockyard.core.images import (
    ACTIVE,
    ANY,
    ARCHIVED,
    IMAGE_INACCESSIBLE,
    ImageId,
    ImageLookupFailed,
    StorageClassUnchanged,
)
from dockyard.core.pull_exclusions import (
    ExclusionAlreadyExists,
    ExclusionLimitExceeded,
    ExclusionNotFound,
    PullExclusionService,
)
from dockyard.core.repositories import Repository
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

T = TypeVar("T")

ACCOUNT = "123456789012"
OTHER = "210987654321"
SCANNER = f"arn:aws:iam::{ACCOUNT}:role/scanner"
DEVELOPER = f"arn:aws:iam::{ACCOUNT}:user/dev"
sha = sha256


class Env(MetadataEnv):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.exclusions = PullExclusionService(db)

    async def push(self, repo: Repository, body: bytes, tag: str | None = None) -> int:
        await self.manifests.put(repo, tag or sha(body), body, None)
        async with self.db.read() as conn:
            return int(
                await conn.scalar(
                    sa.select(t.manifests.c.id).where(
                        t.manifests.c.repository_id == repo.id, t.manifests.c.digest == sha(body)
                    )
                )
            )

    async def pulled_at(self, manifest_id: int) -> Any:
        async with self.db.read() as conn:
            return await conn.scalar(
                sa.select(t.manifests.c.last_pulled_at).where(t.manifests.c.id == manifest_id)
            )


def run(make: Callable[[Env], Awaitable[T]], tmp_path: Path) -> T:
    return run_metadata(Env, make, tmp_path)


# ---------------------------------------------------------------------------- exclusions
def test_record_pull_skips_excluded_principal(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repos.create(ACCOUNT, "app")
        other_repo = await env.repos.create(OTHER, "app")
        mine = await env.push(repo, await env.image(repo))
        theirs = await env.push(other_repo, await env.image(other_repo))
        await env.exclusions.register(ACCOUNT, SCANNER)

        await env.images.record_pull([mine], SCANNER)
        assert await env.pulled_at(mine) is None
        # The exclusion belongs to ACCOUNT's registry: the same principal counts elsewhere.
        await env.images.record_pull([mine, theirs], SCANNER)
        assert await env.pulled_at(mine) is None
        assert await env.pulled_at(theirs) is not None

        await env.images.record_pull([mine], DEVELOPER)
        assert await env.pulled_at(mine) is not None

    run(go, tmp_path)


def test_record_pull_without_principal_and_after_deregister(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repos.create(ACCOUNT, "app")
        first = await env.push(repo, await env.image(repo))
        second = await env.push(repo, await env.image(repo))
        await env.exclusions.register(ACCOUNT, SCANNER)
        await env.images.record_pull([first])  # no principal known: recorded
        assert await env.pulled_at(first) is not None

        await env.images.record_pull_by_digest(repo.id, await _digest(env, second), SCANNER)
        assert await env.pulled_at(second) is None
        await env.exclusions.deregister(ACCOUNT, SCANNER)  # drops this process's cache at once
        await env.images.record_pull([second], SCANNER)
        assert await env.pulled_at(second) is not None

    run(go, tmp_path)


async def _digest(env: Env, manifest_id: int) -> str:
    async with env.db.read() as conn:
        return str(await conn.scalar(sa.select(t.manifests.c.digest).where(t.manifests.c.id == manifest_id)))


def test_exclusion_set_is_cached_and_pull_is_one_query(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        env.db.caches.check_every = 3600  # not counted below: the once-a-second generation check
        repo = await env.repos.create(ACCOUNT, "app")
        mid = await env.push(repo, await env.image(repo))
        await env.exclusions.register(ACCOUNT, SCANNER)
        assert await env.exclusions.excluded(ACCOUNT) == {SCANNER}
        # A write that does not bump the generation is not seen until the entry expires (or is dropped).
        async with env.db.write() as conn:
            await conn.execute(
                t.pull_time_exclusions.insert().values(
                    account_id=ACCOUNT, principal_arn=DEVELOPER, created_at=t.now()
                )
            )
        assert await env.exclusions.excluded(ACCOUNT) == {SCANNER}

        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        engines = [env.db.engine.sync_engine, *([env.db._inline] if env.db._inline is not None else [])]
        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", count)
        try:
            await env.images.record_pull([mid], SCANNER)
        finally:
            for engine in engines:
                sa.event.remove(engine, "before_cursor_execute", count)
        assert len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]) == 1
        assert await env.pulled_at(mid) is None

        env.db.caches.invalidate(pull_exclusions.EXCLUDED, ACCOUNT)
        assert await env.exclusions.excluded(ACCOUNT) == {SCANNER, DEVELOPER}

    run(go, tmp_path)


def test_exclusion_errors_limit_and_paging(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        first = await env.exclusions.register(ACCOUNT, SCANNER)
        assert first.principal_arn == SCANNER and first.created_at is not None
        with pytest.raises(ExclusionAlreadyExists):
            await env.exclusions.register(ACCOUNT, SCANNER)
        with pytest.raises(ExclusionNotFound):
            await env.exclusions.deregister(ACCOUNT, DEVELOPER)
        for i in range(pull_exclusions.MAX_EXCLUSIONS - 1):
            await env.exclusions.register(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/u{i:03d}")
        with pytest.raises(ExclusionLimitExceeded):
            await env.exclusions.register(ACCOUNT, DEVELOPER)
        await env.exclusions.register(OTHER, DEVELOPER)  # the limit is per registry

        seen: list[str] = []
        after = None
        while True:
            items, more = await env.exclusions.page(ACCOUNT, after, 30)
            seen.extend(i.principal_arn for i in items)
            if not more:
                break
            after = items[-1].principal_arn
        assert len(seen) == pull_exclusions.MAX_EXCLUSIONS == len(set(seen))
        assert seen == sorted(seen)

    run(go, tmp_path)


# ---------------------------------------------------------------------------- archive
def test_archive_restore_and_repush(tmp_path: Path) -> None:
    async def go(env: Env) -> None:
        repo = await env.repos.create(ACCOUNT, "app")
        body = await env.image(repo)
        digest = sha(body)
        child_id = await env.push(repo, body)  # untagged: a tagged child stays with its tag
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}],
            }
        ).encode()
        await env.push(repo, index, "multi")

        full, status = await env.images.set_storage_class(ACCOUNT, "app", ImageId(None, "multi"), "ARCHIVE")
        assert (full, status) == (ImageId(sha(index), "multi"), ARCHIVED)
        with pytest.raises(StorageClassUnchanged):
            await env.images.set_storage_class(ACCOUNT, "app", ImageId(sha(index)), "ARCHIVE")
        with pytest.raises(ImageLookupFailed):
            await env.images.set_storage_class(ACCOUNT, "app", ImageId(None, "nope"), "ARCHIVE")
        for ref in ("multi", digest):  # the (untagged) child went with its index
            with pytest.raises(ManifestUnknown, match="archived"):
                await env.manifests.get(ACCOUNT, "app", ref)
        assert await env.manifests.get_child(repo.id, digest) is None

        _, found, failures = await env.images.batch_get(ACCOUNT, "app", [ImageId(digest)])
        assert found == [] and [f.code for f in failures] == [IMAGE_INACCESSIBLE]
        _, active, _ = await env.images.describe_page(ACCOUNT, "app", ANY, None, 10, ACTIVE)
        _, archived, _ = await env.images.describe_page(ACCOUNT, "app", ANY, None, 10, ARCHIVED)
        assert active == [] and {i.digest for i in archived} == {digest, sha(index)}
        assert all(i.status == ARCHIVED and i.archived_at is not None for i in archived)
        listed, _ = await env.images.list_page(ACCOUNT, "app", ANY, None, 10, ARCHIVED)
        assert {i.digest for i in listed} == {digest, sha(index)}

        # A re-push of the child restores it alone; restoring the index brings back the rest.
        await env.manifests.put(repo, digest, body, None)
        assert (await env.manifests.get(ACCOUNT, "app", digest)).id == child_id
        with pytest.raises(ManifestUnknown):
            await env.manifests.get(ACCOUNT, "app", "multi")
        _, status = await env.images.set_storage_class(ACCOUNT, "app", ImageId(sha(index)), "STANDARD")
        assert status == ACTIVE
        assert (await env.manifests.get(ACCOUNT, "app", "multi")).digest == sha(index)
        _, infos, _ = await env.images.describe_page(ACCOUNT, "app", ANY, None, 10, ACTIVE)
        assert len(infos) == 2 and all(i.activated_at is not None for i in infos)

    run(go, tmp_path)
