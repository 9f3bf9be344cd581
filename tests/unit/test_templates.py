"""Repository creation templates, resource tags, account settings and repository settings in
the domain core, without a server (a real SQLite database in a temporary directory)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.core import account_settings, resource_tags
from dockyard.core.repositories import (
    InvalidRepositorySetting,
    RepositoryService,
    check_encryption,
    check_mutability,
    default_kms_key,
)
from dockyard.core.templates import (
    InvalidTemplate,
    TemplateAlreadyExists,
    TemplateNotFound,
    TemplateService,
    check_applied_for,
    check_lifecycle_policy,
    check_repository_policy,
    check_role,
    normalize_prefix,
)
from dockyard.store.meta.database import Database

T = TypeVar("T")
ACCOUNT = "123456789012"


def run(make: Callable[[Database], Awaitable[T]], tmp_path: Path) -> T:
    async def main() -> T:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
        await db.migrate()
        try:
            return await make(db)
        finally:
            await db.close()

    return asyncio.run(main())


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "description": None,
        "encryption": None,
        "tags": None,
        "mutability": None,
        "exclusions": None,
        "repository_policy": None,
        "lifecycle_policy": None,
        "applied_for": ["CREATE_ON_PUSH"],
        "custom_role_arn": None,
    }
    return base | overrides


# ---------------------------------------------------------------- pure validation


def test_normalize_prefix() -> None:
    assert normalize_prefix("prod/") == "prod"
    assert normalize_prefix("prod/team") == "prod/team"
    assert normalize_prefix("ROOT") == "ROOT"


def test_check_applied_for() -> None:
    assert check_applied_for(["CREATE_ON_PUSH", "CREATE_ON_PUSH", "REPLICATION"]) == [
        "CREATE_ON_PUSH",
        "REPLICATION",
    ]
    with pytest.raises(InvalidTemplate):
        check_applied_for([])
    with pytest.raises(InvalidTemplate):
        check_applied_for(["ON_PULL"])


def test_policy_checks() -> None:
    assert check_repository_policy("") is None
    assert check_repository_policy('{"Statement": []}') == '{"Statement": []}'
    for bad in ("{", "[]", '{"Version": "2012-10-17"}'):
        with pytest.raises(InvalidTemplate, match="Invalid repository policy provided"):
            check_repository_policy(bad)
    assert check_lifecycle_policy('{"rules": []}') == '{"rules": []}'
    for bad in ("{", "{}", '{"rules": 1}'):
        with pytest.raises(InvalidTemplate, match="Lifecycle policy validation failure"):
            check_lifecycle_policy(bad)


def test_check_role() -> None:
    assert check_role(None, ACCOUNT) is None
    arn = f"arn:aws:iam::{ACCOUNT}:role/path/name"
    assert check_role(arn, ACCOUNT) == arn
    with pytest.raises(InvalidTemplate):
        check_role("arn:aws:iam::999999999999:role/x", ACCOUNT)
    with pytest.raises(InvalidTemplate):
        check_role(f"arn:aws:iam::{ACCOUNT}:user/x", ACCOUNT)


def test_check_mutability() -> None:
    filters = [{"filterType": "WILDCARD", "filter": "dev-*"}]
    assert check_mutability("MUTABLE", None) is None
    assert check_mutability("IMMUTABLE_WITH_EXCLUSION", filters) == filters
    with pytest.raises(InvalidRepositorySetting, match="can't be null"):
        check_mutability("MUTABLE_WITH_EXCLUSION", None)
    with pytest.raises(InvalidRepositorySetting):
        check_mutability("IMMUTABLE", filters)
    with pytest.raises(InvalidRepositorySetting):
        check_mutability("SOMETIMES", None)


def test_check_encryption() -> None:
    assert check_encryption("AES256", None, ACCOUNT, "eu-west-1") == ("AES256", None)
    assert check_encryption("KMS", None, ACCOUNT, "eu-west-1") == (
        "KMS",
        default_kms_key(ACCOUNT, "eu-west-1"),
    )
    assert re.fullmatch(
        rf"arn:aws:kms:eu-west-1:{ACCOUNT}:key/[0-9a-f-]{{36}}", default_kms_key(ACCOUNT, "eu-west-1")
    )
    assert check_encryption("KMS_DSSE", "alias/mine", ACCOUNT, "eu-west-1") == ("KMS_DSSE", "alias/mine")
    with pytest.raises(InvalidRepositorySetting):
        check_encryption("AES256", "alias/mine", ACCOUNT, "eu-west-1")


def test_resource_tag_rules() -> None:
    assert resource_tags.normalize([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]) == {"a": "2"}
    assert resource_tags.normalize([{"Key": "ключ é", "Value": "x:y/z=+-@_. 1"}]) == {
        "ключ é": "x:y/z=+-@_. 1"
    }
    assert len(resource_tags.normalize([{"Key": f"k{i}", "Value": ""} for i in range(50)])) == 50
    with pytest.raises(resource_tags.TooManyTags):
        resource_tags.normalize([{"Key": f"k{i}", "Value": ""} for i in range(51)])
    for bad in ({"Key": "", "Value": ""}, {"Key": "k" * 129, "Value": ""}, {"Key": "a", "Value": "v" * 257}):
        with pytest.raises(resource_tags.InvalidTag):
            resource_tags.normalize([bad])
    for bad_key in ("AWS:x", "a#b", "tab\there"):
        with pytest.raises(resource_tags.InvalidTag):
            resource_tags.normalize([{"Key": bad_key, "Value": ""}])


def test_account_setting_specs() -> None:
    assert {name: spec.default for name, spec in account_settings.SETTINGS.items()} == {
        "BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE",
        "REGISTRY_POLICY_SCOPE": "V2",
        "BLOB_MOUNTING": "DISABLED",
    }
    with pytest.raises(account_settings.InvalidSetting):
        account_settings.spec_for("NOPE")
    with pytest.raises(account_settings.InvalidSetting):
        account_settings.check_value(account_settings.spec_for("BLOB_MOUNTING"), "enabled")


# ------------------------------------------------------------------ with a database


def test_template_lifecycle_and_matching(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        service = TemplateService(db)
        await service.create(ACCOUNT, "us-east-1", "ROOT", **fields(tags=[{"Key": "r", "Value": "1"}]))
        await service.create(ACCOUNT, "us-east-1", "prod/", **fields(mutability="IMMUTABLE"))
        await service.create(ACCOUNT, "us-east-1", "prod/team", **fields())
        await service.create(ACCOUNT, "us-east-1", "prod/mirror", **fields(applied_for=["REPLICATION"]))
        with pytest.raises(TemplateAlreadyExists):
            await service.create(ACCOUNT, "us-east-1", "prod", **fields())

        async def winner(name: str) -> str | None:
            found = await service.match(ACCOUNT, name, "CREATE_ON_PUSH")
            return found.prefix if found else None

        assert await winner("prod/team/api") == "prod/team"
        assert await winner("prod/teamwork") == "prod"
        assert await winner("prod/mirror/x") == "prod"
        assert await winner("prod") == "ROOT"
        assert await winner("other") == "ROOT"
        assert (await service.match(ACCOUNT, "prod/mirror/x", "REPLICATION")).prefix == "prod/mirror"  # type: ignore[union-attr]
        assert await service.match("000000000000", "prod/x", "CREATE_ON_PUSH") is None

        updated = await service.update(ACCOUNT, "us-east-1", "prod", mutability="MUTABLE", exclusions=None)
        assert updated.image_tag_mutability == "MUTABLE"
        assert updated.resource_tags == {}

        deleted = await service.delete(ACCOUNT, "ROOT")
        assert deleted.resource_tags == {"r": "1"}
        assert await winner("other") is None
        with pytest.raises(TemplateNotFound):
            await service.delete(ACCOUNT, "ROOT")
        assert [t.prefix for t in await service.find(ACCOUNT, after="prod", limit=1)] == ["prod/mirror"]

    run(scenario, tmp_path)


def test_repository_settings_and_tags(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        repos = RepositoryService(db)
        tags = resource_tags.ResourceTagService(db)
        repo = await repos.create(
            ACCOUNT, "svc/api", resource_tags={"a": "1"}, policy="{}", lifecycle_policy="", kms_key=None
        )
        assert await tags.of(repo.id) == {"a": "1"}
        changed = await repos.set_tag_mutability(
            ACCOUNT, "svc/api", "IMMUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "x"}]
        )
        assert changed.tag_mutability_exclusions == [{"filterType": "WILDCARD", "filter": "x"}]
        assert (await repos.set_scan_on_push(ACCOUNT, "svc/api", True)).scan_on_push is True
        async with db.write() as conn:
            await tags.add(conn, repo.id, {f"k{i}": "" for i in range(49)})
        with pytest.raises(resource_tags.TooManyTags):
            async with db.write() as conn:
                await tags.add(conn, repo.id, {"one-too-many": ""})
        async with db.write() as conn:
            await tags.remove(conn, repo.id, ["a", "k0"])
        assert len(await tags.of(repo.id)) == 48
        await repos.create(ACCOUNT, "svc/web")
        assert [r.name for r in await repos.page(ACCOUNT, None, 1)] == ["svc/api"]
        assert [r.name for r in await repos.page(ACCOUNT, "svc/api", 10)] == ["svc/web"]
        await repos.delete(ACCOUNT, "svc/api")
        assert await tags.of(repo.id) == {}

        assert await account_settings.get(db, ACCOUNT, "BLOB_MOUNTING") == "DISABLED"
        assert not await account_settings.blob_mounting_enabled(db, ACCOUNT)
        await account_settings.put(db, ACCOUNT, "BLOB_MOUNTING", "ENABLED")
        await account_settings.put(db, ACCOUNT, "BLOB_MOUNTING", "ENABLED")
        assert await account_settings.blob_mounting_enabled(db, ACCOUNT)
        assert await account_settings.get(db, "999999999999", "BLOB_MOUNTING") == "DISABLED"

    run(scenario, tmp_path)
