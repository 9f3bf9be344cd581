"""What every `/v2/` handler gets: the route the router matched and the door's shared parts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.authorize import Resource
from dockyard.auth.authorizer import authorizer_for
from dockyard.oci.auth import OciAuthenticator
from dockyard.oci.errors import API_VERSION_HEADER
from dockyard.registry import Registry

log = logging.getLogger("dockyard.oci")
VERSION = {API_VERSION_HEADER[0]: API_VERSION_HEADER[1]}


@dataclass(frozen=True, slots=True)
class Route:
    """What the router found in the path: the endpoint kind, the repository name, and the
    reference, digest or upload id that follows it."""

    kind: str
    name: str = ""
    arg: str = ""


class Door:
    """The registry and the parts shared by every request through `/v2/`."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.region = registry.settings.region
        self.auth = OciAuthenticator(registry)
        # Shared with the ECR door, so a policy change made here is seen at once by both.
        self.authorizer = authorizer_for(registry)
        self._tasks: set[asyncio.Future[None]] = set()

    def repository(self, account: str, name: str) -> Resource:
        """Repository ``name`` of ``account`` as an authorization resource (``*``: all of them)."""
        return Resource.repository_in(account, self.region, name)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run bookkeeping (pull times) after the response, without making the client wait."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background bookkeeping failed: %s", task.exception())


Handler = Callable[[Door, Request, Route], Awaitable[Response]]


def account_of(request: Request) -> str:
    """The account (registry) the request addresses, set by the router from its Host."""
    return str(request.scope["dockyard.account"])
