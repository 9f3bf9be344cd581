"""Pull-time update exclusions: RegisterPullTimeUpdateExclusion,
DeregisterPullTimeUpdateExclusion, ListPullTimeUpdateExclusions.

Pulls by an excluded principal (a scanner, a backup job) leave lastRecordedPullTime
alone, so `sinceImagePulled` lifecycle rules see only real use. The list belongs to the
caller's registry; at most 100 IAM user or role ARNs (the model's PrincipalArn pattern).
"""

from __future__ import annotations

import re

from dockyard.core.pull_exclusions import MAX_EXCLUSIONS, PullExclusionService
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.errors import invalid_parameter
from dockyard.ecr.pagination import bad_token, open_cursor, seal_cursor

# The model's PrincipalArn: an IAM role or user (max 200 characters).
PRINCIPAL_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@-]+(/[\w+=,.@-]+)*$")
MAX_ARN_LENGTH = 200
DEFAULT_PAGE = MAX_EXCLUSIONS


def _principal(params: Params) -> str:
    arn = params.get("principalArn")
    if not isinstance(arn, str) or len(arn) > MAX_ARN_LENGTH or not PRINCIPAL_ARN.match(arn):
        raise invalid_parameter(
            "Invalid parameter at 'principalArn' failed to satisfy constraint: 'must be the ARN of an "
            "IAM role or user, matching arn:aws:iam::<account>:(role|user)/<name>'"
        )
    return arn


def _service(call: Call) -> PullExclusionService:
    return PullExclusionService(call.registry.db)


@action("RegisterPullTimeUpdateExclusion")
async def register_pull_time_update_exclusion(call: Call, params: Params) -> Result:
    account = call.account(params)
    arn = _principal(params)
    # ExclusionAlreadyExists, ExclusionLimitExceeded: by the door's error table (ecr.errors).
    exclusion = await _service(call).register(account, arn)
    return {"principalArn": exclusion.principal_arn, "createdAt": exclusion.created_at}


@action("DeregisterPullTimeUpdateExclusion")
async def deregister_pull_time_update_exclusion(call: Call, params: Params) -> Result:
    account = call.account(params)
    arn = _principal(params)
    await _service(call).deregister(account, arn)  # ExclusionNotFound: by the error table
    return {"principalArn": arn}


@action("ListPullTimeUpdateExclusions")
async def list_pull_time_update_exclusions(call: Call, params: Params) -> Result:
    account = call.account(params)
    scope = {"registry": account}
    token = await open_cursor(call, params, scope)
    after = token["c"] if token else None
    if after is not None and not isinstance(after, str):
        raise bad_token()
    # The output list holds at most 100 entries, whatever maxResults (1-1000) asks for.
    limit = min(int(params.get("maxResults") or DEFAULT_PAGE), MAX_EXCLUSIONS)
    items, more = await _service(call).page(account, after, limit)
    return {
        "pullTimeUpdateExclusions": [item.principal_arn for item in items],
        "nextToken": await seal_cursor(call, scope, items[-1].principal_arn) if more and items else None,
    }
