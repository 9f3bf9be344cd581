"""Identity policies attached to users and groups (real SQLite database), and the account
listings the CLI reads through the domain."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.auth import groups, identity_policies
from dockyard.auth.authorizer import Authorizer
from dockyard.auth.identity_policies import PolicyHolder
from dockyard.auth.policy import MANAGED_POLICIES
from dockyard.config import Settings
from dockyard.registry import Registry

FULL = "AmazonEC2ContainerRegistryFullAccess"
READ = "AmazonEC2ContainerRegistryReadOnly"


def test_attach_replace_list_detach(tmp_path: Path) -> None:
    async def main() -> None:
        registry = Registry.build(Settings(data_dir=tmp_path))
        await registry.start()
        try:
            db, account = registry.db, registry.settings.account_id
            alice = await registry.identity.create_user(account, "alice")
            gid = await groups.create_group(db, account, "admins")
            user, group = PolicyHolder.user(alice.user_id), PolicyHolder.group(gid)

            await identity_policies.attach_policy(db, user, "mine", MANAGED_POLICIES[FULL])
            await identity_policies.attach_policy(db, user, "mine", MANAGED_POLICIES[READ])  # replaces
            await identity_policies.attach_policy(db, user, "another", MANAGED_POLICIES[READ])
            await identity_policies.attach_policy(db, group, FULL, MANAGED_POLICIES[FULL])
            assert await identity_policies.policy_names(db, user) == ["another", "mine"]
            assert await identity_policies.policy_names(db, group) == [FULL]

            await groups.add_member(db, gid, alice.user_id)
            found = {p.name: p for p in await Authorizer(db).identity_policies(alice)}
            assert set(found) == {"identity:another", "identity:mine", f"identity:group/admins/{FULL}"}

            assert await identity_policies.detach_policy(db, user, "mine")
            assert not await identity_policies.detach_policy(db, user, "mine")
            assert not await identity_policies.detach_policy(db, group, "mine")
            assert await identity_policies.policy_names(db, user) == ["another"]
        finally:
            await registry.close()

    asyncio.run(main())


def test_repositories_with_lifecycle_policy(tmp_path: Path) -> None:
    async def main() -> None:
        registry = Registry.build(Settings(data_dir=tmp_path))
        await registry.start()
        try:
            account = registry.settings.account_id
            policy = '{"rules": []}'
            await registry.repositories.create(account, "rb", lifecycle_policy=policy)
            await registry.repositories.create(account, "rc")
            await registry.repositories.create(account, "ra", lifecycle_policy=policy)
            await registry.repositories.create("111111111111", "rd", lifecycle_policy=policy)
            found = await registry.repositories.with_lifecycle_policy(account)
            assert [r.name for r in found] == ["ra", "rb"]
        finally:
            await registry.close()

    asyncio.run(main())
