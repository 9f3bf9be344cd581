"""The cache facility: TTLs, invalidation here, and generations that tell other processes
(here: a second Database object on the same SQLite file) to drop their copies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dockyard.store.meta.cache import Caches, CacheSpec
from dockyard.store.meta.database import Database

POLICIES: CacheSpec[str | None] = CacheSpec("test-policies", ttl=5.0)
KEYS: CacheSpec[str] = CacheSpec("test-keys", ttl=None, max_entries=3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A value to cache, counting how often it is loaded."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.loads = 0

    async def load(self) -> Any:
        self.loads += 1
        return self.value


def run(tmp_path: Path, go: Callable[[Database, Database, Clock], Awaitable[None]]) -> None:
    """``go(a, b, clock)``: two Database objects on one migrated file, as two processes would have."""

    async def main() -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
        a, b = Database(url), Database(url)
        clock = Clock()
        await a.migrate()
        a.caches = Caches(a, monotonic=clock)
        b.caches = Caches(b, monotonic=clock)
        try:
            await go(a, b, clock)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_entries_live_for_their_ttl(tmp_path: Path) -> None:
    async def go(db: Database, _: Database, clock: Clock) -> None:
        policy, key = Source("deny"), Source("secret")
        assert await db.caches.get(POLICIES, ("a", "r"), policy.load) == "deny"
        policy.value = "allow"
        clock.now += 4.9
        assert await db.caches.get(POLICIES, ("a", "r"), policy.load) == "deny"
        clock.now += 0.2
        assert await db.caches.get(POLICIES, ("a", "r"), policy.load) == "allow"
        assert policy.loads == 2
        # None is a value like any other; a ttl of None never expires.
        assert await db.caches.get(POLICIES, ("a", "none"), Source(None).load) is None
        assert await db.caches.get(POLICIES, ("a", "none"), Source("x").load) is None
        assert await db.caches.get(KEYS, "k", key.load) == "secret"
        clock.now += 10**6
        assert await db.caches.get(KEYS, "k", key.load) == "secret"
        assert key.loads == 1

    run(tmp_path, go)


def test_invalidate_drops_one_key_or_all_of_them(tmp_path: Path) -> None:
    async def go(db: Database, _: Database, clock: Clock) -> None:
        first, second = Source("1"), Source("2")
        await db.caches.get(POLICIES, "first", first.load)
        await db.caches.get(POLICIES, "second", second.load)
        db.caches.invalidate(POLICIES, "first")
        await db.caches.get(POLICIES, "first", first.load)
        await db.caches.get(POLICIES, "second", second.load)
        assert (first.loads, second.loads) == (2, 1)
        db.caches.invalidate(POLICIES)
        await db.caches.get(POLICIES, "first", first.load)
        await db.caches.get(POLICIES, "second", second.load)
        assert (first.loads, second.loads) == (3, 2)
        db.caches.invalidate(CacheSpec("never-used", ttl=1.0), "x")  # nothing to drop: no error

    run(tmp_path, go)


def test_a_load_racing_an_invalidation_is_not_kept(tmp_path: Path) -> None:
    async def go(db: Database, _: Database, clock: Clock) -> None:
        source = Source("old")

        async def slow_load() -> str:
            value = await source.load()
            db.caches.invalidate(POLICIES, "k")  # a write committed while this read was in flight
            source.value = "new"
            return str(value)

        assert await db.caches.get(POLICIES, "k", slow_load) == "old"
        assert await db.caches.get(POLICIES, "k", source.load) == "new"

    run(tmp_path, go)


def test_bounded_caches_start_over(tmp_path: Path) -> None:
    async def go(db: Database, _: Database, clock: Clock) -> None:
        sources = [Source(str(i)) for i in range(4)]
        for i, source in enumerate(sources):
            await db.caches.get(KEYS, i, source.load)
        await db.caches.get(KEYS, 3, sources[3].load)  # the newest entry survived
        await db.caches.get(KEYS, 0, sources[0].load)  # the older ones went
        assert [s.loads for s in sources] == [2, 1, 1, 1]

    run(tmp_path, go)


def test_another_process_sees_a_bump_within_the_check_interval(tmp_path: Path) -> None:
    async def go(a: Database, b: Database, clock: Clock) -> None:
        policy, key = Source("deny"), Source("secret")
        assert await b.caches.get(POLICIES, ("a", "r"), policy.load) == "deny"
        assert await b.caches.get(KEYS, "k", key.load) == "secret"

        # Process A changes the policy and bumps the cache's generation in the same transaction.
        policy.value = "allow"
        async with a.write() as conn:
            await a.caches.bump(conn, POLICIES)
        a.caches.invalidate(POLICIES, ("a", "r"))

        clock.now += 0.5  # B has checked the generations less than a second ago
        assert await b.caches.get(POLICIES, ("a", "r"), policy.load) == "deny"
        clock.now += 0.6
        assert await b.caches.get(POLICIES, ("a", "r"), policy.load) == "allow"
        assert await b.caches.get(KEYS, "k", key.load) == "secret"  # other caches are kept
        assert (policy.loads, key.loads) == (2, 1)

        # `changed` does both steps for a writer whose transaction has already committed.
        policy.value = "gone"
        await a.caches.changed(POLICIES, ("a", "r"))
        clock.now += 1.1
        assert await b.caches.get(POLICIES, ("a", "r"), policy.load) == "gone"

    run(tmp_path, go)


def test_generations_cost_one_query_per_interval_for_all_caches(tmp_path: Path) -> None:
    async def go(db: Database, _: Database, clock: Clock) -> None:
        assert db._inline is not None
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        sa.event.listen(db._inline, "before_cursor_execute", count)
        try:
            for _ in range(3):
                for step in range(10):
                    clock.now += 0.09
                    await db.caches.get(POLICIES, step % 2, Source("x").load)
                    await db.caches.get(KEYS, "k", Source("y").load)
                clock.now += 0.2
        finally:
            sa.event.remove(db._inline, "before_cursor_execute", count)
        queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(queries) == 3 and all("cache_generations" in s for s in queries), statements

    run(tmp_path, go)


def test_a_deleted_access_key_stops_working_here_at_once_and_elsewhere_after_the_check(
    tmp_path: Path,
) -> None:
    from dockyard.auth.identity import ROOT_USER, IdentityService

    async def go(a: Database, b: Database, clock: Clock) -> None:
        here, there = IdentityService(a), IdentityService(b)
        await here.ensure_account("123456789012")
        key = await here.create_key("123456789012", ROOT_USER)
        found = await here.cached_lookup_key(key.access_key_id)
        assert found is not None and found.secret_access_key == key.secret_access_key
        assert await there.cached_lookup_key(key.access_key_id) == found
        await here.delete_key(key.access_key_id)
        assert await here.cached_lookup_key(key.access_key_id) is None
        clock.now += 0.5
        assert await there.cached_lookup_key(key.access_key_id) == found  # its copy, for now
        clock.now += 0.6
        assert await there.cached_lookup_key(key.access_key_id) is None

    run(tmp_path, go)
