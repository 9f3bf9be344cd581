"""UpdateImageStorageClass: move an image between ECR standard and archival storage.

An archived image stays listed (DescribeImages/ListImages with filter.imageStatus
ARCHIVED or ANY) but cannot be pulled: /v2/ answers 404 MANIFEST_UNKNOWN and
BatchGetImage a failure. An index takes the manifests it lists with it.

ECR restores from archive asynchronously: the image reports ACTIVATING (for up to
hours) before ACTIVE. Dockyard keeps every byte in one tier, so it restores at once
and answers ACTIVE; clients polling for ACTIVE behave the same.
"""

from __future__ import annotations

from dockyard.core.images import ImageLookupFailed
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.errors import image_not_found, invalid_parameter
from dockyard.ecr.shapes import failure_reason, image_id_from_params, image_id_params

TARGETS = ("STANDARD", "ARCHIVE")


@action("UpdateImageStorageClass")
async def update_image_storage_class(call: Call, params: Params) -> Result:
    account = call.account(params)
    repo_name: str = params["repositoryName"]
    image_id = image_id_from_params(params.get("imageId") or {})
    target: str = params["targetStorageClass"]
    if target not in TARGETS:  # the model's enum; botocore clients check it too
        raise invalid_parameter(
            f"Invalid parameter at 'targetStorageClass' failed to satisfy constraint: "
            f"'Member must satisfy enum value set: [{', '.join(TARGETS)}]'"
        )
    try:
        full, status = await call.registry.images.set_storage_class(account, repo_name, image_id, target)
    except ImageLookupFailed as err:
        if err.failure.code in ("MissingDigestAndTag", "InvalidImageDigest", "InvalidImageTag"):
            raise invalid_parameter(f"Invalid parameter: {failure_reason(err.failure)}") from None
        raise image_not_found(repo_name, account, image_id.digest, image_id.tag) from None
    # StorageClassUnchanged: ImageStorageClassUpdateNotSupportedException, by the error table.
    return {
        "registryId": account,
        "repositoryName": repo_name,
        "imageId": image_id_params(full),
        "imageStatus": status,
    }
