"""Authorization of `/v2/` requests: which IAM action each endpoint is, and the refusals.

Decisions come from :func:`dockyard.auth.authorize.authorize`, as for the ECR door; this module
only names the action and resource of a route and shapes a refusal as the registry API does
(a 401 challenge for anonymous callers, else 403 ``DENIED`` with AWS's message).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.authorize import AccessDenied, authorize
from dockyard.auth.policy import ContextValue
from dockyard.auth.principals import Principal
from dockyard.auth.request_context import RequestOrigin, request_context
from dockyard.core.errors import Denied
from dockyard.oci.errors import error_response
from dockyard.oci.handlers.base import Door, Route, account_of

# The IAM action ECR checks for each registry operation (ecr.md 1.4).
IAM_ACTIONS: dict[tuple[str, str], str] = {
    ("catalog", "GET"): "ecr:DescribeRepositories",
    ("tags", "GET"): "ecr:ListImages",
    ("manifests", "GET"): "ecr:BatchGetImage",
    ("manifests", "HEAD"): "ecr:BatchGetImage",
    ("manifests", "PUT"): "ecr:PutImage",
    ("manifests", "DELETE"): "ecr:BatchDeleteImage",
    ("blobs", "GET"): "ecr:GetDownloadUrlForLayer",
    ("blobs", "HEAD"): "ecr:BatchCheckLayerAvailability",
    ("blobs", "DELETE"): "ecr:BatchDeleteImage",
    ("uploads", "POST"): "ecr:InitiateLayerUpload",
    ("upload", "GET"): "ecr:UploadLayerPart",
    ("upload", "PATCH"): "ecr:UploadLayerPart",
    ("upload", "PUT"): "ecr:CompleteLayerUpload",
    ("upload", "DELETE"): "ecr:UploadLayerPart",
    ("referrers", "GET"): "ecr:BatchGetImage",
}


def context_of(request: Request) -> dict[str, ContextValue]:
    """The request's condition keys, built once per request (a push may be checked twice)."""
    found: dict[str, ContextValue] | None = request.scope.get("dockyard.context")
    if found is None:
        found = request_context(RequestOrigin.from_asgi(request.scope))
        request.scope["dockyard.context"] = found
    return found


def refusal(door: Door, request: Request, denied: AccessDenied) -> Response:
    if denied.principal is None:
        return door.auth.unauthorized(request)
    return error_response(403, "DENIED", denied.message)


async def check_route(
    door: Door, request: Request, route: Route, principal: Principal | None, account: str
) -> Response | None:
    """None when the request may go on, else the refusal (401 challenge when anonymous)."""
    if route.kind == "base":
        return door.auth.unauthorized(request) if principal is None else None
    action = IAM_ACTIONS.get((route.kind, request.method))
    if action is None:
        return refusal(door, request, AccessDenied(principal, "ecr:*", "*", ""))
    # The catalog lists only what the caller may describe; a caller from outside the account
    # first needs the registry (not a repository) to let it list at all.
    name = "*" if route.kind == "catalog" else route.name
    if route.kind == "catalog" and principal is not None and principal.account_id == account:
        return None
    context = context_of(request)
    try:
        await authorize(door.authorizer, principal, action, door.repository(account, name), context)
    except AccessDenied as denied:
        return refusal(door, request, denied)
    if route.kind == "uploads" and request.query_params.get("mount"):
        # The caller must be able to read the source; without `from` the source is any
        # repository of the account, so the right is needed on all of them.
        source = door.repository(account, request.query_params.get("from") or "*")
        try:
            await authorize(door.authorizer, principal, "ecr:GetDownloadUrlForLayer", source, context)
        except AccessDenied:
            request.scope["dockyard.mount_allowed"] = False
        else:
            request.scope["dockyard.mount_allowed"] = True
    return None


def create_check(door: Door, request: Request, route: Route) -> Callable[[], Coroutine[Any, Any, None]]:
    """The ``ecr:CreateRepository`` check a push runs before creating its repository."""

    async def check() -> None:
        principal = request.scope.get("dockyard.principal")
        resource = door.repository(account_of(request), route.name)
        try:
            await authorize(door.authorizer, principal, "ecr:CreateRepository", resource, context_of(request))
        except AccessDenied as denied:
            raise Denied(denied.message) from None

    return check
