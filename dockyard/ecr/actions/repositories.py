"""Repositories and their settings and tags: CreateRepository, DescribeRepositories,
DeleteRepository, PutImageTagMutability, PutImageScanningConfiguration, TagResource,
UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from dockyard import addresses
from dockyard.auth.authorizer import REPOSITORY_POLICIES, authorizer_for
from dockyard.core import resource_tags
from dockyard.core.repositories import Repository, check_encryption, check_mutability
from dockyard.ecr.actions.base import Call, Params, Result, action, call_context
from dockyard.ecr.errors import invalid_parameter, repository_not_found
from dockyard.ecr.pagination import DEFAULT_PAGE_SIZE, next_token, page_start

# ---------------------------------------------------------------------------- helpers


def compact(value: Any) -> Any:
    """Drop None members (ECR leaves unset members out of its answers)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def repository_document(call: Call, repo: Repository) -> dict[str, Any]:
    encryption: dict[str, Any] = {"encryptionType": repo.encryption_type}
    if repo.kms_key:
        encryption["kmsKey"] = repo.kms_key
    return compact(
        {
            "repositoryArn": call.repository_arn(repo.account_id, repo.name),
            "registryId": repo.account_id,
            "repositoryName": repo.name,
            "repositoryUri": call.repository_uri(repo.account_id, repo.name),
            "createdAt": repo.created_at,
            "imageTagMutability": repo.tag_mutability,
            "imageTagMutabilityExclusionFilters": repo.tag_mutability_exclusions or None,
            "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push},
            "encryptionConfiguration": encryption,
        }
    )


def _repository_from_arn(call: Call, arn: str) -> tuple[str, str]:
    """(account, name) of a repository ARN, or InvalidParameterException."""
    parsed = addresses.parse_repository_arn(arn)
    if parsed is None:
        raise invalid_parameter(
            "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'"
        )
    _region, account_id, name = parsed
    return call.account({"registryId": account_id}), name


# ---------------------------------------------------------------------------- actions


@action("CreateRepository")
async def create_repository(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    mode = params.get("imageTagMutability", "MUTABLE")
    exclusions = check_mutability(mode, params.get("imageTagMutabilityExclusionFilters"))
    encryption = params.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    encryption_type, kms_key = check_encryption(
        encryption["encryptionType"], encryption.get("kmsKey"), account_id, call.region
    )
    tags = resource_tags.normalize(params.get("tags"))
    scanning = params.get("imageScanningConfiguration") or {}
    repo = await call.registry.repositories.create(
        account_id,
        params["repositoryName"],
        tag_mutability=mode,
        tag_mutability_exclusions=exclusions,
        scan_on_push=bool(scanning.get("scanOnPush", False)),
        encryption_type=encryption_type,
        kms_key=kms_key,
        resource_tags=tags,
    )
    return {"repository": repository_document(call, repo)}


async def _visible_page(call: Call, account_id: str, after: str | None, limit: int) -> list[Repository]:
    """Up to ``limit`` repositories after ``after`` that the caller may describe (each candidate
    batch costs one query for the repositories and one for their policies)."""
    authorizer = authorizer_for(call.registry)
    context = call_context(call)
    found: list[Repository] = []
    while len(found) < limit:
        batch = await call.registry.repositories.page(account_id, after, limit)
        if not batch:
            break
        allowed = await authorizer.visible(
            call.principal,
            "ecr:DescribeRepositories",
            account_id,
            [r.name for r in batch],
            lambda name: call.repository_arn(account_id, name),
            context,
        )
        found.extend(r for r in batch if r.name in allowed)
        if len(batch) < limit:
            break
        after = batch[-1].name
    return found[:limit]


@action("DescribeRepositories")
async def describe_repositories(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    names = params.get("repositoryNames")
    repositories = call.registry.repositories
    if names is not None:
        if "maxResults" in params or "nextToken" in params:
            raise invalid_parameter(
                "Invalid parameter at 'repositoryNames' failed to satisfy constraint: "
                "'maxResults and nextToken cannot be used with repositoryNames'"
            )
        found = {repo.name: repo for repo in await repositories.list(account_id, names)}
        ordered: list[Repository] = []
        for name in names:
            repo = found.get(name)
            if repo is None:
                raise repository_not_found(name, account_id)
            if repo not in ordered:
                ordered.append(repo)
        return {"repositories": [repository_document(call, r) for r in ordered]}
    limit = params.get("maxResults", DEFAULT_PAGE_SIZE)
    after = await page_start(call, params, account_id)
    page = await _visible_page(call, account_id, after, limit + 1)
    result: dict[str, Any] = {"repositories": [repository_document(call, r) for r in page[:limit]]}
    if len(page) > limit:
        result["nextToken"] = await next_token(call, account_id, page[limit - 1].name)
    return result


@action("DeleteRepository")
async def delete_repository(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    repo = await call.registry.repositories.delete(
        account_id, params["repositoryName"], force=bool(params.get("force", False))
    )
    await call.registry.db.caches.changed(REPOSITORY_POLICIES, (account_id, repo.name))
    return {"repository": repository_document(call, repo)}


@action("PutImageTagMutability")
async def put_image_tag_mutability(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    repo = await call.registry.repositories.set_tag_mutability(
        account_id,
        params["repositoryName"],
        params["imageTagMutability"],
        params.get("imageTagMutabilityExclusionFilters"),
    )
    return compact(
        {
            "registryId": account_id,
            "repositoryName": repo.name,
            "imageTagMutability": repo.tag_mutability,
            "imageTagMutabilityExclusionFilters": repo.tag_mutability_exclusions or None,
        }
    )


@action("PutImageScanningConfiguration")
async def put_image_scanning_configuration(call: Call, params: Params) -> Result:
    account_id = call.account(params)
    scan_on_push = bool(params["imageScanningConfiguration"].get("scanOnPush", False))
    repo = await call.registry.repositories.set_scan_on_push(
        account_id, params["repositoryName"], scan_on_push
    )
    return {
        "registryId": account_id,
        "repositoryName": repo.name,
        "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push},
    }


@action("TagResource")
async def tag_resource(call: Call, params: Params) -> Result:
    account_id, name = _repository_from_arn(call, params["resourceArn"])
    tags = resource_tags.normalize(params["tags"])
    registry = call.registry
    await resource_tags.ResourceTagService(registry.db).tag_repository(
        registry.repositories, account_id, name, tags
    )
    return {}


@action("UntagResource")
async def untag_resource(call: Call, params: Params) -> Result:
    account_id, name = _repository_from_arn(call, params["resourceArn"])
    keys = [resource_tags.validate_key(key) for key in params["tagKeys"]]
    registry = call.registry
    await resource_tags.ResourceTagService(registry.db).untag_repository(
        registry.repositories, account_id, name, keys
    )
    return {}


@action("ListTagsForResource")
async def list_tags_for_resource(call: Call, params: Params) -> Result:
    account_id, name = _repository_from_arn(call, params["resourceArn"])
    repo = await call.registry.repositories.get(account_id, name)
    tags = await resource_tags.ResourceTagService(call.registry.db).of(repo.id)
    return {"tags": resource_tags.as_list(tags)}
