"""Helpers for unit tests that need a real Registry (SQLite + filesystem under tmp_path)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard.config import Settings
from dockyard.core.registry import Registry


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(tmp_path: Path, body: Callable[[Registry], Awaitable[Any]]) -> Any:
    """Start a registry on `tmp_path`, run `body` with it, close it."""

    async def main() -> Any:
        registry = Registry.build(Settings(data_dir=tmp_path))
        await registry.start()
        try:
            return await body(registry)
        finally:
            await registry.close()

    return asyncio.run(main())
