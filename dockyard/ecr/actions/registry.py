"""Registry-level reads and account settings: DescribeRegistry, GetAccountSetting, PutAccountSetting."""

from __future__ import annotations

from dockyard.core import account_settings
from dockyard.core.replication import replication_configuration
from dockyard.ecr.actions.base import Call, Params, Result, action


@action("DescribeRegistry")
async def describe_registry(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    config = await replication_configuration(call.registry.db, account_id)
    return {"registryId": account_id, "replicationConfiguration": config}


@action("GetAccountSetting")
async def get_account_setting(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    value = await account_settings.get(
        call.registry.db, account_id, params["name"], call.registry.account_setting_defaults
    )
    return {"name": params["name"], "value": value}


@action("PutAccountSetting")
async def put_account_setting(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    value = await account_settings.put(call.registry.db, account_id, params["name"], params["value"])
    return {"name": params["name"], "value": value}
