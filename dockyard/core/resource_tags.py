"""Resource tags of repositories (TagResource, UntagResource, ListTagsForResource).

ECR allows 50 tags per repository; keys are 1-128 characters, values 0-256, made of
Unicode letters, digits, spaces and ``_ . : / = + - @``, and keys starting with ``aws:``
are reserved for AWS.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.core.errors import DomainError
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

if TYPE_CHECKING:
    from dockyard.core.repositories import RepositoryService

MAX_TAGS = 50
KEY_MAX, VALUE_MAX = 128, 256
_EXTRA_CHARS = frozenset(" _.:/=+-@")

TOO_MANY_TAGS_MESSAGE = (
    "The list of tags on the repository is over the limit. "
    "The maximum number of tags that can be applied to a repository is 50."
)


class TooManyTags(DomainError):
    """More than 50 tags would be on one resource."""


class InvalidTag(DomainError):
    """A tag key or value that breaks ECR's length or character rules."""


def _allowed(text: str) -> bool:
    for ch in text:
        if ch in _EXTRA_CHARS:
            continue
        category = unicodedata.category(ch)
        if category[0] in ("L", "N") or category == "Zs":
            continue
        return False
    return True


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= KEY_MAX:
        raise InvalidTag(
            f"Invalid parameter at 'tags' failed to satisfy constraint: 'Tag key '{key[:140]}' must "
            f"have length between 1 and {KEY_MAX} characters'"
        )
    if not _allowed(key):
        raise InvalidTag(
            f"Invalid parameter at 'tags' failed to satisfy constraint: 'Tag key '{key}' must satisfy "
            "regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$'"
        )
    if key.lower().startswith("aws:"):
        raise InvalidTag(
            f"Invalid parameter at 'tags' failed to satisfy constraint: 'Tag key '{key}' cannot start "
            "with the reserved prefix 'aws:''"
        )
    return key


def validate_value(key: str, value: str) -> str:
    if len(value) > VALUE_MAX:
        raise InvalidTag(
            f"Invalid parameter at 'tags' failed to satisfy constraint: 'Tag value of key '{key}' must "
            f"have length less than or equal to {VALUE_MAX} characters'"
        )
    if not _allowed(value):
        raise InvalidTag(
            f"Invalid parameter at 'tags' failed to satisfy constraint: 'Tag value of key '{key}' must "
            "satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$'"
        )
    return value


def normalize(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """ECR's ``[{Key, Value}]`` list as a dict, validated (a repeated key keeps its last value)."""
    out: dict[str, str] = {}
    for tag in tags or ():
        key = validate_key(str(tag.get("Key", "")))
        out[key] = validate_value(key, str(tag.get("Value", "")))
    if len(out) > MAX_TAGS:
        raise TooManyTags(TOO_MANY_TAGS_MESSAGE)
    return out


def as_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class ResourceTagService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def of(self, repository_id: int, conn: AsyncConnection | None = None) -> dict[str, str]:
        query = (
            sa.select(t.repository_tags.c.key, t.repository_tags.c.value)
            .where(t.repository_tags.c.repository_id == repository_id)
            .order_by(t.repository_tags.c.key)
        )
        if conn is not None:
            return {row.key: row.value for row in await conn.execute(query)}
        async with self.db.read() as rconn:
            return {row.key: row.value for row in await rconn.execute(query)}

    async def add(self, conn: AsyncConnection, repository_id: int, tags: Mapping[str, str]) -> None:
        """Add or overwrite ``tags``; raises TooManyTags when the total would pass 50."""
        if not tags:
            return
        existing = await self.of(repository_id, conn)
        if len(set(existing) | set(tags)) > MAX_TAGS:
            raise TooManyTags(TOO_MANY_TAGS_MESSAGE)
        rt = t.repository_tags
        for key, value in tags.items():
            if key in existing:
                if existing[key] != value:
                    await conn.execute(
                        rt.update()
                        .where(rt.c.repository_id == repository_id, rt.c.key == key)
                        .values(value=value)
                    )
            else:
                await conn.execute(rt.insert().values(repository_id=repository_id, key=key, value=value))

    async def remove(self, conn: AsyncConnection, repository_id: int, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            rt = t.repository_tags
            await conn.execute(rt.delete().where(rt.c.repository_id == repository_id, rt.c.key.in_(keys)))

    async def tag_repository(
        self, repositories: RepositoryService, account_id: str, name: str, tags: Mapping[str, str]
    ) -> None:
        """TagResource: add or overwrite a repository's tags, in one transaction."""
        async with self.db.write() as conn:
            repo = await repositories.get(account_id, name, conn)
            await self.add(conn, repo.id, tags)

    async def untag_repository(
        self, repositories: RepositoryService, account_id: str, name: str, keys: Iterable[str]
    ) -> None:
        """UntagResource: remove tags of a repository by key, in one transaction."""
        async with self.db.write() as conn:
            repo = await repositories.get(account_id, name, conn)
            await self.remove(conn, repo.id, keys)
