"""What every ECR action handler gets, and the registry of handlers.

Handlers are `async (call, params) -> dict`: `params` is already validated
against botocore's model and the result is serialized through it, so a handler
only speaks domain objects and ECR's field names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from dockyard import addresses
from dockyard.auth.authorize import AccessDenied, Resource
from dockyard.auth.authorize import authorize as authorize_action
from dockyard.auth.authorizer import authorizer_for
from dockyard.auth.policy import ContextValue
from dockyard.auth.principals import Principal
from dockyard.auth.request_context import RequestOrigin, request_context
from dockyard.core import errors as de
from dockyard.ecr.errors import EcrError, access_denied, from_domain
from dockyard.registry import Registry

Params = dict[str, Any]
Result = Mapping[str, Any] | None
Handler = Callable[["Call", Params], Awaitable[Result]]

ACTIONS: dict[str, Handler] = {}


@dataclass
class Call:
    """One ECR API call: who makes it, in which region, through which host."""

    principal: Principal
    region: str
    registry: Registry
    host: str  # host[:port] the client reached, for URIs
    operation: str = ""
    # Other accounts whose registry this call was authorized to reach (by policies).
    authorized_accounts: frozenset[str] = frozenset()
    origin: RequestOrigin = field(default_factory=RequestOrigin)  # for aws:SourceIp, aws:SecureTransport

    @property
    def settings(self) -> Any:
        return self.registry.settings

    def account(self, params: Params) -> str:
        """The registry (account) a call targets: `registryId`, else the caller's own."""
        registry_id = params.get("registryId") or self.principal.account_id
        if registry_id != self.principal.account_id and registry_id not in self.authorized_accounts:
            raise access_denied(
                self.principal.arn,
                f"ecr:{self.operation}",
                f"arn:aws:ecr:{self.region}:{registry_id}:repository/*",
            )
        return str(registry_id)

    def repository_arn(self, account_id: str, name: str) -> str:
        return addresses.repository_arn(account_id, self.region, name)

    def repository_uri(self, account_id: str, name: str) -> str:
        return addresses.repository_uri(self.settings, account_id, name, self.host, self.region)

    def registry_host(self, account_id: str) -> str:
        return addresses.registry_host(self.settings, account_id, self.host, self.region)


def to_ecr_error(err: de.DomainError) -> EcrError:
    """The ECR error a handler's domain error answers with (the table is `ecr.errors.DOMAIN_CODES`)."""
    return from_domain(err)


def action(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for ECR action `name`."""

    def register(func: Handler) -> Handler:
        @wraps(func)
        async def handler(call: Call, params: Params) -> Result:
            call.operation = name
            await authorize(call, name, params)
            try:
                return await func(call, params)
            except de.DomainError as err:
                raise to_ecr_error(err) from None

        if name in ACTIONS:
            raise ValueError(f"two handlers for {name}")
        ACTIONS[name] = handler
        return handler

    return register


# Actions that name no resource in IAM (Resource "*").
_STAR_RESOURCE = frozenset({"GetAuthorizationToken"})


def _resources(call: Call, name: str, params: Params, account: str) -> list[Resource]:
    """The resources the action must be allowed on."""
    if name in _STAR_RESOURCE:
        return [Resource("*", account)]
    repository = params.get("repositoryName")
    if isinstance(repository, str) and repository:
        return [Resource(call.repository_arn(account, repository), account, repository)]
    names = params.get("repositoryNames")
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return [Resource(call.repository_arn(account, n), account, n) for n in names]
    arn = params.get("resourceArn")
    if isinstance(arn, str):
        parsed = addresses.parse_repository_arn(arn)
        if parsed is not None and parsed[1] == account:
            return [Resource(arn, account, parsed[2])]
    return [Resource(call.repository_arn(account, "*"), account)]


# What the root user may always do in its own account, whatever its repository policy says.
_ROOT_ESCAPE = frozenset({"GetRepositoryPolicy", "SetRepositoryPolicy", "DeleteRepositoryPolicy"})

# Actions whose request carries tags (aws:RequestTag/*, aws:TagKeys).
_TAGGING = frozenset({"CreateRepository", "TagResource"})


def _request_tags(params: Params) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in params.get("tags") or []:
        if isinstance(tag, dict) and isinstance(tag.get("Key"), str):
            tags[tag["Key"]] = str(tag.get("Value", ""))
    return tags


def call_context(call: Call, name: str = "", params: Params | None = None) -> dict[str, ContextValue]:
    """The condition keys of an ECR call."""
    tags = _request_tags(params or {}) if name in _TAGGING else None
    return request_context(call.origin, tags)


def lists_visible(name: str, params: Params) -> bool:
    """DescribeRepositories without names: the handler lists only what the caller may describe."""
    return name == "DescribeRepositories" and not params.get("repositoryNames")


async def authorize(call: Call, name: str, params: Params) -> None:
    """Refuse the call with AccessDeniedException unless policies allow ``ecr:<name>``."""
    principal = call.principal
    account = str(params.get("registryId") or principal.account_id)
    root = principal.is_root and account == principal.account_id
    if root and name in _ROOT_ESCAPE:
        return  # as S3 lets root always fix a bucket policy: root cannot lock itself out for good
    if lists_visible(name, params) and account == principal.account_id:
        return  # filtered per repository by the handler
    authorizer = authorizer_for(call.registry)
    iam_action = f"ecr:{name}"
    context = call_context(call, name, params)
    for resource in _resources(call, name, params, account):
        try:
            await authorize_action(authorizer, principal, iam_action, resource, context)
        except AccessDenied as denied:
            raise access_denied(principal.arn, iam_action, denied.resource, denied.reason) from None
    if account != principal.account_id:
        call.authorized_accounts = call.authorized_accounts | {account}
