"""Registry-level reads and account settings: DescribeRegistry, GetAccountSetting, PutAccountSetting."""

from __future__ import annotations

import sqlalchemy as sa

from dockyard.core import account_settings
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.actions.repositories import translated
from dockyard.store.meta import tables as t


@action("DescribeRegistry")
@translated
async def describe_registry(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    async with call.registry.db.read() as conn:
        config = await conn.scalar(
            sa.select(t.accounts.c.replication_configuration).where(t.accounts.c.id == account_id)
        )
    if not isinstance(config, dict) or not isinstance(config.get("rules"), list):
        config = {"rules": []}
    return {"registryId": account_id, "replicationConfiguration": config}


@action("GetAccountSetting")
@translated
async def get_account_setting(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    value = await account_settings.get(
        call.registry.db, account_id, params["name"], call.registry.account_setting_defaults
    )
    return {"name": params["name"], "value": value}


@action("PutAccountSetting")
@translated
async def put_account_setting(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    value = await account_settings.put(call.registry.db, account_id, params["name"], params["value"])
    return {"name": params["name"], "value": value}
