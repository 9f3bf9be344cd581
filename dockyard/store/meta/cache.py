"""Per-process copies of rarely changing rows, kept consistent across processes and nodes.

Hot paths (every ``/v2/`` request's root-user policy check, every pull's exclusion list,
every ECR call's access key) read values that change a few times a day; asking the
database each time would cost a query per request. Each such value lives in a named
cache (:class:`CacheSpec`: a name, a TTL and a size bound, declared by the module that
owns the value) held by the :class:`Caches` of a :class:`Database` — one per process,
made with the database by the composition root, so no module keeps state of its own.

Invariants:

* **A write made here is seen here at once**: the writer calls :meth:`Caches.invalidate`
  after its transaction commits.
* **A write made elsewhere is seen within about a second**: the writer also calls
  :meth:`Caches.bump` inside its transaction, which raises the cache's generation in
  ``cache_generations``. Readers compare all generations with one query, at most once per
  :data:`CHECK_EVERY_SECONDS` and only when a cache is read, and drop every entry of a
  cache whose generation moved. A write that skips the bump is still seen after the TTL.
* **A load racing an invalidation is not kept**: an entry read from the database while an
  invalidation of its cache ran is returned to its caller but not stored.
* **Bounded**: a cache holding ``max_entries`` starts over empty rather than grow.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import sqlalchemy as sa

from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.store.meta.database import Database

V = TypeVar("V")

# How stale another node's write may look here, at most (besides the write's own latency).
CHECK_EVERY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class CacheSpec(Generic[V]):
    """One named cache: ``ttl`` seconds per entry (None: until invalidated), at most ``max_entries``."""

    name: str
    ttl: float | None
    max_entries: int = 10_000


class _Entries:
    def __init__(self) -> None:
        self.values: dict[Hashable, tuple[float, Any]] = {}  # key -> (expires at, value)
        self.epoch = 0  # moves on every invalidation; a load that saw it move is not stored


class Caches:
    """The named caches of one database in this process."""

    def __init__(
        self,
        db: Database,
        check_every: float = CHECK_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._caches: dict[str, _Entries] = {}
        self._generations: dict[str, int] | None = None  # as last read from the database
        self._next_check = 0.0
        self.check_every = check_every
        self._monotonic = monotonic

    async def get(self, spec: CacheSpec[V], key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value of ``key``, else ``load()``'s (then kept for ``spec.ttl`` seconds)."""
        now = self._monotonic()
        if now >= self._next_check:
            await self._check_generations(now)
        entries = self._caches.setdefault(spec.name, _Entries())
        hit = entries.values.get(key)
        if hit is not None and (spec.ttl is None or hit[0] > now):
            return cast(V, hit[1])
        epoch = entries.epoch
        value = await load()
        if entries.epoch == epoch:
            if len(entries.values) >= spec.max_entries:
                entries.values.clear()
            expires = now + spec.ttl if spec.ttl is not None else 0.0
            entries.values[key] = (expires, value)
        return value

    def invalidate(self, spec: CacheSpec[Any], key: Hashable | None = None) -> None:
        """Drop this process's copy of ``key`` (every key when None); call after the write commits."""
        entries = self._caches.get(spec.name)
        if entries is None:
            return
        entries.epoch += 1
        if key is None:
            entries.values.clear()
        else:
            entries.values.pop(key, None)

    async def bump(self, conn: Any, spec: CacheSpec[Any]) -> None:
        """Tell every process that ``spec``'s values changed; run inside the writer's transaction."""
        g = t.cache_generations
        stmt = self._db.insert(g).values(name=spec.name, generation=1)
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=[g.c.name], set_={"generation": g.c.generation + 1})
        )

    async def changed(self, spec: CacheSpec[Any], key: Hashable | None = None) -> None:
        """:meth:`bump` in a transaction of its own, then :meth:`invalidate`: for a writer whose
        transaction is not its to extend (call after that transaction commits)."""
        async with self._db.write() as conn:
            await self.bump(conn, spec)
        self.invalidate(spec, key)

    async def _check_generations(self, now: float) -> None:
        """One query for every cache's generation; drop the caches whose generation moved."""
        self._next_check = now + self.check_every  # concurrent readers skip the check meanwhile
        g = t.cache_generations
        seen, self._generations = self._generations, None  # unknown until the query answers
        async with self._db.read() as conn:
            rows = (await conn.execute(sa.select(g.c.name, g.c.generation))).all()
        current = {str(row.name): int(row.generation) for row in rows}
        self._generations = current
        for name, entries in self._caches.items():
            if seen is None or current.get(name, 0) != seen.get(name, 0):
                entries.epoch += 1
                entries.values.clear()
