"""Domain errors, raised by the core and translated by each front door.

The OCI door maps them to distribution-spec error codes, the ECR door to ECR
exception names; the core never knows which door called it.
"""

from __future__ import annotations

# The base lives a layer down (identity errors share it); the doors keep importing it from here.
from dockyard.errors import DomainError as DomainError
from dockyard.errors import StorageFull as StorageFull


class NameInvalid(DomainError):
    pass


class RepositoryNotFound(DomainError):
    pass


class RepositoryAlreadyExists(DomainError):
    pass


class RepositoryNotEmpty(DomainError):
    pass


class DigestInvalid(DomainError):
    pass


class BlobUnknown(DomainError):
    pass


class UploadUnknown(DomainError):
    pass


class UploadInvalid(DomainError):
    pass


class RangeInvalid(DomainError):
    """A chunk that does not start where the upload currently ends."""

    def __init__(self, message: str, current_size: int) -> None:
        super().__init__(message)
        self.current_size = current_size


class SizeInvalid(DomainError):
    pass


class ManifestInvalid(DomainError):
    pass


class ManifestBlobUnknown(DomainError):
    pass


class ManifestUnknown(DomainError):
    pass


class ManifestTooLarge(DomainError):
    pass


class TagInvalid(DomainError):
    pass


class TagImmutable(DomainError):
    """A push would move a tag in a repository whose tags are immutable."""


class ImageReferenced(DomainError):
    """A manifest is still a child of an index and cannot be deleted alone."""


class Unsupported(DomainError):
    pass


class Denied(DomainError):
    pass
