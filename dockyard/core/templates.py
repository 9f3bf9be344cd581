"""Repository creation templates: the settings ECR gives repositories it creates for you.

A template belongs to a namespace prefix (``prod`` covers ``prod/...``; a trailing ``/`` is
implied) or to ``ROOT`` (every repository no other template covers), and says for which
creation paths it applies (``appliedFor``: ``CREATE_ON_PUSH``, ``PULL_THROUGH_CACHE``,
``REPLICATION``). The longest matching prefix wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dockyard.core import resource_tags, untrusted_json
from dockyard.core.errors import DomainError
from dockyard.core.repositories import InvalidRepositorySetting, check_encryption, check_mutability
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

ROOT = "ROOT"
APPLIED_FOR = ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH")
CREATE_ON_PUSH = "CREATE_ON_PUSH"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]+$")
_UNSET: Any = object()


class TemplateAlreadyExists(DomainError):
    pass


class TemplateNotFound(DomainError):
    pass


class InvalidTemplate(DomainError):
    pass


@dataclass(frozen=True)
class Template:
    account_id: str
    prefix: str
    description: str | None
    encryption_type: str
    kms_key: str | None
    resource_tags: dict[str, str]
    image_tag_mutability: str
    exclusions: list[dict[str, str]] | None
    repository_policy: str | None
    lifecycle_policy: str | None
    applied_for: list[str]
    custom_role_arn: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Template:
        encryption = row.encryption_configuration or {}
        return cls(
            account_id=row.account_id,
            prefix=row.prefix,
            description=row.description,
            encryption_type=encryption.get("encryptionType", "AES256"),
            kms_key=encryption.get("kmsKey") or None,
            resource_tags={tag["Key"]: tag["Value"] for tag in row.resource_tags or []},
            image_tag_mutability=row.image_tag_mutability or "MUTABLE",
            exclusions=row.image_tag_mutability_exclusion_filters or None,
            repository_policy=row.repository_policy,
            lifecycle_policy=row.lifecycle_policy,
            applied_for=list(row.applied_for or []),
            custom_role_arn=row.custom_role_arn,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def matches(self, repository_name: str) -> bool:
        return self.prefix == ROOT or repository_name.startswith(self.prefix + "/")


def normalize_prefix(prefix: str) -> str:
    """``prod/`` and ``prod`` name the same template (a trailing ``/`` is always implied)."""
    return prefix if prefix == ROOT else prefix.rstrip("/")


def already_exists(prefix: str, account_id: str) -> TemplateAlreadyExists:
    return TemplateAlreadyExists(
        f"The repository creation template with prefix '{prefix}' already exists in the registry "
        f"with id '{account_id}'"
    )


def not_found(prefix: str, account_id: str) -> TemplateNotFound:
    return TemplateNotFound(
        f"The repository creation template with prefix '{prefix}' does not exist in the registry "
        f"with id '{account_id}'"
    )


def check_repository_policy(text: str | None) -> str | None:
    if not text:
        return None
    try:
        doc = untrusted_json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise InvalidTemplate(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
            "'Invalid repository policy provided'"
        )
    return text


def check_lifecycle_policy(text: str | None) -> str | None:
    if not text:
        return None
    try:
        doc = untrusted_json.loads(text)
    except ValueError:
        raise InvalidTemplate(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
            "'Lifecycle policy validation failure: Could not map policyString into LifecyclePolicy.'"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise InvalidTemplate(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
            "'Lifecycle policy validation failure: object has missing required properties ([\"rules\"])'"
        )
    return text


def check_applied_for(applied_for: list[str]) -> list[str]:
    if not applied_for:
        raise InvalidTemplate(
            "Invalid parameter at 'appliedFor' failed to satisfy constraint: "
            "'Member must have length greater than or equal to 1'"
        )
    out: list[str] = []
    for item in applied_for:
        if item not in APPLIED_FOR:
            raise InvalidTemplate(
                f"Invalid parameter at 'appliedFor' failed to satisfy constraint: "
                f"'Member must satisfy enum value set: [{', '.join(APPLIED_FOR)}]'"
            )
        if item not in out:
            out.append(item)
    return out


def check_role(arn: str | None, account_id: str) -> str | None:
    if not arn:
        return None
    m = _ROLE_ARN.match(arn)
    if m is None:
        raise InvalidTemplate(
            f"Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'Invalid role ARN {arn}'"
        )
    if m.group(1) != account_id:
        raise InvalidTemplate(
            "Invalid parameter at 'customRoleArn' failed to satisfy constraint: "
            "'The role must be in the same account as the registry'"
        )
    return arn


class TemplateService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, account_id: str, prefix: str) -> Template:
        rct = t.repository_creation_templates
        prefix = normalize_prefix(prefix)
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(rct).where(rct.c.account_id == account_id, rct.c.prefix == prefix)
                )
            ).first()
        if row is None:
            raise not_found(prefix, account_id)
        return Template.from_row(row)

    async def find(
        self,
        account_id: str,
        prefixes: list[str] | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Template]:
        rct = t.repository_creation_templates
        query = sa.select(rct).where(rct.c.account_id == account_id).order_by(rct.c.prefix)
        if prefixes is not None:
            query = query.where(rct.c.prefix.in_([normalize_prefix(p) for p in prefixes]))
        if after is not None:
            query = query.where(rct.c.prefix > after)
        if limit is not None:
            query = query.limit(limit)
        async with self.db.read() as conn:
            return [Template.from_row(row) for row in await conn.execute(query)]

    def _values(
        self,
        account_id: str,
        region: str,
        *,
        description: str | None,
        encryption: dict[str, Any] | None,
        tags: list[dict[str, str]] | None,
        mutability: str | None,
        exclusions: list[dict[str, str]] | None,
        repository_policy: str | None,
        lifecycle_policy: str | None,
        applied_for: list[str],
        custom_role_arn: str | None,
    ) -> dict[str, Any]:
        mode = mutability or "MUTABLE"
        try:
            filters = check_mutability(mode, exclusions)
            if encryption:
                kms_key = encryption.get("kmsKey") or None
                encryption_type, _ = check_encryption(
                    encryption["encryptionType"], kms_key, account_id, region
                )
                stored_encryption: dict[str, str] = {"encryptionType": encryption_type}
                if kms_key:
                    stored_encryption["kmsKey"] = kms_key
            else:
                stored_encryption = {"encryptionType": "AES256"}
            tag_map = resource_tags.normalize(tags)
        except (InvalidRepositorySetting, resource_tags.InvalidTag, resource_tags.TooManyTags) as err:
            raise InvalidTemplate(err.message) from None
        return {
            "description": description,
            "encryption_configuration": stored_encryption,
            "resource_tags": resource_tags.as_list(tag_map),
            "image_tag_mutability": mode,
            "image_tag_mutability_exclusion_filters": filters,
            "repository_policy": check_repository_policy(repository_policy),
            "lifecycle_policy": check_lifecycle_policy(lifecycle_policy),
            "applied_for": check_applied_for(applied_for),
            "custom_role_arn": check_role(custom_role_arn, account_id),
        }

    async def create(self, account_id: str, region: str, prefix: str, **fields: Any) -> Template:
        prefix = normalize_prefix(prefix)
        values = self._values(account_id, region, **fields)
        now = t.now()
        try:
            async with self.db.write() as conn:
                await conn.execute(self.db.insert_ignore(t.accounts).values(id=account_id, created_at=now))
                await conn.execute(
                    t.repository_creation_templates.insert().values(
                        account_id=account_id, prefix=prefix, created_at=now, updated_at=now, **values
                    )
                )
        except IntegrityError:
            raise already_exists(prefix, account_id) from None
        return await self.get(account_id, prefix)

    async def update(self, account_id: str, region: str, prefix: str, **changes: Any) -> Template:
        """Change the given fields (the others keep their values), revalidating the whole."""
        current = await self.get(account_id, prefix)
        merged: dict[str, Any] = {
            "description": current.description,
            "encryption": {"encryptionType": current.encryption_type, "kmsKey": current.kms_key},
            "tags": resource_tags.as_list(current.resource_tags),
            "mutability": current.image_tag_mutability,
            "exclusions": current.exclusions,
            "repository_policy": current.repository_policy,
            "lifecycle_policy": current.lifecycle_policy,
            "applied_for": current.applied_for,
            "custom_role_arn": current.custom_role_arn,
        }
        for key, value in changes.items():
            if value is not _UNSET:
                merged[key] = value
        if changes.get("mutability", _UNSET) is not _UNSET and changes.get("exclusions", _UNSET) is _UNSET:
            merged["exclusions"] = None  # a new mode without filters drops the old filters
        values = self._values(account_id, region, **merged)
        rct = t.repository_creation_templates
        async with self.db.write() as conn:
            result = await conn.execute(
                rct.update()
                .where(rct.c.account_id == account_id, rct.c.prefix == current.prefix)
                .values(updated_at=t.now(), **values)
            )
        if not result.rowcount:
            raise not_found(current.prefix, account_id)
        return await self.get(account_id, current.prefix)

    async def delete(self, account_id: str, prefix: str) -> Template:
        template = await self.get(account_id, prefix)
        rct = t.repository_creation_templates
        async with self.db.write() as conn:
            result = await conn.execute(
                rct.delete().where(rct.c.account_id == account_id, rct.c.prefix == template.prefix)
            )
        if not result.rowcount:
            raise not_found(template.prefix, account_id)
        return template

    async def match(self, account_id: str, repository_name: str, applied_for: str) -> Template | None:
        """The template for a repository ECR creates on ``applied_for``: the longest matching
        prefix, else ROOT, else None."""
        best: Template | None = None
        for template in await self.find(account_id):
            if applied_for not in template.applied_for or not template.matches(repository_name):
                continue
            if (
                best is None
                or best.prefix == ROOT
                or (template.prefix != ROOT and len(template.prefix) > len(best.prefix))
            ):
                best = template
        return best


UNSET = _UNSET
