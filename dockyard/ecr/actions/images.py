"""The image actions: DescribeImages, ListImages, BatchGetImage, PutImage, BatchDeleteImage,
ListImageReferrers.

They run over the same core as the /v2/ door (`ImageService` for id-based queries,
`ManifestService.put` for pushes), so an image pushed through either door is visible
through the other at once.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard import untrusted_json
from dockyard.core.digests import digest_bytes, parse_digest
from dockyard.core.errors import DigestInvalid
from dockyard.core.images import (
    ACTIVE,
    ANY,
    IMAGE_NOT_FOUND,
    FetchedImage,
    ImageFailure,
    ImageId,
    ImageInfo,
    ImageService,
    check_image_id,
    failure,
)
from dockyard.core.manifests import ChildManifestsUnknown, LayersUnknown, ManifestUnchanged
from dockyard.core.media_types import (
    DOCKER_IMAGE_CONFIG,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEXES,
    MAX_MANIFEST_BYTES,
    OCI_IMAGE_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)
from dockyard.ecr.actions.base import Call, Params, Result, action
from dockyard.ecr.errors import EcrError, image_already_exists, invalid_parameter
from dockyard.ecr.pagination import bad_token, open_cursor, seal_cursor
from dockyard.ecr.shapes import (
    failure_params,
    image_id_from_params,
    image_id_params,
    scan_findings_summary,
    scan_status,
)

DEFAULT_PAGE = 100  # DescribeImages / ListImages without maxResults
REFERRERS_DEFAULT_PAGE = 20  # ListImageReferrers without maxResults (botocore: "up to 20")


# ---------------------------------------------------------------------------- helpers
def images(call: Call) -> ImageService:
    return call.registry.images


def _tag_status(params: Params) -> str:
    return str((params.get("filter") or {}).get("tagStatus") or ANY)


def _image_status(params: Params, default: str = ACTIVE) -> str:
    """filter.imageStatus; without it ECR lists only ACTIVE images."""
    return str((params.get("filter") or {}).get("imageStatus") or default)


def _image_detail(
    call: Call, account: str, repo_name: str, info: ImageInfo, scans: dict[int, Any] | None = None
) -> dict[str, Any]:
    scan = (scans or {}).get(info.id)
    detail: dict[str, Any] = {
        "registryId": account,
        "repositoryName": repo_name,
        "imageDigest": info.digest,
        "imageTags": info.tags or None,
        "imageSizeInBytes": info.size,
        "imagePushedAt": info.pushed_at,
        "imageManifestMediaType": info.media_type,
        "artifactMediaType": info.config_media_type,
        "lastRecordedPullTime": info.last_pulled_at,
        "subjectManifestDigest": info.subject_digest,
        "imageStatus": info.status,
        "lastArchivedAt": info.archived_at,
        "lastActivatedAt": info.activated_at,
    }
    if scan is not None:
        detail["imageScanStatus"] = scan_status(scan)
        detail["imageScanFindingsSummary"] = scan_findings_summary(scan)
    return detail


async def _scans(call: Call, infos: list[ImageInfo]) -> dict[int, Any]:
    """The images' scan states, in one query."""
    return await call.registry.scans.get_many([i.id for i in infos], with_findings=False)


def _image_ids(params: Params) -> list[ImageId]:
    return [image_id_from_params(value) for value in params.get("imageIds") or []]


# ---------------------------------------------------------------------------- DescribeImages
@action("DescribeImages")
async def describe_images(call: Call, params: Params) -> Result:
    account = call.account(params)
    repo_name = params["repositoryName"]
    ids = _image_ids(params)
    service = images(call)
    if ids:
        if params.get("nextToken") is not None or params.get("maxResults") is not None:
            raise invalid_parameter(
                "Invalid parameter: maxResults and nextToken cannot be used when imageIds is specified"
            )
        for image_id in ids:
            problem = check_image_id(image_id)
            if problem is not None:
                raise _invalid_id(problem)
        _, infos, failures = await service.describe_ids(account, repo_name, ids)
        if failures:
            first = failures[0].image_id
            # ECR names both parts, writing 'null' for the one the caller left out.
            raise EcrError(
                "ImageNotFoundException",
                f"The image with imageId {{imageDigest:'{first.digest or 'null'}', "
                f"imageTag:'{first.tag or 'null'}'}} does not exist within the repository with name "
                f"'{repo_name}' in the registry with id '{account}'",
            )
        # Images named by id are described whatever their status, unless a filter says otherwise.
        wanted = _image_status(params, ANY)
        if wanted != ANY:
            infos = [i for i in infos if i.status == wanted]
        scans = await _scans(call, infos)
        return {"imageDetails": [_image_detail(call, account, repo_name, i, scans) for i in infos]}

    tag_status = _tag_status(params)
    status = _image_status(params)
    scope = {"repo": [account, repo_name], "tagStatus": tag_status, "imageStatus": status}
    token = await open_cursor(call, params, scope)
    after = token["c"] if token else None
    if after is not None and not isinstance(after, int):
        raise bad_token()
    limit = int(params.get("maxResults") or DEFAULT_PAGE)
    _, infos, more = await service.describe_page(account, repo_name, tag_status, after, limit, status)
    scans = await _scans(call, infos)
    return {
        "imageDetails": [_image_detail(call, account, repo_name, i, scans) for i in infos],
        "nextToken": await seal_cursor(call, scope, infos[-1].id) if more and infos else None,
    }


def _invalid_id(problem: ImageFailure) -> EcrError:
    if problem.code == "MissingDigestAndTag":
        return invalid_parameter("Invalid parameter: imageId must specify an imageDigest or an imageTag")
    if problem.code == "InvalidImageDigest":
        return invalid_parameter(
            "Invalid parameter at 'imageDigest' failed to satisfy constraint: "
            "'must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+''"
        )
    return invalid_parameter(
        "Invalid parameter at 'imageTag' failed to satisfy constraint: "
        "'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}''"
    )


# ---------------------------------------------------------------------------- ListImages
@action("ListImages")
async def list_images(call: Call, params: Params) -> Result:
    account = call.account(params)
    repo_name = params["repositoryName"]
    tag_status = _tag_status(params)
    status = _image_status(params)
    scope = {"repo": [account, repo_name], "tagStatus": tag_status, "imageStatus": status}
    token = await open_cursor(call, params, scope)
    after: tuple[int, str | None] | None = None
    if token is not None:
        cursor = token["c"]
        if (
            not isinstance(cursor, list)
            or len(cursor) != 2
            or not isinstance(cursor[0], int)
            or not isinstance(cursor[1], str | None)
        ):
            raise bad_token()
        after = (cursor[0], cursor[1])
    limit = int(params.get("maxResults") or DEFAULT_PAGE)
    items, more = await images(call).list_page(account, repo_name, tag_status, after, limit, status)
    last = items[-1] if items else None
    return {
        "imageIds": [image_id_params(ImageId(item.digest, item.tag)) for item in items],
        "nextToken": await seal_cursor(call, scope, [last.manifest_id, last.tag]) if more and last else None,
    }


# ---------------------------------------------------------------------------- BatchGetImage
# Equivalent media types between the Docker schema 2 and OCI formats, for pulls by tag.
_TO_DOCKER = {
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_INDEX: DOCKER_LIST,
    OCI_IMAGE_CONFIG: DOCKER_IMAGE_CONFIG,
    "application/vnd.oci.image.layer.v1.tar+gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    ),
}
_TO_OCI = {docker: oci for oci, docker in _TO_DOCKER.items()}


def convert_manifest(content: bytes, target: str) -> bytes | None:
    """The manifest rewritten in the other format (Docker schema 2 <-> OCI), or None if it has
    parts the target format cannot express. ECR does this only for pulls by tag."""
    table = _TO_DOCKER if target in (DOCKER_MANIFEST, DOCKER_LIST) else _TO_OCI
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    if not isinstance(doc, dict) or table.get(doc.get("mediaType", "")) != target:
        return None
    if target in (DOCKER_MANIFEST, DOCKER_LIST) and ({"subject", "artifactType"} & doc.keys()):
        return None  # Docker formats have no referrers

    def swap(descriptor: Any, *, children: bool = False) -> dict[str, Any] | None:
        if not isinstance(descriptor, dict):
            return None
        media_type = str(descriptor.get("mediaType"))
        if children:
            new = table.get(media_type) if media_type in table else media_type
        else:
            new = table.get(media_type)
        if new is None:
            return None
        return {**descriptor, "mediaType": new}

    out: dict[str, Any] = {**doc, "mediaType": target}
    if "manifests" in doc:
        entries = [swap(e, children=True) for e in doc.get("manifests") or []]
        if any(e is None for e in entries):
            return None
        out["manifests"] = entries
    else:
        config = swap(doc.get("config"))
        layers = [swap(layer) for layer in doc.get("layers") or []]
        if config is None or any(layer is None for layer in layers):
            return None
        out["config"], out["layers"] = config, layers
    return json.dumps(out, indent=3).encode()


@action("BatchGetImage")
async def batch_get_image(call: Call, params: Params) -> Result:
    account = call.account(params)
    repo_name = params["repositoryName"]
    accepted = set(params.get("acceptedMediaTypes") or [])
    service = images(call)
    repo, found, failures = await service.batch_get(account, repo_name, _image_ids(params))

    results: list[dict[str, Any]] = []
    pulled: list[int] = []
    wanted_children: dict[str, list[FetchedImage]] = {}
    pending: list[tuple[FetchedImage, str]] = []  # (image, child digest) for index -> platform image
    for image in found:
        body, media_type = image.content, image.media_type
        if accepted and media_type not in accepted:
            converted = _convert_for(image, accepted)
            if converted is None:
                child = _platform_child(image, accepted)
                if child is None:
                    failures.append(failure(image.image_id, IMAGE_NOT_FOUND))
                    continue
                wanted_children.setdefault(child, []).append(image)
                pending.append((image, child))
                continue
            body, media_type = converted
        results.append(_image(account, repo_name, image.image_id, body, media_type))
        pulled.append(image.manifest_id)
    if pending:
        children = await service.get_children(repo.id, list(wanted_children))
        for image, digest in pending:
            child_image = children.get(digest)
            if child_image is None:
                failures.append(failure(image.image_id, IMAGE_NOT_FOUND))
                continue
            image_id = ImageId(child_image.digest, image.image_id.tag)
            results.append(_image(account, repo_name, image_id, child_image.content, child_image.media_type))
            pulled.append(child_image.manifest_id)
    await service.record_pull(pulled, call.principal.arn)
    return {"images": results, "failures": [failure_params(f) for f in failures]}


def _image(account: str, repo_name: str, image_id: ImageId, body: bytes, media_type: str) -> dict[str, Any]:
    return {
        "registryId": account,
        "repositoryName": repo_name,
        "imageId": image_id_params(image_id),
        "imageManifest": body.decode("utf-8", errors="replace"),
        "imageManifestMediaType": media_type,
    }


def _convert_for(image: FetchedImage, accepted: set[str]) -> tuple[bytes, str] | None:
    """Format conversion, which ECR does only when the image was asked for by tag."""
    if not image.by_tag:
        return None
    targets = {
        OCI_MANIFEST: DOCKER_MANIFEST,
        DOCKER_MANIFEST: OCI_MANIFEST,
        OCI_INDEX: DOCKER_LIST,
        DOCKER_LIST: OCI_INDEX,
    }
    target = targets.get(image.media_type)
    if target is None or target not in accepted:
        return None
    body = convert_manifest(image.content, target)
    return None if body is None else (body, target)


def _platform_child(image: FetchedImage, accepted: set[str]) -> str | None:
    """For a caller that takes no index by tag: the index's linux/amd64 image, as ECR serves it."""
    if image.media_type not in INDEXES or not image.by_tag:
        return None
    try:
        doc = json.loads(image.content)
    except ValueError:
        return None
    for entry in doc.get("manifests") or []:
        platform = entry.get("platform") or {}
        if (
            platform.get("os") == "linux"
            and platform.get("architecture") == "amd64"
            and entry.get("mediaType") in accepted
        ):
            return str(entry.get("digest"))
    return None


# ---------------------------------------------------------------------------- PutImage
@action("PutImage")
async def put_image(call: Call, params: Params) -> Result:
    account = call.account(params)
    repo_name = params["repositoryName"]
    text: str = params["imageManifest"]
    body = text.encode("utf-8")
    media_type: str | None = params.get("imageManifestMediaType")
    tag: str | None = params.get("imageTag")
    digest: str | None = params.get("imageDigest")
    repo = await call.registry.repositories.get(account, repo_name)  # no create-on-push for the API

    if len(body) > MAX_MANIFEST_BYTES:
        raise invalid_parameter(
            "Invalid parameter at 'imageManifest' failed to satisfy constraint: "
            f"'Member must have length less than or equal to {MAX_MANIFEST_BYTES}'"
        )
    try:
        doc = untrusted_json.loads(body)
    except ValueError:
        raise invalid_parameter(
            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
        ) from None
    if not isinstance(doc, dict):
        raise invalid_parameter(
            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
        )
    if not media_type and not doc.get("mediaType"):
        raise invalid_parameter("image manifest mediatype not provided in manifest or parameter")

    if digest is not None:
        try:
            wanted = parse_digest(digest)
        except DigestInvalid:
            raise invalid_parameter(
                f"Invalid parameter at 'imageDigest' failed to satisfy constraint: "
                f"'Invalid image digest {digest}'"
            ) from None
        actual = digest_bytes(body, wanted.algorithm)
        if actual != digest:
            raise EcrError(
                "ImageDigestDoesNotMatchException",
                f"Invalid parameter at 'imageDigest' failed to satisfy constraint: 'Provided digest "
                f"{digest} does not match the digest calculated for the image manifest, {actual}'",
            )
        reference, extra = digest, [tag] if tag else []
    elif tag is not None:
        reference, extra = tag, []
    else:
        reference, extra = digest_bytes(body), []

    try:
        result = await call.registry.manifests.put(
            repo, reference, body, media_type, extra, refuse_unchanged=True
        )
    except ManifestUnchanged as err:
        raise image_already_exists(repo_name, account, err.digest, tag or "null") from None
    except LayersUnknown as err:
        raise EcrError(
            "LayersNotFoundException",
            f"Layers with digests '{err.missing}' required for pushing image into repository with name "
            f"'{repo_name}' in the registry with id '{account}' do not exist",
        ) from None
    except ChildManifestsUnknown as err:
        raise EcrError(
            "ReferencedImagesNotFoundException",
            f"Manifest list references images with digests '{err.missing}' that do not exist in the "
            f"repository with name '{repo_name}' in the registry with id '{account}'",
        ) from None
    return {
        "image": {
            "registryId": account,
            "repositoryName": repo_name,
            "imageId": image_id_params(ImageId(result.digest, tag)),
            "imageManifest": text,
            "imageManifestMediaType": result.media_type,
        }
    }


# ---------------------------------------------------------------------------- BatchDeleteImage
@action("BatchDeleteImage")
async def batch_delete_image(call: Call, params: Params) -> Result:
    account = call.account(params)
    result = await call.registry.image_deletion.delete(account, params["repositoryName"], _image_ids(params))
    return {
        "imageIds": [image_id_params(i) for i in result.removed],
        "failures": [failure_params(f) for f in result.failures],
    }


# ---------------------------------------------------------------------------- ListImageReferrers
@action("ListImageReferrers")
async def list_image_referrers(call: Call, params: Params) -> Result:
    account = call.account(params)
    repo_name = params["repositoryName"]
    subject = params["subjectId"]["imageDigest"]
    try:
        parse_digest(subject)
    except DigestInvalid:
        raise invalid_parameter(
            "Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: "
            f"'Invalid image digest {subject}'"
        ) from None
    filters = params.get("filter") or {}
    artifact_types = sorted(set(filters.get("artifactTypes") or [])) or None
    scope = {
        "repo": [account, repo_name],
        "subject": subject,
        "types": artifact_types,
        "status": filters.get("artifactStatus"),
    }
    token = await open_cursor(call, params, scope)
    after = token["c"] if token else None
    if after is not None and not isinstance(after, str):
        raise bad_token()
    limit = int(params.get("maxResults") or REFERRERS_DEFAULT_PAGE)
    status = str(filters.get("artifactStatus") or ACTIVE)  # without a filter ECR lists ACTIVE ones
    items, more = await images(call).referrers_page(
        account, repo_name, subject, artifact_types, after, limit, status
    )
    return {
        "referrers": [
            {
                "digest": r.digest,
                "mediaType": r.media_type,
                "artifactType": r.artifact_type,
                "size": r.size,
                "annotations": r.annotations,
                "artifactStatus": r.status,
            }
            for r in items
        ],
        "nextToken": await seal_cursor(call, scope, items[-1].digest) if more and items else None,
    }
