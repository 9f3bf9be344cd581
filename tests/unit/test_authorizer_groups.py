"""The authorizer reads the policies of a user's IAM groups (real SQLite database)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.auth import groups
from dockyard.auth.authorizer import Authorizer
from dockyard.auth.policy import MANAGED_POLICIES
from dockyard.config import Settings
from dockyard.registry import Registry
from dockyard.store.meta import tables as t

FULL = "AmazonEC2ContainerRegistryFullAccess"
READ = "AmazonEC2ContainerRegistryReadOnly"


def test_identity_policies_include_group_policies(tmp_path: Path) -> None:
    async def main() -> None:
        registry = Registry.build(Settings(data_dir=tmp_path))
        await registry.start()
        try:
            db, account = registry.db, registry.settings.account_id
            alice = await registry.identity.create_user(account, "alice")
            bob = await registry.identity.create_user(account, "bob")
            gid = await groups.create_group(db, account, "admins")
            async with db.write() as conn:
                await conn.execute(
                    t.user_policies.insert().values(
                        user_id=alice.user_id, name="own", document=MANAGED_POLICIES[READ]
                    )
                )
                await conn.execute(
                    t.iam_group_policies.insert().values(
                        group_id=gid, name=FULL, document=MANAGED_POLICIES[FULL]
                    )
                )
            authorizer = Authorizer(db)
            arn = f"arn:aws:ecr:us-east-1:{account}:repository/x"

            assert [p.name for p in await authorizer.identity_policies(alice)] == ["identity:own"]
            assert not (await authorizer.check(alice, "ecr:CreateRepository", arn, account, None)).allowed

            assert await groups.add_member(db, gid, alice.user_id)
            assert not await groups.add_member(db, gid, alice.user_id)
            names = [p.name for p in await authorizer.identity_policies(alice)]
            assert names == ["identity:own", f"identity:group/admins/{FULL}"]
            assert (await authorizer.check(alice, "ecr:CreateRepository", arn, account, None)).allowed
            assert await authorizer.identity_policies(bob) == ()
            assert await groups.list_groups(db, account, alice.user_id) == ["admins"]
            assert await groups.list_groups(db, account, bob.user_id) == []

            assert await groups.remove_member(db, gid, alice.user_id)
            assert not await groups.remove_member(db, gid, alice.user_id)
            assert not (await authorizer.check(alice, "ecr:CreateRepository", arn, account, None)).allowed
        finally:
            await registry.close()

    asyncio.run(main())
