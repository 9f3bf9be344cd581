"""The one authorization entry point of every door: may this principal do this action here?

Doors name the action and the resource and pass the request's condition keys (see
:mod:`dockyard.auth.request_context`); which policies to load and how the root user is
treated is decided here, so both doors give the same answer and the same deny message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.addresses import repository_arn
from dockyard.auth.authorizer import Authorizer, deny_reason
from dockyard.auth.policy import ContextValue, Decision
from dockyard.auth.principals import Principal


@dataclass(frozen=True, slots=True)
class Resource:
    """What an action is on: its ARN, its account, and the repository whose policy and tags
    bear on the decision (None for ``*`` or a resource that is no single repository)."""

    arn: str
    account: str
    repository: str | None = None

    @classmethod
    def repository_in(cls, account: str, region: str, name: str) -> Resource:
        """Repository ``name`` of ``account``; ``*`` is every repository (no policy of its own)."""
        return cls(repository_arn(account, region, name), account, None if name == "*" else name)


class AccessDenied(Exception):
    """A refusal, with AWS's wording; each door shapes it into its own error."""

    def __init__(self, principal: Principal | None, action: str, resource: str, reason: str) -> None:
        self.principal = principal
        self.action = action
        self.resource = resource
        self.reason = reason  # AWS's tail: "because no ... policy allows ..." or "with an explicit deny ..."
        super().__init__(self.message)

    @property
    def message(self) -> str:
        who = "anonymous" if self.principal is None else self.principal.arn
        return (
            f"User: {who} is not authorized to perform: {self.action} on resource: {self.resource} "
            f"{self.reason}"
        )


async def authorize(
    authorizer: Authorizer,
    principal: Principal | None,
    action: str,
    resource: Resource,
    context: Mapping[str, ContextValue],
) -> Decision:
    """The allowing decision, or :class:`AccessDenied` with the reason.

    The root user in its own account reads the repository policy from the authorizer's
    short-lived copy: only that policy's Deny can stop it, and its common case stays query-free."""
    account = resource.account
    repository = resource.repository
    if repository is None:
        policy = None
    elif principal is not None and principal.is_root and principal.account_id == account:
        policy = await authorizer.cached_repository_policy(account, repository)
    else:
        policy = await authorizer.repository_policy(account, repository)
    decision = await authorizer.check(
        principal, action, resource.arn, account, policy, context, repository=repository
    )
    if not decision.allowed:
        raise AccessDenied(principal, action, resource.arn, deny_reason(decision, action, principal, account))
    return decision
