"""Lifecycle policies: PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy,
StartLifecyclePolicyPreview and GetLifecyclePolicyPreview.

Policies are validated by the engine (`dockyard.features.lifecycle`, ECR-strict) and kept in
``repositories.lifecycle_policy``. A preview is one row per repository in
``lifecycle_previews``, evaluated by the ``lifecycle-preview`` background job; clients poll
GetLifecyclePolicyPreview (the LifecyclePolicyPreviewComplete waiter) until it is COMPLETE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.errors import EcrError, from_validation, invalid_parameter, lifecycle_policy_not_found
from dockyard.ecr.pagination import open_cursor, seal_cursor
from dockyard.features.lifecycle import LifecyclePolicyError, parse_policy
from dockyard.features.lifecycle import runs as lifecycle_runs
from dockyard.features.lifecycle.policies import (
    LifecyclePolicies,
    LifecyclePolicyNotFound,
    PreviewInProgress,
)

DEFAULT_PAGE = 100
MAX_PAGE = 100
NEVER_EVALUATED = datetime(1970, 1, 1, tzinfo=UTC)
"""``lastEvaluatedAt`` of a policy that has not run yet. botocore marks the member optional, but
ECR always sends it: the aws CLI's documented example carries it, and captured responses of
policies that never ran show the epoch (cloud-custodian issue 9036: "1970-01-01T02:00:00+02:00");
outside ECR suites written against AWS read it unconditionally. So the epoch, not an omission."""


def _last_evaluated(value: datetime | None) -> datetime:
    return NEVER_EVALUATED if value is None else value


def _policies(call: Call) -> LifecyclePolicies:
    return LifecyclePolicies(call.registry.db, call.registry.repositories)


def _validated(text: str) -> str:
    try:
        parse_policy(text, strict_ecr=True)
    except LifecyclePolicyError as err:
        raise from_validation(err.kind, err.message) from None
    return text


def preview_in_progress() -> EcrError:
    return EcrError(
        "LifecyclePolicyPreviewInProgressException",
        "The previous lifecycle policy preview request has not completed. Wait and try again.",
    )


def preview_not_found(repository: str, registry_id: str) -> EcrError:
    return EcrError(
        "LifecyclePolicyPreviewNotFoundException",
        f"Lifecycle policy preview request does not exist for the repository with name '{repository}' "
        f"in the registry with id '{registry_id}'",
    )


@action("PutLifecyclePolicy")
async def put_lifecycle_policy(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    text = _validated(params["lifecyclePolicyText"])
    repo = await _policies(call).put(account_id, params["repositoryName"], text)
    return {"registryId": account_id, "repositoryName": repo.name, "lifecyclePolicyText": text}


@action("GetLifecyclePolicy")
async def get_lifecycle_policy(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    repo, policy = await _policies(call).get(account_id, params["repositoryName"])
    if not policy.text:
        raise lifecycle_policy_not_found(repo.name, account_id)
    return {
        "registryId": account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": policy.text,
        "lastEvaluatedAt": _last_evaluated(policy.evaluated_at),
    }


@action("DeleteLifecyclePolicy")
async def delete_lifecycle_policy(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    name = params["repositoryName"]
    try:
        repo, policy = await _policies(call).delete(account_id, name)
    except LifecyclePolicyNotFound:
        raise lifecycle_policy_not_found(name, account_id) from None
    return {
        "registryId": account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": policy.text,
        "lastEvaluatedAt": _last_evaluated(policy.evaluated_at),
    }


@action("StartLifecyclePolicyPreview")
async def start_lifecycle_policy_preview(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    given = params.get("lifecyclePolicyText")
    if given is not None:
        _validated(given)
    registry = call.registry
    name = params["repositoryName"]
    try:
        repo, text, now = await _policies(call).start_preview(account_id, name, given)
    except LifecyclePolicyNotFound:
        raise lifecycle_policy_not_found(name, account_id) from None
    except PreviewInProgress:
        raise preview_in_progress() from None
    await registry.enqueue(
        lifecycle_runs.PREVIEW,
        {"repository_id": repo.id},
        unique_key=f"{lifecycle_runs.PREVIEW}:{repo.id}:{now.timestamp()}",
    )
    return {
        "registryId": account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": text,
        "status": lifecycle_runs.IN_PROGRESS,
    }


def _matches_ids(result: dict[str, Any], ids: list[dict[str, Any]]) -> bool:
    for image_id in ids:
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        if digest is not None and digest != result.get("imageDigest"):
            continue
        if tag is not None and tag not in (result.get("imageTags") or []):
            continue
        if digest is None and tag is None:
            continue
        return True
    return False


@action("GetLifecyclePolicyPreview")
async def get_lifecycle_policy_preview(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    ids = params.get("imageIds")
    if ids is not None and ("maxResults" in params or "nextToken" in params):
        raise invalid_parameter(
            "Invalid parameter at 'imageIds' failed to satisfy constraint: "
            "'maxResults and nextToken cannot be used with imageIds'"
        )
    limit = int(params.get("maxResults", DEFAULT_PAGE))
    if not 1 <= limit <= MAX_PAGE:
        raise invalid_parameter(
            f"Invalid parameter at 'maxResults' failed to satisfy constraint: "
            f"'Member must have value between 1 and {MAX_PAGE}'"
        )
    repo, row = await _policies(call).preview(account_id, params["repositoryName"])
    if row is None:
        raise preview_not_found(repo.name, account_id)
    status = row.reported_status
    tag_status = str((params.get("filter") or {}).get("tagStatus") or "ANY")
    results: list[dict[str, Any]] = list(row.results or []) if status == lifecycle_runs.COMPLETE else []
    if tag_status == "TAGGED":
        results = [r for r in results if r.get("imageTags")]
    elif tag_status == "UNTAGGED":
        results = [r for r in results if not r.get("imageTags")]
    if ids is not None:
        results = [r for r in results if _matches_ids(r, ids)]
    scope = {"repo": repo.id, "started": row.started_at.timestamp(), "tagStatus": tag_status}
    cursor = await open_cursor(call, params, scope)
    start = int(cursor["c"]) if cursor is not None else 0
    page = results[start : start + limit]
    answer: dict[str, Any] = {
        "registryId": account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": row.policy_text,
        "status": status,
        "previewResults": [{**r, "imageTags": r.get("imageTags") or None} for r in page],
    }
    if row.summary is not None and status == lifecycle_runs.COMPLETE:
        answer["summary"] = row.summary
    if start + limit < len(results):
        answer["nextToken"] = await seal_cursor(call, scope, start + limit)
    return answer
