"""Server-wide secret keys that every node must share, kept in the database and created by
the first node that asks."""

from __future__ import annotations

import secrets

from dockyard.store.meta import server_settings
from dockyard.store.meta.database import Database


async def pagination_key(db: Database) -> bytes:
    """The key that seals listing cursors (ECR nextTokens), loaded once per process."""
    secret = await server_settings.cached(db, "keys", "pagination", lambda: secrets.token_hex(32))
    return secret.encode()
