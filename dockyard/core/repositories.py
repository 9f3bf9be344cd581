"""Repositories: created before a push (as in ECR), listed, looked up, updated, deleted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.core.errors import (
    DomainError,
    RepositoryAlreadyExists,
    RepositoryNotEmpty,
    RepositoryNotFound,
)
from dockyard.core.names import validate_repository_name
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    account_id: str
    name: str
    created_at: datetime
    tag_mutability: str
    tag_mutability_exclusions: list[dict[str, str]] | None
    scan_on_push: bool
    encryption_type: str
    kms_key: str | None

    @classmethod
    def from_row(cls, row: Any) -> Repository:
        return cls(
            id=row.id,
            account_id=row.account_id,
            name=row.name,
            created_at=row.created_at,
            tag_mutability=row.tag_mutability,
            tag_mutability_exclusions=row.tag_mutability_exclusions,
            scan_on_push=bool(row.scan_on_push),
            encryption_type=row.encryption_type,
            kms_key=row.kms_key,
        )


# Every request on a repository looks it up: the statement is built once.
_BY_NAME = sa.select(t.repositories).where(
    t.repositories.c.account_id == sa.bindparam("account_id"), t.repositories.c.name == sa.bindparam("name")
)

MUTABILITY_MODES = ("IMMUTABLE", "MUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION")
"""In the order ECR's enum error lists them, which is not the botocore model's
(MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION): captured AWS errors read
"[IMMUTABLE, MUTABLE]" before the exclusion modes existed, and suites written against AWS since
(moto's, for one) expect "[IMMUTABLE, MUTABLE, MUTABLE_WITH_EXCLUSION, IMMUTABLE_WITH_EXCLUSION]";
none shows the model's order. ECR's service-side enum order, then, for this message."""
EXCLUSION_MODES = ("IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
ENCRYPTION_TYPES = ("AES256", "KMS", "KMS_DSSE")


class InvalidRepositorySetting(DomainError):
    """A repository setting ECR refuses (mutability vs. exclusion filters, encryption)."""


def check_mutability(mode: str, exclusions: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
    """ECR's pairing rule: exclusion filters go with (and only with) the *_WITH_EXCLUSION modes.

    Returns the filters to store (None for the plain modes).
    """
    if mode not in MUTABILITY_MODES:
        raise InvalidRepositorySetting(
            f"Invalid parameter at 'imageTagMutability' failed to satisfy constraint: "
            f"'Member must satisfy enum value set: [{', '.join(MUTABILITY_MODES)}]'"
        )
    if mode in EXCLUSION_MODES and not exclusions:
        raise InvalidRepositorySetting(
            "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
            f"'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {mode}'"
        )
    if mode not in EXCLUSION_MODES and exclusions:
        raise InvalidRepositorySetting(
            "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
            f"'ImageTagMutabilityExclusionFilters must be null when imageTagMutability is set as {mode}'"
        )
    if not exclusions:
        return None
    return [{"filterType": f.get("filterType", "WILDCARD"), "filter": f["filter"]} for f in exclusions]


def default_kms_key(account_id: str, region: str) -> str:
    """The AWS managed key ECR uses for KMS encryption when no key is named, by its key ARN.

    ECR answers with the key ARN of the ``aws/ecr`` managed key, not the alias (terraform's
    acceptance tests against AWS match ``kms:<region>:<account>:key/<uuid>`` for a repository
    created with KMS and no key), so the ID is a UUID fixed per account and region: every
    repository of a registry names the same key, as every repository of an AWS account does.
    """
    key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"dockyard:kms:{region}:{account_id}:alias/aws/ecr")
    return f"arn:aws:kms:{region}:{account_id}:key/{key_id}"


def check_encryption(
    encryption_type: str, kms_key: str | None, account_id: str, region: str
) -> tuple[str, str | None]:
    """(encryptionType, kmsKey) to record: AES256 carries no key; KMS defaults to aws/ecr."""
    if encryption_type not in ENCRYPTION_TYPES:
        raise InvalidRepositorySetting(
            "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: "
            f"'Member must satisfy enum value set: [{', '.join(ENCRYPTION_TYPES)}]'"
        )
    if encryption_type == "AES256":
        if kms_key:
            raise InvalidRepositorySetting(
                "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: "
                "'KMS key is not supported for encryption type AES256'"
            )
        return encryption_type, None
    return encryption_type, kms_key or default_kms_key(account_id, region)


def not_found(account_id: str, name: str) -> RepositoryNotFound:
    # ECR's exact wording, which both doors return.
    return RepositoryNotFound(
        f"The repository with name '{name}' does not exist in the registry with id '{account_id}'"
    )


class RepositoryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure_account(self, conn: AsyncConnection, account_id: str) -> None:
        await conn.execute(self.db.insert_ignore(t.accounts).values(id=account_id, created_at=t.now()))

    async def create(
        self,
        account_id: str,
        name: str,
        *,
        tag_mutability: str = "MUTABLE",
        tag_mutability_exclusions: list[dict[str, str]] | None = None,
        scan_on_push: bool = False,
        encryption_type: str = "AES256",
        kms_key: str | None = None,
        conn: AsyncConnection | None = None,
        resource_tags: dict[str, str] | None = None,
        policy: str | None = None,
        lifecycle_policy: str | None = None,
    ) -> Repository:
        validate_repository_name(name)
        values = {
            "account_id": account_id,
            "name": name,
            "created_at": t.now(),
            "tag_mutability": tag_mutability,
            "tag_mutability_exclusions": tag_mutability_exclusions,
            "scan_on_push": scan_on_push,
            "encryption_type": encryption_type,
            "kms_key": kms_key,
            "policy": policy or None,
            "lifecycle_policy": lifecycle_policy or None,
        }
        if conn is not None:
            return await self._insert(conn, values, resource_tags)
        try:
            async with self.db.write() as wconn:
                return await self._insert(wconn, values, resource_tags)
        except IntegrityError:
            raise RepositoryAlreadyExists(
                f"The repository with name '{name}' already exists in the registry with id '{account_id}'"
            ) from None

    async def _insert(
        self, conn: AsyncConnection, values: dict[str, Any], resource_tags: dict[str, str] | None = None
    ) -> Repository:
        await self.ensure_account(conn, values["account_id"])
        result = await conn.execute(t.repositories.insert().values(**values).returning(t.repositories))
        repo = Repository.from_row(result.one())
        for key, value in (resource_tags or {}).items():
            await conn.execute(t.repository_tags.insert().values(repository_id=repo.id, key=key, value=value))
        return repo

    async def get(self, account_id: str, name: str, conn: AsyncConnection | None = None) -> Repository:
        params = {"account_id": account_id, "name": name}
        if conn is None:
            async with self.db.read() as rconn:
                row = (await rconn.execute(_BY_NAME, params)).first()
        else:
            row = (await conn.execute(_BY_NAME, params)).first()
        if row is None:
            raise not_found(account_id, name)
        return Repository.from_row(row)

    async def list_names(self, account_id: str, last: str | None, limit: int | None) -> list[str]:
        query = (
            sa.select(t.repositories.c.name)
            .where(t.repositories.c.account_id == account_id)
            .order_by(t.repositories.c.name)
        )
        if last:
            query = query.where(t.repositories.c.name > last)
        if limit is not None:
            query = query.limit(limit)
        async with self.db.read() as conn:
            return list((await conn.execute(query)).scalars())

    async def page(self, account_id: str, after: str | None, limit: int) -> list[Repository]:
        """Up to ``limit`` repositories of the account, by name, after the name ``after``."""
        query = (
            sa.select(t.repositories)
            .where(t.repositories.c.account_id == account_id)
            .order_by(t.repositories.c.name)
            .limit(limit)
        )
        if after is not None:
            query = query.where(t.repositories.c.name > after)
        async with self.db.read() as conn:
            return [Repository.from_row(r) for r in await conn.execute(query)]

    async def set_tag_mutability(
        self, account_id: str, name: str, mode: str, exclusions: list[dict[str, str]] | None
    ) -> Repository:
        exclusions = check_mutability(mode, exclusions)
        return await self._update(account_id, name, tag_mutability=mode, tag_mutability_exclusions=exclusions)

    async def set_scan_on_push(self, account_id: str, name: str, scan_on_push: bool) -> Repository:
        return await self._update(account_id, name, scan_on_push=scan_on_push)

    async def _update(self, account_id: str, name: str, **values: Any) -> Repository:
        async with self.db.write() as conn:
            result = await conn.execute(
                t.repositories.update()
                .where(t.repositories.c.account_id == account_id, t.repositories.c.name == name)
                .values(**values)
                .returning(t.repositories)
            )
            row = result.first()
        if row is None:
            raise not_found(account_id, name)
        return Repository.from_row(row)

    async def with_lifecycle_policy(self, account_id: str) -> list[Repository]:
        """The account's repositories that have a lifecycle policy, by name."""
        r = t.repositories
        query = (
            sa.select(r)
            .where(r.c.account_id == account_id, r.c.lifecycle_policy.is_not(None))
            .order_by(r.c.name)
        )
        async with self.db.read() as conn:
            return [Repository.from_row(row) for row in await conn.execute(query)]

    async def list(self, account_id: str, names: list[str] | None = None) -> list[Repository]:
        query = (
            sa.select(t.repositories)
            .where(t.repositories.c.account_id == account_id)
            .order_by(t.repositories.c.name)
        )
        if names is not None:
            query = query.where(t.repositories.c.name.in_(names))
        async with self.db.read() as conn:
            return [Repository.from_row(r) for r in await conn.execute(query)]

    async def delete(self, account_id: str, name: str, force: bool = False) -> Repository:
        async with self.db.write() as conn:
            repo = await self.get(account_id, name, conn)
            if not force:
                count = await conn.scalar(
                    sa.select(sa.func.count()).where(t.manifests.c.repository_id == repo.id)
                )
                if count:
                    raise RepositoryNotEmpty(
                        f"The repository with name '{name}' in registry with id '{account_id}' "
                        "cannot be deleted because it still contains images"
                    )
            # Children first: SQLite only cascades with foreign_keys on, and PostgreSQL
            # would otherwise check every cascade row by row.
            manifest_ids = sa.select(t.manifests.c.id).where(t.manifests.c.repository_id == repo.id)
            await conn.execute(t.tags.delete().where(t.tags.c.repository_id == repo.id))
            await conn.execute(
                t.manifest_blobs.delete().where(t.manifest_blobs.c.manifest_id.in_(manifest_ids))
            )
            await conn.execute(
                t.manifest_children.delete().where(t.manifest_children.c.parent_id.in_(manifest_ids))
            )
            await conn.execute(t.manifests.delete().where(t.manifests.c.repository_id == repo.id))
            await conn.execute(
                t.repository_blobs.delete().where(t.repository_blobs.c.repository_id == repo.id)
            )
            await conn.execute(t.uploads.delete().where(t.uploads.c.repository_id == repo.id))
            await conn.execute(t.repository_tags.delete().where(t.repository_tags.c.repository_id == repo.id))
            await conn.execute(t.repositories.delete().where(t.repositories.c.id == repo.id))
            return repo
