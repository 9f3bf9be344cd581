"""Per-account settings (GetAccountSetting / PutAccountSetting), with ECR's names and defaults.

* ``BASIC_SCAN_TYPE_VERSION``: ``AWS_NATIVE`` (the Clair-based version is unsupported since
  2025-10-01, so it is the only value and the default).
* ``REGISTRY_POLICY_SCOPE``: ``V1`` or ``V2``; new registries get ``V2``.
* ``BLOB_MOUNTING``: ``ENABLED`` or ``DISABLED``; when disabled a ``/v2/`` mount request starts
  an ordinary upload session. ECR starts accounts with it off; Dockyard starts them with it on
  (`dockyard serve --blob-mounting-default`), since mounting within an account is safe and the
  OCI conformance suite expects it. Pass DISABLED for ECR's behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from dockyard.core.errors import DomainError
from dockyard.store.meta import tables as t
from dockyard.store.meta.cache import CacheSpec
from dockyard.store.meta.database import Database


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: str
    allowed: tuple[str, ...]


SETTINGS: dict[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        SettingSpec("BASIC_SCAN_TYPE_VERSION", "AWS_NATIVE", ("AWS_NATIVE",)),
        SettingSpec("REGISTRY_POLICY_SCOPE", "V2", ("V1", "V2")),
        SettingSpec("BLOB_MOUNTING", "DISABLED", ("ENABLED", "DISABLED")),
    )
}


class InvalidSetting(DomainError):
    """An unknown setting name, or a value the setting does not take."""


def spec_for(name: str) -> SettingSpec:
    spec = SETTINGS.get(name)
    if spec is None:
        raise InvalidSetting(
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(SETTINGS)}]"
        )
    return spec


def check_value(spec: SettingSpec, value: str) -> str:
    if value not in spec.allowed:
        raise InvalidSetting(
            f"1 validation error detected: Value '{value}' at 'value' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(spec.allowed)}] for setting {spec.name}"
        )
    return value


_STORED = sa.select(t.account_settings.c.value).where(
    t.account_settings.c.account_id == sa.bindparam("account_id"),
    t.account_settings.c.name == sa.bindparam("name"),
)

# How long a node may answer BLOB_MOUNTING (asked by every /v2/ mount) from its copy when a
# change made elsewhere did not announce itself; `put` announces its changes, which other
# processes notice within about a second, and this one at once.
CACHE_SECONDS = 5.0
# Stored values (None: not set) by (account, setting name).
STORED_SETTINGS: CacheSpec[str | None] = CacheSpec("account-settings", CACHE_SECONDS)


async def _stored(db: Database, account_id: str, name: str) -> str | None:
    async with db.read() as conn:
        value = await conn.scalar(_STORED, {"account_id": account_id, "name": name})
    return None if value is None else str(value)


async def get(db: Database, account_id: str, name: str, defaults: Mapping[str, str] | None = None) -> str:
    """The value in force: the stored one, else the server's default (`defaults`), else ECR's."""
    spec = spec_for(name)
    value = await _stored(db, account_id, spec.name)
    if value is not None:
        return value
    return (defaults or {}).get(spec.name, spec.default)


async def cached_get(
    db: Database, account_id: str, name: str, defaults: Mapping[str, str] | None = None
) -> str:
    """:func:`get`, answered from this process's copy (:data:`STORED_SETTINGS`)."""
    spec = spec_for(name)
    value = await db.caches.get(
        STORED_SETTINGS, (account_id, spec.name), lambda: _stored(db, account_id, spec.name)
    )
    if value is not None:
        return value
    return (defaults or {}).get(spec.name, spec.default)


async def put(db: Database, account_id: str, name: str, value: str) -> str:
    spec = spec_for(name)
    check_value(spec, value)
    s = t.account_settings
    async with db.write() as conn:
        await conn.execute(db.insert_ignore(t.accounts).values(id=account_id, created_at=t.now()))
        result = await conn.execute(
            s.update().where(s.c.account_id == account_id, s.c.name == spec.name).values(value=value)
        )
        if not result.rowcount:
            await conn.execute(s.insert().values(account_id=account_id, name=spec.name, value=value))
        await db.caches.bump(conn, STORED_SETTINGS)
    db.caches.invalidate(STORED_SETTINGS, (account_id, spec.name))
    return value


async def blob_mounting_enabled(
    db: Database, account_id: str, defaults: Mapping[str, str] | None = None
) -> bool:
    return await cached_get(db, account_id, "BLOB_MOUNTING", defaults) == "ENABLED"
