"""Accounts, users and access keys: the IAM subset a self-hosted ECR needs."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.auth.principals import Principal
from dockyard.errors import DomainError
from dockyard.store.meta import tables as t
from dockyard.store.meta.cache import CacheSpec
from dockyard.store.meta.database import Database

_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
_USER_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
ROOT_USER = "root"
# Every ECR call looks its access key up; a key deleted elsewhere without announcing it stops
# working here after this many seconds (`delete_key` announces, so within about a second).
KEY_CACHE_SECONDS = 30.0


class IdentityError(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    principal: Principal


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An access key as listed: whose it is and since when, without its secret."""

    access_key_id: str
    user_name: str
    status: str
    created_at: datetime


# Active keys (None: no such active key) by access key id.
ACCESS_KEYS: CacheSpec[AccessKey | None] = CacheSpec("access-keys", KEY_CACHE_SECONDS)


def _random(prefix: str, alphabet: str, length: int) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def new_access_key_id() -> str:
    return _random("AKIA", _KEY_ALPHABET, 16)


def new_secret() -> str:
    return _random("", _SECRET_ALPHABET, 40)


def new_user_id() -> str:
    return _random("AIDA", _KEY_ALPHABET, 17)


def no_such_account(account_id: str) -> str:
    return f"account {account_id} does not exist; create it with `dockyard account create {account_id}`"


class IdentityService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_account(self, account_id: str, alias: str | None = None) -> None:
        if not _ACCOUNT_RE.match(account_id):
            raise IdentityError(f"account id {account_id!r} must be 12 digits")
        try:
            async with self.db.write() as conn:
                await conn.execute(t.accounts.insert().values(id=account_id, alias=alias, created_at=t.now()))
                await self._insert_user(conn, account_id, ROOT_USER, is_root=True)
        except IntegrityError:
            raise IdentityError(f"account {account_id} already exists") from None

    async def ensure_account(self, account_id: str) -> None:
        """The account row and its root user, created if missing."""
        async with self.db.write() as conn:
            await conn.execute(self.db.insert_ignore(t.accounts).values(id=account_id, created_at=t.now()))
            root = await conn.scalar(
                sa.select(t.users.c.id).where(t.users.c.account_id == account_id, t.users.c.name == ROOT_USER)
            )
            if root is None:
                await self._insert_user(conn, account_id, ROOT_USER, is_root=True)

    async def account_exists(self, account_id: str) -> bool:
        async with self.db.read() as conn:
            found = await conn.scalar(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id))
        return found is not None

    async def list_accounts(self) -> list[tuple[str, str | None]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(t.accounts.c.id, t.accounts.c.alias).order_by(t.accounts.c.id)
            )
            return [(r.id, r.alias) for r in rows]

    async def create_user(self, account_id: str, name: str) -> Principal:
        if not _USER_RE.match(name):
            raise IdentityError(f"user name {name!r} must be 1-64 characters of letters, digits and +=,.@_-")
        try:
            async with self.db.write() as conn:
                exists = await conn.scalar(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id))
                if exists is None:
                    raise IdentityError(no_such_account(account_id))
                return await self._insert_user(conn, account_id, name, is_root=False)
        except IntegrityError:
            raise IdentityError(f"user {name!r} already exists in account {account_id}") from None

    async def _insert_user(
        self, conn: AsyncConnection, account_id: str, name: str, is_root: bool
    ) -> Principal:
        user_id = new_user_id()
        await conn.execute(
            t.users.insert().values(
                id=user_id, account_id=account_id, name=name, is_root=is_root, created_at=t.now()
            )
        )
        return Principal(account_id, user_id, name, is_root)

    async def get_user(self, account_id: str, name: str) -> Principal:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(t.users).where(t.users.c.account_id == account_id, t.users.c.name == name)
                )
            ).first()
        if row is None:
            raise IdentityError(f"user {name!r} does not exist in account {account_id}")
        return Principal(row.account_id, row.id, row.name, bool(row.is_root))

    async def list_users(self, account_id: str) -> list[Principal]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(t.users).where(t.users.c.account_id == account_id).order_by(t.users.c.name)
            )
            return [Principal(r.account_id, r.id, r.name, bool(r.is_root)) for r in rows]

    async def create_key(self, account_id: str, user_name: str) -> AccessKey:
        user = await self.get_user(account_id, user_name)
        key = AccessKey(new_access_key_id(), new_secret(), user)
        async with self.db.write() as conn:
            await conn.execute(
                t.access_keys.insert().values(
                    id=key.access_key_id,
                    user_id=user.user_id,
                    secret=key.secret_access_key,
                    created_at=t.now(),
                )
            )
        return key

    async def list_keys(self, account_id: str, user_name: str | None = None) -> list[KeyInfo]:
        """The account's access keys (never their secrets), oldest first."""
        k, u = t.access_keys, t.users
        query = (
            sa.select(k.c.id, u.c.name, k.c.status, k.c.created_at)
            .join(u, u.c.id == k.c.user_id)
            .where(u.c.account_id == account_id)
            .order_by(k.c.created_at, k.c.id)
        )
        if user_name is not None:
            query = query.where(u.c.name == user_name)
        async with self.db.read() as conn:
            rows = await conn.execute(query)
            return [KeyInfo(r.id, r.name, r.status, r.created_at) for r in rows]

    async def delete_key(self, access_key_id: str) -> None:
        async with self.db.write() as conn:
            result = await conn.execute(t.access_keys.delete().where(t.access_keys.c.id == access_key_id))
            await self.db.caches.bump(conn, ACCESS_KEYS)
        self.db.caches.invalidate(ACCESS_KEYS, access_key_id)
        if result.rowcount == 0:
            raise IdentityError(f"access key {access_key_id} does not exist")

    async def lookup_key(self, access_key_id: str) -> AccessKey | None:
        """The secret and owner of an active key, for SigV4 verification."""
        query = (
            sa.select(t.access_keys.c.secret, t.users)
            .join(t.users, t.users.c.id == t.access_keys.c.user_id)
            .where(t.access_keys.c.id == access_key_id, t.access_keys.c.status == "Active")
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return AccessKey(
            access_key_id,
            row.secret,
            Principal(row.account_id, row.id, row.name, bool(row.is_root), access_key_id),
        )

    async def cached_lookup_key(self, access_key_id: str) -> AccessKey | None:
        """:meth:`lookup_key`, answered from this process's copy (:data:`ACCESS_KEYS`)."""
        return await self.db.caches.get(ACCESS_KEYS, access_key_id, lambda: self.lookup_key(access_key_id))

    async def has_any_key(self) -> bool:
        async with self.db.read() as conn:
            return (await conn.scalar(sa.select(sa.func.count()).select_from(t.access_keys))) != 0
