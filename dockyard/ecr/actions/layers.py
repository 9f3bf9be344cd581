"""ECR's layer API (the "Amazon ECR proxy" operations), over the blob uploads /v2/ uses.

BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload
and GetDownloadUrlForLayer. An upload started here is an ordinary upload session of
the repository (the same `uploads` row and store file a `POST /v2/<name>/blobs/uploads/`
creates), so a layer pushed through either door is visible through the other.

Part sizes: ECR demands every part but the last be at least 5 MiB, checked when the
upload completes. The `uploads` table records only the total size, so the parts of
each upload are kept in memory here (`PARTS`, keyed by upload id). An upload whose
parts this process has not seen (a restart, another worker, chunks PATCHed over /v2/)
is checked only on the parts it did see.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any

from dockyard.core.blobs import BlobAlreadyLinked
from dockyard.core.digests import parse_digest
from dockyard.core.errors import DigestInvalid, RangeInvalid, UploadUnknown
from dockyard.core.layer_urls import PATH_PREFIX, signer_for
from dockyard.core.repositories import Repository
from dockyard.ecr.actions.base import Call, Params, Result, action, authorize
from dockyard.ecr.dispatch import current_request
from dockyard.ecr.errors import EcrError

MIB = 1024 * 1024
PART_SIZE = 10 * MIB  # what ECR's InitiateLayerUpload answers
MIN_PART_SIZE = 5 * MIB  # every part but the last (LayerPartTooSmallException)
MAX_PART_SIZE = 20 * MIB  # LayerPartBlob's max in the model, enforced by model validation
DEFAULT_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_LAYER_DIGEST = re.compile(r"[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+")  # the model's LayerDigest pattern


# ------------------------------------------------------------------------- errors


class InvalidLayerPart(EcrError):
    """InvalidLayerPartException, which carries the upload's coordinates besides the message."""

    def __init__(
        self, message: str, registry_id: str, repository: str, upload_id: str, received: int
    ) -> None:
        super().__init__("InvalidLayerPartException", message)
        self.fields: dict[str, Any] = {
            "registryId": registry_id,
            "repositoryName": repository,
            "uploadId": upload_id,
        }
        if received > 0:  # PartSize is >= 0: nothing received has no last valid byte
            self.fields["lastValidByteReceived"] = received - 1

    def to_body(self) -> dict[str, Any]:
        return {**super().to_body(), **self.fields}


def upload_not_found(upload_id: str, repository: str, registry_id: str) -> EcrError:
    return EcrError(
        "UploadNotFoundException",
        f"Upload with id '{upload_id}' does not exist in the repository with name '{repository}' "
        f"in the registry with id '{registry_id}'",
    )


def layers_not_found(digest: str, repository: str, registry_id: str) -> EcrError:
    return EcrError(
        "LayersNotFoundException",
        f"The layer with digest '{digest}' does not exist in the repository with name '{repository}' "
        f"in the registry with id '{registry_id}'",
    )


# ------------------------------------------------------------------------- part log


class PartLog:
    """The parts each upload received through UploadLayerPart: upload id -> {first byte: size}.

    Bounded: the oldest uploads are dropped first (an abandoned upload must not pin memory).
    """

    def __init__(self, capacity: int = 20000) -> None:
        self.capacity = capacity
        self._uploads: OrderedDict[str, dict[int, int]] = OrderedDict()

    def record(self, upload_id: str, first_byte: int, size: int) -> None:
        parts = self._uploads.get(upload_id)
        if parts is None:
            parts = self._uploads[upload_id] = {}
        parts[first_byte] = size
        self._uploads.move_to_end(upload_id)
        while len(self._uploads) > self.capacity:
            self._uploads.popitem(last=False)

    def too_small(self, upload_id: str, total: int) -> tuple[int, int] | None:
        """(first byte, size) of a part that is not the last one yet is under 5 MiB, if any."""
        for first, size in sorted(self._uploads.get(upload_id, {}).items()):
            if first + size < total and size < MIN_PART_SIZE:
                return first, size
        return None

    def forget(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)


PARTS = PartLog()


# ------------------------------------------------------------------------- helpers


async def _repository(call: Call, params: Params) -> tuple[str, Repository]:
    account = call.account(params)
    return account, await call.registry.repositories.get(account, params["repositoryName"])


def _digest_ok(digest: str) -> bool:
    if not _LAYER_DIGEST.fullmatch(digest):
        return False
    try:
        parse_digest(digest)
    except DigestInvalid:
        return False
    return True


def _media_type_in(manifest: bytes | None, digest: str) -> str:
    """The media type the manifest's descriptor gives the blob; ECR's default otherwise."""
    if manifest is None:
        return DEFAULT_LAYER_MEDIA_TYPE
    try:
        doc = json.loads(manifest)
    except ValueError:
        return DEFAULT_LAYER_MEDIA_TYPE
    if not isinstance(doc, dict):
        return DEFAULT_LAYER_MEDIA_TYPE
    descriptors: list[Any] = [doc.get("config")]
    for key in ("layers", "blobs"):
        if isinstance(doc.get(key), list):
            descriptors.extend(doc[key])
    for descriptor in descriptors:
        if isinstance(descriptor, dict) and descriptor.get("digest") == digest:
            media_type = descriptor.get("mediaType")
            if isinstance(media_type, str) and media_type:
                return media_type
    return DEFAULT_LAYER_MEDIA_TYPE


def _base_url(call: Call) -> str:
    try:
        scheme = current_request().url.scheme
    except LookupError:  # called outside a request (tests)
        scheme = "http"
    return f"{scheme}://{call.settings.public_host or call.host}"


# ------------------------------------------------------------------------- actions


@action("BatchCheckLayerAvailability")
async def batch_check_layer_availability(call: Call, params: Params) -> Result:
    _, repo = await _repository(call, params)
    blobs = call.registry.blobs
    failures: list[dict[str, str]] = []
    wanted: list[str] = []
    for digest in dict.fromkeys(params["layerDigests"]):  # each digest once, in request order
        if not digest:
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "MissingLayerDigest",
                    "failureReason": "The layer digest is empty",
                }
            )
        elif not _digest_ok(digest):
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "InvalidLayerDigest",
                    "failureReason": "Invalid layer digest",
                }
            )
        else:
            wanted.append(digest)
    sizes = await blobs.known_sizes(repo.id, wanted)
    manifests = await blobs.referencing_manifests(repo.id, list(sizes))
    archived = await blobs.only_in_archived_images(repo.id, list(manifests))
    layers: list[dict[str, Any]] = []
    for digest in wanted:
        size = sizes.get(digest)
        if size is None:
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "MissingLayerDigest",
                    "failureReason": "Could not find layer",
                }
            )
            continue
        # The database is the truth: a blob row always points at stored bytes.
        layers.append(
            {
                "layerDigest": digest,
                "layerAvailability": "ARCHIVED" if digest in archived else "AVAILABLE",
                "layerSize": size,
                "mediaType": _media_type_in(manifests.get(digest), digest),
            }
        )
    return {"layers": layers, "failures": failures}


@action("InitiateLayerUpload")
async def initiate_layer_upload(call: Call, params: Params) -> Result:
    account = call.account(params)
    name = params["repositoryName"]

    async def may_create() -> None:  # creating on push needs ecr:CreateRepository too
        await authorize(call, "CreateRepository", {"registryId": account, "repositoryName": name})

    repo = await call.registry.push_targets.repository_for_push(account, name, may_create)
    upload = await call.registry.blobs.start_upload(repo)
    return {"uploadId": upload.id, "partSize": PART_SIZE}


@action("UploadLayerPart")
async def upload_layer_part(call: Call, params: Params) -> Result:
    account, repo = await _repository(call, params)
    upload_id: str = params["uploadId"]
    first: int = params["partFirstByte"]
    last: int = params["partLastByte"]
    data: bytes = params["layerPartBlob"]
    blobs = call.registry.blobs

    def invalid(message: str, received: int) -> InvalidLayerPart:
        return InvalidLayerPart(message, account, repo.name, upload_id, received)

    if last < first or last - first + 1 != len(data):
        try:
            upload = await blobs.get_upload(repo, upload_id)
        except UploadUnknown:
            raise upload_not_found(upload_id, repo.name, account) from None
        if last < first:
            raise invalid(
                f"The last byte of the layer part ({last}) is before its first byte ({first}).", upload.size
            )
        raise invalid(
            f"The layer part is {len(data)} bytes but partFirstByte {first} and partLastByte {last} "
            f"describe {last - first + 1} bytes.",
            upload.size,
        )
    try:
        upload = await blobs.append_bytes(repo, upload_id, data, first)
    except UploadUnknown:
        raise upload_not_found(upload_id, repo.name, account) from None
    except RangeInvalid as err:
        raise invalid(
            f"The first byte of the layer part ({first}) is not consecutive to the last byte of the "
            f"previous layer part upload; the next part must start at byte {err.current_size}.",
            err.current_size,
        ) from None
    PARTS.record(upload_id, first, len(data))
    return {
        "registryId": account,
        "repositoryName": repo.name,
        "uploadId": upload_id,
        "lastByteReceived": upload.size - 1,
    }


@action("CompleteLayerUpload")
async def complete_layer_upload(call: Call, params: Params) -> Result:
    account, repo = await _repository(call, params)
    upload_id: str = params["uploadId"]
    digests: list[str] = params["layerDigests"]
    blobs = call.registry.blobs
    try:
        upload = await blobs.get_upload(repo, upload_id)
    except UploadUnknown:
        raise upload_not_found(upload_id, repo.name, account) from None
    if upload.size == 0:
        raise EcrError(
            "EmptyUploadException",
            f"The layer upload with id '{upload_id}' does not contain any layer parts.",
        )
    small = PARTS.too_small(upload_id, upload.size)
    if small is not None:
        first, size = small
        raise EcrError(
            "LayerPartTooSmallException",
            f"Layer parts must be at least 5 MiB in size; the part at byte {first} is {size} bytes "
            "and is not the last part.",
        )
    digest = digests[0]
    parse_digest(digest)  # malformed: InvalidParameterException
    for other in digests[1:]:
        if other != digest:
            raise EcrError(
                "InvalidLayerException",
                f"The layer digests {digest} and {other} given for one upload differ.",
            )
    try:
        info = await blobs.complete(repo, upload_id, digest, exclusive=True)
    except UploadUnknown:
        raise upload_not_found(upload_id, repo.name, account) from None
    except DigestInvalid as err:
        actual = err.detail.get("actual") if isinstance(err.detail, dict) else None
        raise EcrError(
            "InvalidLayerException",
            f"The layer digest calculated for the upload ({actual}) does not match the digest "
            f"specified ({digest}).",
        ) from None
    except BlobAlreadyLinked:
        PARTS.forget(upload_id)
        raise EcrError(
            "LayerAlreadyExistsException",
            f"The layer with digest '{digest}' already exists in the repository with name "
            f"'{repo.name}' in the registry with id '{account}'",
        ) from None
    PARTS.forget(upload_id)
    return {
        "registryId": account,
        "repositoryName": repo.name,
        "uploadId": upload_id,
        "layerDigest": info.digest,
    }


@action("GetDownloadUrlForLayer")
async def get_download_url_for_layer(call: Call, params: Params) -> Result:
    account, repo = await _repository(call, params)
    digest: str = params["layerDigest"]
    parse_digest(digest)  # malformed: InvalidParameterException
    blobs = call.registry.blobs
    if not await blobs.known_sizes(repo.id, [digest]):
        raise layers_not_found(digest, repo.name, account)
    if digest not in await blobs.referenced(repo.id, [digest]):
        raise EcrError(
            "LayerInaccessibleException",
            "The specified layer is not available because it is not associated with an image. "
            "Unassociated image layers may be cleaned up at any time.",
        )
    signer = await signer_for(call.registry.db)
    token = signer.issue(account, repo.name, digest)
    return {"downloadUrl": f"{_base_url(call)}{PATH_PREFIX}{token}", "layerDigest": digest}
