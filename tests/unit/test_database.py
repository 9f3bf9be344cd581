"""SQLite write transactions: inline on the event loop, queued, and never sleeping on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dockyard.store.meta.database import Database


def test_write_waits_off_the_loop_when_another_process_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"

    async def go() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            async with db.write() as conn:
                await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO t VALUES (1)")
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            threading.Timer(0.4, lambda: other.execute("COMMIT")).start()
            started = time.monotonic()
            async with db.write() as conn:
                await conn.execute(sa.text("INSERT INTO t VALUES (2)"))
            assert time.monotonic() - started >= 0.3  # it did wait for the other writer
            assert ticks >= 10  # ... without blocking the event loop
            task.cancel()
            other.close()

            with pytest.raises(RuntimeError):
                async with db.write() as conn:
                    await conn.execute(sa.text("INSERT INTO t VALUES (3)"))
                    raise RuntimeError("rolled back")

            async def insert(x: int) -> None:
                async with db.write() as conn:
                    await conn.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": x})
                    await asyncio.sleep(0)  # another writer's turn comes only after the commit

            await asyncio.gather(*(insert(x) for x in range(10, 20)))
            async with db.read() as conn:
                rows = [r.x for r in await conn.execute(sa.text("SELECT x FROM t ORDER BY x"))]
            assert rows == [1, 2, *range(10, 20)]
        finally:
            await db.close()

    asyncio.run(go())


def test_nested_write_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'y.db'}")
        try:
            async with db.write():
                with pytest.raises(RuntimeError, match="nested write"):
                    async with db.write():
                        pass
        finally:
            await db.close()

    asyncio.run(go())
