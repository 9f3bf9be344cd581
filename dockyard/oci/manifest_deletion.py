"""DELETE /v2/<name>/manifests/<reference> over the shared image deletion: the reference's
checks, and the distribution-spec errors for what the deletion refuses.

By digest the manifest goes with its tags; by tag only the tag goes (Distribution's rule).
A manifest an index of the repository still lists is refused with 409 DENIED, as GitLab's
registry (409) and zot (DENIED) do: the client must delete the index first.
"""

from __future__ import annotations

from dockyard.core.digests import is_digest, parse_digest
from dockyard.core.errors import (
    DigestInvalid,
    DomainError,
    ImageReferenced,
    ManifestUnknown,
    TagInvalid,
)
from dockyard.core.image_deletion import DeletionResult, ImageDeletion
from dockyard.core.images import (
    IMAGE_NOT_FOUND,
    INVALID_IMAGE_DIGEST,
    INVALID_IMAGE_TAG,
    REFERENCED_BY_MANIFEST_LIST,
    ImageFailure,
    ImageId,
)
from dockyard.core.names import validate_tag


def image_id(reference: str) -> ImageId:
    """The reference as an image id; DigestInvalid or TagInvalid when it is neither."""
    if is_digest(reference):
        parse_digest(reference)
        return ImageId(digest=reference)
    return ImageId(tag=validate_tag(reference))


async def delete_manifest(deletion: ImageDeletion, account_id: str, repo_name: str, reference: str) -> None:
    try:
        wanted = image_id(reference)
    except DomainError:
        await deletion.repositories.get(account_id, repo_name)  # NAME_UNKNOWN first
        raise
    result = await deletion.delete(account_id, repo_name, [wanted], last_tag_deletes=False)
    if result.failures:
        raise oci_error(result.failures[0], result, repo_name)


def oci_error(problem: ImageFailure, result: DeletionResult, repo_name: str) -> DomainError:
    """The domain error the /v2/ door answers for a refused deletion."""
    wanted = problem.image_id
    if problem.code == REFERENCED_BY_MANIFEST_LIST:
        digest = wanted.digest or ""  # by digest: untagging (by tag) deletes nothing here
        indexes = result.referenced_by.get(digest, [])
        return ImageReferenced(
            f"manifest {digest} is listed by index {', '.join(indexes)} in repository '{repo_name}'; "
            "delete the index first",
            {"digest": digest, "indexes": indexes},
        )
    if problem.code == INVALID_IMAGE_DIGEST:
        return DigestInvalid(problem.reason or f"invalid digest {wanted.digest!r}")
    if problem.code == INVALID_IMAGE_TAG:
        return TagInvalid(problem.reason or f"invalid tag {wanted.tag!r}")
    if problem.code == IMAGE_NOT_FOUND and wanted.digest is None:
        return ManifestUnknown(f"tag {wanted.tag!r} is unknown to repository '{repo_name}'")
    return ManifestUnknown(f"manifest {wanted.digest} is unknown to repository '{repo_name}'")
