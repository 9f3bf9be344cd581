"""An account's replication configuration (what DescribeRegistry reports)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database


async def replication_configuration(db: Database, account_id: str) -> dict[str, Any]:
    """The stored configuration; ``{"rules": []}`` when there is none (or it is malformed)."""
    async with db.read() as conn:
        config = await conn.scalar(
            sa.select(t.accounts.c.replication_configuration).where(t.accounts.c.id == account_id)
        )
    if not isinstance(config, dict) or not isinstance(config.get("rules"), list):
        config = {"rules": []}
    return config
