"""Lifecycle policies: PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy,
StartLifecyclePolicyPreview and GetLifecyclePolicyPreview.

Policies are validated by the engine (`dockyard.features.lifecycle`, ECR-strict) and kept in
``repositories.lifecycle_policy``. A preview is one row per repository in
``lifecycle_previews``, evaluated by the ``lifecycle-preview`` background job; clients poll
GetLifecyclePolicyPreview (the LifecyclePolicyPreviewComplete waiter) until it is COMPLETE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.actions.images import open_token, seal_token
from dockyard.ecr.errors import EcrError, invalid_parameter, lifecycle_policy_not_found
from dockyard.features.lifecycle import LifecyclePolicyError, parse_policy
from dockyard.features.lifecycle import runs as lifecycle_runs
from dockyard.store.meta import tables as t

EXPIRED = "EXPIRED"
DEFAULT_PAGE = 100
MAX_PAGE = 100
NEVER_EVALUATED = datetime(1970, 1, 1, tzinfo=UTC)
"""``lastEvaluatedAt`` of a policy that has not run yet. botocore marks the member optional, but
ECR always sends it: the aws CLI's documented example carries it, and captured responses of
policies that never ran show the epoch (cloud-custodian issue 9036: "1970-01-01T02:00:00+02:00");
outside ECR suites written against AWS read it unconditionally. So the epoch, not an omission."""


def _last_evaluated(value: datetime | None) -> datetime:
    return NEVER_EVALUATED if value is None else value


# An IN_PROGRESS preview this old is taken as lost (its job failed for good), not as running:
# it reads FAILED, so the LifecyclePolicyPreviewComplete waiter stops instead of timing out.
STALE_PREVIEW = timedelta(hours=1)
# Results are kept this long after a preview completes; then it reads EXPIRED, without them
# (the model's fourth LifecyclePolicyPreviewStatus), until a new preview is started.
PREVIEW_RESULTS_TTL = timedelta(hours=24)


def preview_status(row: Any, now: datetime) -> str:
    """The status GetLifecyclePolicyPreview reports for a preview row at ``now``."""
    if row.status == lifecycle_runs.IN_PROGRESS and row.started_at <= now - STALE_PREVIEW:
        return lifecycle_runs.FAILED
    finished = row.finished_at or row.started_at
    if row.status == lifecycle_runs.COMPLETE and finished <= now - PREVIEW_RESULTS_TTL:
        return EXPIRED
    return str(row.status)


def _validated(text: str) -> str:
    try:
        parse_policy(text, strict_ecr=True)
    except LifecyclePolicyError as err:
        raise EcrError(err.code, err.message) from None
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
    registry = call.registry
    async with registry.db.write() as conn:
        repo = await registry.repositories.get(account_id, params["repositoryName"], conn)
        await conn.execute(
            t.repositories.update().where(t.repositories.c.id == repo.id).values(lifecycle_policy=text)
        )
    return {"registryId": account_id, "repositoryName": repo.name, "lifecyclePolicyText": text}


async def _policy_row(call: Call, account_id: str, name: str) -> Any:
    registry = call.registry
    async with registry.db.read() as conn:
        repo = await registry.repositories.get(account_id, name, conn)
        r = t.repositories
        return repo, (
            await conn.execute(
                sa.select(r.c.lifecycle_policy, r.c.lifecycle_evaluated_at).where(r.c.id == repo.id)
            )
        ).one()


@action("GetLifecyclePolicy")
async def get_lifecycle_policy(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    repo, row = await _policy_row(call, account_id, params["repositoryName"])
    if not row.lifecycle_policy:
        raise lifecycle_policy_not_found(repo.name, account_id)
    return {
        "registryId": account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": row.lifecycle_policy,
        "lastEvaluatedAt": _last_evaluated(row.lifecycle_evaluated_at),
    }


@action("DeleteLifecyclePolicy")
async def delete_lifecycle_policy(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    registry = call.registry
    r = t.repositories
    async with registry.db.write() as conn:
        repo = await registry.repositories.get(account_id, params["repositoryName"], conn)
        row = (
            await conn.execute(
                sa.select(r.c.lifecycle_policy, r.c.lifecycle_evaluated_at).where(r.c.id == repo.id)
            )
        ).one()
        if not row.lifecycle_policy:
            raise lifecycle_policy_not_found(repo.name, account_id)
        await conn.execute(
            r.update().where(r.c.id == repo.id).values(lifecycle_policy=None, lifecycle_evaluated_at=None)
        )
    return {
        "registryId": account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": row.lifecycle_policy,
        "lastEvaluatedAt": _last_evaluated(row.lifecycle_evaluated_at),
    }


@action("StartLifecyclePolicyPreview")
async def start_lifecycle_policy_preview(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    given = params.get("lifecyclePolicyText")
    if given is not None:
        _validated(given)
    registry = call.registry
    lp, r = t.lifecycle_previews, t.repositories
    now = t.now()
    async with registry.db.write() as conn:
        repo = await registry.repositories.get(account_id, params["repositoryName"], conn)
        text = given
        if text is None:
            text = await conn.scalar(sa.select(r.c.lifecycle_policy).where(r.c.id == repo.id))
            if not text:
                raise lifecycle_policy_not_found(repo.name, account_id)
        current = (
            await conn.execute(sa.select(lp.c.status, lp.c.started_at).where(lp.c.repository_id == repo.id))
        ).first()
        if current is not None:
            if current.status == lifecycle_runs.IN_PROGRESS and current.started_at > now - STALE_PREVIEW:
                raise preview_in_progress()
            await conn.execute(lp.delete().where(lp.c.repository_id == repo.id))
        await conn.execute(
            lp.insert().values(
                repository_id=repo.id,
                status=lifecycle_runs.IN_PROGRESS,
                policy_text=text,
                results=None,
                summary=None,
                started_at=now,
                finished_at=None,
            )
        )
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
    registry = call.registry
    lp = t.lifecycle_previews
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
    async with registry.db.read() as conn:
        repo = await registry.repositories.get(account_id, params["repositoryName"], conn)
        row = (await conn.execute(sa.select(lp).where(lp.c.repository_id == repo.id))).first()
    if row is None:
        raise preview_not_found(repo.name, account_id)
    status = preview_status(row, t.now())
    tag_status = str((params.get("filter") or {}).get("tagStatus") or "ANY")
    results: list[dict[str, Any]] = list(row.results or []) if status == lifecycle_runs.COMPLETE else []
    if tag_status == "TAGGED":
        results = [r for r in results if r.get("imageTags")]
    elif tag_status == "UNTAGGED":
        results = [r for r in results if not r.get("imageTags")]
    if ids is not None:
        results = [r for r in results if _matches_ids(r, ids)]
    scope = {"repo": repo.id, "started": row.started_at.timestamp(), "tagStatus": tag_status}
    cursor = await open_token(call, params, scope)
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
        answer["nextToken"] = await seal_token(call, scope, start + limit)
    return answer
