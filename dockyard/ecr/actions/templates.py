"""Repository creation templates: Create/Update/Delete/DescribeRepositoryCreationTemplate(s)."""

from __future__ import annotations

from typing import Any

from dockyard.core.templates import UNSET, Template, TemplateService
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.actions.repositories import compact
from dockyard.ecr.pagination import DEFAULT_PAGE_SIZE, next_token, page_start


def template_document(template: Template) -> dict[str, Any]:
    encryption: dict[str, Any] = {"encryptionType": template.encryption_type}
    if template.kms_key:
        encryption["kmsKey"] = template.kms_key
    return compact(
        {
            "prefix": template.prefix,
            "description": template.description,
            "encryptionConfiguration": encryption,
            "resourceTags": [{"Key": k, "Value": v} for k, v in sorted(template.resource_tags.items())],
            "imageTagMutability": template.image_tag_mutability,
            "imageTagMutabilityExclusionFilters": template.exclusions or None,
            "repositoryPolicy": template.repository_policy,
            "lifecyclePolicy": template.lifecycle_policy,
            "appliedFor": template.applied_for,
            "customRoleArn": template.custom_role_arn,
            "createdAt": template.created_at,
            "updatedAt": template.updated_at,
        }
    )


def _fields(params: Params, missing: Any) -> dict[str, Any]:
    return {
        "description": params.get("description", missing),
        "encryption": params.get("encryptionConfiguration", missing),
        "tags": params.get("resourceTags", missing),
        "mutability": params.get("imageTagMutability", missing),
        "exclusions": params.get("imageTagMutabilityExclusionFilters", missing),
        "repository_policy": params.get("repositoryPolicy", missing),
        "lifecycle_policy": params.get("lifecyclePolicy", missing),
        "applied_for": params.get("appliedFor", missing),
        "custom_role_arn": params.get("customRoleArn", missing),
    }


@action("CreateRepositoryCreationTemplate")
async def create_template(call: Call, params: Params) -> Result:
    account_id = call.account({})
    template = await TemplateService(call.registry.db).create(
        account_id, call.region, params["prefix"], **_fields(params, None)
    )
    return {"registryId": account_id, "repositoryCreationTemplate": template_document(template)}


@action("UpdateRepositoryCreationTemplate")
async def update_template(call: Call, params: Params) -> Result:
    account_id = call.account({})
    template = await TemplateService(call.registry.db).update(
        account_id, call.region, params["prefix"], **_fields(params, UNSET)
    )
    return {"registryId": account_id, "repositoryCreationTemplate": template_document(template)}


@action("DeleteRepositoryCreationTemplate")
async def delete_template(call: Call, params: Params) -> Result:
    account_id = call.account({})
    template = await TemplateService(call.registry.db).delete(account_id, params["prefix"])
    return {"registryId": account_id, "repositoryCreationTemplate": template_document(template)}


@action("DescribeRepositoryCreationTemplates")
async def describe_templates(call: Call, params: Params) -> Result:
    account_id = call.account({})
    service = TemplateService(call.registry.db)
    limit = params.get("maxResults", DEFAULT_PAGE_SIZE)
    after = await page_start(call, params, account_id)
    prefixes = params.get("prefixes") or None
    page = await service.find(account_id, prefixes, after, limit + 1)
    result: dict[str, Any] = {
        "registryId": account_id,
        "repositoryCreationTemplates": [template_document(tpl) for tpl in page[:limit]],
    }
    if len(page) > limit:
        result["nextToken"] = await next_token(call, account_id, page[limit - 1].prefix)
    return result
