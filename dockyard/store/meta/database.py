"""Connections to the metadata database (SQLite by default, PostgreSQL later).

Reads use plain connections; writes go through `write()`, a transaction that on
SQLite starts with BEGIN IMMEDIATE so two writers queue on the lock instead of
failing when one upgrades a read to a write.
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

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class _InlineReads:
    """A synchronous SQLite connection behind the two async methods reads use.

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
        # SQLite has one writer at a time; queueing writers here (instead of in SQLite's
        # sleep-and-retry busy handler) hands the lock over as soon as it is free.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._write_owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self._inline is not None:
            with self._inline.connect() as sync_conn:
                yield cast(AsyncConnection, _InlineReads(sync_conn))
            return
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is not None:
            if self._write_owner is not None and self._write_owner is asyncio.current_task():
                raise RuntimeError("nested write transaction: pass the open connection down instead")
            async with self._write_lock:
                self._write_owner = asyncio.current_task()
                try:
                    async with self._write_transaction() as conn:
                        yield conn
                finally:
                    self._write_owner = None
        else:
            async with self._write_transaction() as conn:
                yield conn

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(dockyard_write=True)
            async with conn.begin():
                yield conn

    def insert_ignore(self, table: sa.Table) -> Any:
        """INSERT that silently skips rows whose key already exists."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()

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


def _sqlite_pragmas(dbapi_conn: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _make_inline_engine(url: str) -> sa.Engine:
    path = url.split(":///", 1)[-1]
    engine = sa.create_engine(
        f"sqlite:///{path}",
        pool_size=8,
        max_overflow=16,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        _sqlite_pragmas(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")

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
