"""Server-wide secret keys that every node must share, kept in the database and created by
the first node that asks."""

from __future__ import annotations

import secrets
import weakref

from dockyard.store.meta.database import Database
from dockyard.store.meta.server_settings import get_or_create

_PAGINATION_KEYS: weakref.WeakKeyDictionary[Database, bytes] = weakref.WeakKeyDictionary()


async def pagination_key(db: Database) -> bytes:
    """The key that seals listing cursors (ECR nextTokens), loaded once per process."""
    key = _PAGINATION_KEYS.get(db)
    if key is None:
        secret = await get_or_create(db, "keys", "pagination", lambda: secrets.token_hex(32))
        key = _PAGINATION_KEYS[db] = secret.encode()
    return key
