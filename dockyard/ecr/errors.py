"""ECR error type and constructors for the errors the AWS JSON front door raises.

Every failure that reaches an ECR client is an ``EcrError``: botocore only looks at
``__type`` (the exception name) and ``message``, so keeping the code names and texts
identical to AWS makes the AWS CLI, SDK retries and ``ClientError`` handling behave
exactly as they do against the real service.
"""

from __future__ import annotations

from typing import Any

from dockyard.core import account_settings, resource_tags, templates
from dockyard.core import errors as de
from dockyard.core.images import StorageClassUnchanged
from dockyard.core.pull_exclusions import ExclusionAlreadyExists, ExclusionLimitExceeded, ExclusionNotFound
from dockyard.core.repositories import InvalidRepositorySetting

SERVER_EXCEPTION = "ServerException"


class EcrError(Exception):
    """An error returned to the client as ``{"__type": code, "message": message}``."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # AWS JSON services answer client faults with 400 and server faults with 500.
        self.status = status if status is not None else (500 if code == SERVER_EXCEPTION else 400)

    def to_body(self) -> dict[str, Any]:
        """The JSON error document, as AWS JSON 1.1 services send it."""
        return {"__type": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"EcrError(code={self.code!r}, message={self.message!r}, status={self.status})"


# --- protocol / transport -------------------------------------------------------------


def unknown_operation(message: str = "Unknown operation") -> EcrError:
    """Bad or missing ``X-Amz-Target`` (Coral's UnknownOperationException)."""
    return EcrError("UnknownOperationException", message)


def not_implemented(operation: str) -> EcrError:
    """An ECR action that exists in the model but Dockyard has no handler for yet.

    UnknownOperationException is what the AWS CLI prints most sensibly for this
    ("An error occurred (UnknownOperationException) when calling the X operation: ...").
    """
    return EcrError(
        "UnknownOperationException",
        f"The operation {operation} is not implemented in Dockyard yet.",
    )


def serialization(message: str, status: int = 400) -> EcrError:
    """Body that is not valid JSON, or a member of the wrong JSON type."""
    return EcrError("SerializationException", message, status)


def server_error(message: str = "An internal error occurred. Try again later.") -> EcrError:
    """Generic 500; the real cause goes to the log, never to the client."""
    return EcrError(SERVER_EXCEPTION, message, 500)


# --- authentication (SigV4) -----------------------------------------------------------

INVALID_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


def missing_authentication_token() -> EcrError:
    """No Authorization header and no presigned query parameters."""
    return EcrError("MissingAuthenticationTokenException", "Missing Authentication Token")


def incomplete_signature(message: str) -> EcrError:
    """Authorization header present but missing parts or malformed."""
    return EcrError("IncompleteSignatureException", message)


def unrecognized_client(message: str = INVALID_TOKEN_MESSAGE) -> EcrError:
    """Unknown access key id, or a session token that does not belong to it."""
    return EcrError("UnrecognizedClientException", message)


def invalid_signature(message: str = INVALID_SIGNATURE_MESSAGE) -> EcrError:
    """Signature mismatch, expired/not-yet-valid request, or bad credential scope."""
    return EcrError("InvalidSignatureException", message)


def access_denied(principal_arn: str, action: str, resource: str, reason: str | None = None) -> EcrError:
    """IAM refusal, worded as AWS words it.

    ``reason`` is AWS's optional tail, e.g. "because no identity-based policy allows the
    ecr:CreateRepository action" or "with an explicit deny in a resource-based policy".
    """
    message = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if reason:
        message = f"{message} {reason}"
    return EcrError("AccessDeniedException", message)


# --- service errors (texts as AWS/moto show them) -------------------------------------


def invalid_parameter(message: str) -> EcrError:
    """ECR's catch-all for bad input detected by the service itself."""
    return EcrError("InvalidParameterException", message)


def validation(message: str) -> EcrError:
    """Coral model-validation failure ("1 validation error detected: ...")."""
    return EcrError("ValidationException", message)


def repository_not_found(repository: str, registry_id: str) -> EcrError:
    """RepositoryNotFoundException with AWS's text."""
    return EcrError(
        "RepositoryNotFoundException",
        f"The repository with name '{repository}' does not exist in the registry with id '{registry_id}'",
    )


def repository_already_exists(repository: str, registry_id: str) -> EcrError:
    """RepositoryAlreadyExistsException with AWS's text."""
    return EcrError(
        "RepositoryAlreadyExistsException",
        f"The repository with name '{repository}' already exists in the registry with id '{registry_id}'",
    )


def repository_not_empty(repository: str, registry_id: str) -> EcrError:
    """RepositoryNotEmptyException with AWS's text."""
    return EcrError(
        "RepositoryNotEmptyException",
        f"The repository with name '{repository}' in registry with id '{registry_id}' "
        "cannot be deleted because it still contains images",
    )


def repository_policy_not_found(repository: str, registry_id: str) -> EcrError:
    """RepositoryPolicyNotFoundException with AWS's text."""
    return EcrError(
        "RepositoryPolicyNotFoundException",
        f"Repository policy does not exist for the repository with name '{repository}' "
        f"in the registry with id '{registry_id}'",
    )


def lifecycle_policy_not_found(repository: str, registry_id: str) -> EcrError:
    """LifecyclePolicyNotFoundException with AWS's text."""
    return EcrError(
        "LifecyclePolicyNotFoundException",
        f"Lifecycle policy does not exist for the repository with name '{repository}' "
        f"in the registry with id '{registry_id}'",
    )


def registry_policy_not_found(registry_id: str) -> EcrError:
    """RegistryPolicyNotFoundException with AWS's text."""
    return EcrError(
        "RegistryPolicyNotFoundException",
        f"Registry policy does not exist in the registry with id '{registry_id}'",
    )


def image_not_found(
    repository: str, registry_id: str, image_digest: str | None = None, image_tag: str | None = None
) -> EcrError:
    """ImageNotFoundException; the imageId rendering follows AWS's ``{imageDigest:'…', imageTag:'…'}``,
    which names both parts and writes 'null' for the one the caller left out (as DescribeImages does)."""
    image_id = f"{{imageDigest:'{image_digest or 'null'}', imageTag:'{image_tag or 'null'}'}}"
    return EcrError(
        "ImageNotFoundException",
        f"The image with imageId {image_id} does not exist within the repository with name "
        f"'{repository}' in the registry with id '{registry_id}'",
    )


def image_already_exists(repository: str, registry_id: str, digest: str, tag: str) -> EcrError:
    """ImageAlreadyExistsException with AWS's text."""
    return EcrError(
        "ImageAlreadyExistsException",
        f"Image with digest '{digest}' and tag '{tag}' already exists in the repository with name "
        f"'{repository}' in registry with id '{registry_id}'",
    )


def limit_exceeded(message: str) -> EcrError:
    """LimitExceededException (quota hit)."""
    return EcrError("LimitExceededException", message)


# --- domain errors: the one table ----------------------------------------------------

# The ECR exception each domain error answers with, keeping the domain's message. Handlers
# catch and re-raise only where ECR words a case differently (e.g. UploadNotFoundException).
DOMAIN_CODES: dict[type[de.DomainError], str] = {
    de.RepositoryNotFound: "RepositoryNotFoundException",
    de.RepositoryAlreadyExists: "RepositoryAlreadyExistsException",
    de.RepositoryNotEmpty: "RepositoryNotEmptyException",
    de.NameInvalid: "InvalidParameterException",
    de.TagInvalid: "InvalidParameterException",
    de.DigestInvalid: "InvalidParameterException",
    de.ManifestInvalid: "InvalidParameterException",
    de.ManifestTooLarge: "InvalidParameterException",
    de.ManifestBlobUnknown: "LayersNotFoundException",
    de.ManifestUnknown: "ImageNotFoundException",
    de.TagImmutable: "ImageTagAlreadyExistsException",
    de.ImageReferenced: "InvalidParameterException",
    de.UploadUnknown: "UploadNotFoundException",
    de.StorageFull: "ServerException",  # a 500: AWS clients retry it
    de.Denied: "AccessDeniedException",
    resource_tags.TooManyTags: "TooManyTagsException",
    resource_tags.InvalidTag: "InvalidTagParameterException",
    InvalidRepositorySetting: "InvalidParameterException",
    templates.TemplateAlreadyExists: "TemplateAlreadyExistsException",
    templates.TemplateNotFound: "TemplateNotFoundException",
    templates.InvalidTemplate: "InvalidParameterException",
    account_settings.InvalidSetting: "ValidationException",
    ExclusionAlreadyExists: "ExclusionAlreadyExistsException",
    ExclusionNotFound: "ExclusionNotFoundException",
    ExclusionLimitExceeded: "LimitExceededException",
    StorageClassUnchanged: "ImageStorageClassUpdateNotSupportedException",
}

# The ECR exception of each neutral kind of validation failure (lifecycle policies, scanning
# configurations): a value the service refuses, or a request outside the API model.
VALIDATION_CODES: dict[str, str] = {
    "invalid": "InvalidParameterException",
    "malformed": "ValidationException",
}


def from_domain(err: de.DomainError) -> EcrError:
    """The ECR error of a domain error (InvalidParameterException for any not in the table)."""
    for cls in type(err).__mro__:
        code = DOMAIN_CODES.get(cls)
        if code is not None:
            return EcrError(code, err.message)
    return EcrError("InvalidParameterException", err.message)


def from_validation(kind: str, message: str) -> EcrError:
    """The ECR error of a validation failure of the given neutral kind."""
    return EcrError(VALIDATION_CODES[kind], message)
