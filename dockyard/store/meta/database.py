"""Connections to the metadata database (SQLite by default, PostgreSQL later).

Reads use plain connections; writes go through `write()`, a transaction that on
SQLite starts with BEGIN IMMEDIATE so two writers queue on the lock instead of
failing when one upgrades a read to a write.

On SQLite both run on the event loop's thread (a statement takes microseconds; a
hop to a driver thread and back per statement cost far more): reads on pooled
synchronous connections, writes on one synchronous connection, queued in-process
by an asyncio lock. Only when another process holds SQLite's write lock does a
write wait for it, on a driver thread (aiosqlite), so the event loop never sleeps
in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dockyard.errors import StorageFull
from dockyard.store.meta.cache import Caches

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class _InlineConnection:
    """A synchronous SQLite connection behind the two async methods reads and writes use.

    A point read on SQLite takes microseconds; running it on the event loop avoids
    the four thread hops aiosqlite needs per query (connect, begin, execute, fetch),
    which dominated small-request latency. WAL mode lets these readers run while
    another connection writes.
    """

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._conn.execute(statement, *args, **kwargs)

    async def scalar(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._conn.scalar(statement, *args, **kwargs)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = _make_engine(url)
        self._inline: sa.Engine | None = _make_inline_engine(url) if self.is_sqlite else None
        self._inline_writer = _make_inline_engine(url, writer=True) if self.is_sqlite else None
        # SQLite has one writer at a time; queueing writers here (instead of in SQLite's
        # sleep-and-retry busy handler) hands the lock over as soon as it is free.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._write_owner: asyncio.Task[Any] | None = None
        # This process's copies of rarely changing rows (policies, settings, keys).
        self.caches = Caches(self)

    async def ping(self) -> None:
        """Raise if the database does not answer a trivial query (readiness checks)."""
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self._inline is not None:
            with self._inline.connect() as sync_conn:
                yield cast(AsyncConnection, _InlineConnection(sync_conn))
            return
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; a full disk fails it with StorageFull (retryable), not a 500."""
        try:
            async with self._write() as conn:
                yield conn
        except sa.exc.DBAPIError as e:
            if not _disk_full(e):
                raise
            raise StorageFull("the registry's database has no space left; retry once space is freed") from e

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is not None:
            if self._write_owner is not None and self._write_owner is asyncio.current_task():
                raise RuntimeError("nested write transaction: pass the open connection down instead")
            async with self._write_lock:
                self._write_owner = asyncio.current_task()
                try:
                    sync_conn = self._begin_inline_write()
                    if sync_conn is None:  # another process holds the write lock: wait in a thread
                        async with self._write_transaction() as conn:
                            yield conn
                    else:
                        with sync_conn:
                            try:
                                yield cast(AsyncConnection, _InlineConnection(sync_conn))
                            except BaseException:
                                sync_conn.rollback()
                                raise
                            sync_conn.commit()
                finally:
                    self._write_owner = None
        else:
            async with self._write_transaction() as conn:
                yield conn

    def _begin_inline_write(self) -> sa.Connection | None:
        """A connection in a BEGIN IMMEDIATE transaction, or None if SQLite's write lock is taken."""
        assert self._inline_writer is not None
        conn = self._inline_writer.connect()
        try:
            conn.begin()  # BEGIN IMMEDIATE without waiting (busy_timeout 0 for this statement)
        except sa.exc.OperationalError as e:
            conn.close()
            if "locked" in str(e) or "busy" in str(e):
                return None
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(dockyard_write=True)
            async with conn.begin():
                yield conn

    def insert(self, table: sa.Table) -> Any:
        """This backend's INSERT, with its ON CONFLICT clauses (`on_conflict_do_update`)."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    def insert_ignore(self, table: sa.Table) -> Any:
        """INSERT that silently skips rows whose key already exists."""
        return self.insert(table).on_conflict_do_nothing()

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.engine

        async with self.engine.begin() as conn:

            def upgrade(sync_conn: sa.Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "head")

            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._inline is not None:
            self._inline.dispose()
        if self._inline_writer is not None:
            self._inline_writer.dispose()


def _disk_full(error: sa.exc.DBAPIError) -> bool:
    """SQLite's SQLITE_FULL, or PostgreSQL's disk_full (SQLSTATE 53100)."""
    orig = error.orig
    if getattr(orig, "sqlite_errorname", None) == "SQLITE_FULL":
        return True
    if getattr(orig, "sqlstate", None) == "53100" or getattr(orig, "pgcode", None) == "53100":
        return True
    text = str(orig)
    return "database or disk is full" in text or "No space left on device" in text


def _sqlite_pragmas(dbapi_conn: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _make_inline_engine(url: str, writer: bool = False) -> sa.Engine:
    """Synchronous connections used on the event loop's thread: pooled readers, or the one writer."""
    path = url.split(":///", 1)[-1]
    engine = sa.create_engine(
        f"sqlite:///{path}",
        pool_size=1 if writer else 8,
        max_overflow=0 if writer else 16,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        _sqlite_pragmas(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if not writer:
            conn.exec_driver_sql("BEGIN")
            return
        # Never wait for another process's write lock on the event loop: fail at once instead
        # (the caller then waits on a driver thread). Once BEGIN IMMEDIATE holds the lock, the
        # statements and the COMMIT of a WAL database do not wait for other connections.
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        dbapi_conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

    return engine


def _make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=8, max_overflow=8, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy (not the driver) decide when transactions begin.
            dbapi_conn.isolation_level = None
            _sqlite_pragmas(dbapi_conn)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get("dockyard_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous CLI code."""
    return asyncio.run(coro)
