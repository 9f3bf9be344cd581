"""Repository and registry policies: Set/Get/DeleteRepositoryPolicy, Put/Get/DeleteRegistryPolicy."""

from __future__ import annotations

import logging

from dockyard.auth.authorizer import authorizer_for
from dockyard.auth.policy import (
    PolicyDocument,
    PolicyError,
    ecr_invalid_policy_message,
    lockout_check,
    parse_policy,
)
from dockyard.auth.policy_admission import PRINCIPAL_NOT_FOUND, outside_v1_scope, unknown_principals
from dockyard.auth.policy_store import PolicyStore
from dockyard.core import account_settings
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.errors import (
    EcrError,
    invalid_parameter,
    registry_policy_not_found,
    repository_policy_not_found,
)

log = logging.getLogger("dockyard.ecr")

LOCKOUT_MESSAGE = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The repository policy would prevent "
    "you from setting a policy in the future. Set the force parameter to true to override this check.'"
)


def _store(call: Call) -> PolicyStore:
    return PolicyStore(call.registry.db)


async def _repository_policy(call: Call, account: str, name: str) -> str | None:
    # RepositoryNotFound (a DomainError) becomes RepositoryNotFoundException in the decorator.
    await call.registry.repositories.get(account, name)
    return await _store(call).repository_policy(account, name)


async def _store_repository_policy(call: Call, account: str, name: str, text: str | None) -> None:
    await _store(call).set_repository_policy(account, name, text)
    authorizer_for(call.registry).forget_repository_policy(account, name)


async def _refuse_unknown_principals(call: Call, document: PolicyDocument, account: str) -> None:
    """AWS refuses to save a resource policy naming a principal it cannot find; every account
    and user is local here, so we can do the same (and a typo never silently grants nobody)."""
    unknown = await unknown_principals(call.registry.db, document, account)
    if unknown:
        # ECR's answer never names them; the operator's log does.
        log.info("refused a policy for %s naming unknown principals: %s", account, ", ".join(unknown))
        raise invalid_parameter(PRINCIPAL_NOT_FOUND)


@action("SetRepositoryPolicy")
async def set_repository_policy(call: Call, params: Params) -> Result:
    account = call.account(params)
    name = params["repositoryName"]
    await call.registry.repositories.get(account, name)
    text = params["policyText"]
    try:
        document = parse_policy(text, "resource")
    except PolicyError:
        raise invalid_parameter(ecr_invalid_policy_message("repository")) from None
    await _refuse_unknown_principals(call, document, account)
    if not params.get("force"):
        authorizer = authorizer_for(call.registry)
        locked_out = lockout_check(
            document,
            call.principal,
            repository_arn=call.repository_arn(account, name),
            identity_policies=await authorizer.identity_policies(call.principal),
            registry_policy=await authorizer.registry_policy(account, "ecr:SetRepositoryPolicy"),
        )
        if locked_out:
            raise EcrError("InvalidParameterException", LOCKOUT_MESSAGE)
    await _store_repository_policy(call, account, name, text)
    return {"registryId": account, "repositoryName": name, "policyText": text}


@action("GetRepositoryPolicy")
async def get_repository_policy(call: Call, params: Params) -> Result:
    account = call.account(params)
    name = params["repositoryName"]
    text = await _repository_policy(call, account, name)
    if text is None:
        raise repository_policy_not_found(name, account)
    return {"registryId": account, "repositoryName": name, "policyText": text}


@action("DeleteRepositoryPolicy")
async def delete_repository_policy(call: Call, params: Params) -> Result:
    account = call.account(params)
    name = params["repositoryName"]
    text = await _repository_policy(call, account, name)
    if text is None:
        raise repository_policy_not_found(name, account)
    await _store_repository_policy(call, account, name, None)
    return {"registryId": account, "repositoryName": name, "policyText": text}


@action("PutRegistryPolicy")
async def put_registry_policy(call: Call, params: Params) -> Result:
    account = call.account(params)
    text = params["policyText"]
    try:
        document = parse_policy(text, "resource")
    except PolicyError:
        raise invalid_parameter(ecr_invalid_policy_message("registry")) from None
    scope = await account_settings.get(
        call.registry.db, account, "REGISTRY_POLICY_SCOPE", call.registry.account_setting_defaults
    )
    if scope == "V1" and outside_v1_scope(document):
        raise invalid_parameter(ecr_invalid_policy_message("registry"))
    await _refuse_unknown_principals(call, document, account)
    await call.registry.identity.ensure_account(account)
    await _store(call).set_registry_policy(account, text)
    return {"registryId": account, "policyText": text}


@action("GetRegistryPolicy")
async def get_registry_policy(call: Call, params: Params) -> Result:
    account = call.account(params)
    text = await _store(call).registry_policy(account)
    if text is None:
        raise registry_policy_not_found(account)
    return {"registryId": account, "policyText": text}


@action("DeleteRegistryPolicy")
async def delete_registry_policy(call: Call, params: Params) -> Result:
    account = call.account(params)
    text = await _store(call).registry_policy(account)
    if text is None:
        raise registry_policy_not_found(account)
    await _store(call).set_registry_policy(account, None)
    return {"registryId": account, "policyText": text}
