"""The ECR door assembled: SigV4 identity in front of the action handlers."""

from __future__ import annotations

import logging
import re
import time

from starlette.requests import Request

from dockyard.auth.identity import ROOT_USER
from dockyard.auth.principals import Principal
from dockyard.auth.request_context import RequestOrigin
from dockyard.ecr import actions, sigv4
from dockyard.ecr.actions.base import Call
from dockyard.ecr.dispatch import Endpoint, make_endpoint
from dockyard.ecr.errors import missing_authentication_token
from dockyard.registry import Registry

log = logging.getLogger("dockyard.ecr")
_SCOPE_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
KEY_CACHE_SECONDS = 30.0


class KeyCache:
    """Access key lookups, cached briefly: every API call needs one."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cache: dict[str, tuple[float, sigv4.Credential | None, Principal | None]] = {}

    async def lookup(self, access_key_id: str) -> tuple[sigv4.Credential | None, Principal | None]:
        now = time.monotonic()
        hit = self._cache.get(access_key_id)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        key = await self.registry.identity.lookup_key(access_key_id)
        entry = (
            (
                now + KEY_CACHE_SECONDS,
                sigv4.Credential(key.access_key_id, key.secret_access_key),
                key.principal,
            )
            if key
            else (now + KEY_CACHE_SECONDS, None, None)
        )
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[access_key_id] = entry
        return entry[1], entry[2]


def build_endpoint(registry: Registry) -> Endpoint:
    keys = KeyCache(registry)
    dev_account = registry.settings.dev_accept_any_credentials

    async def authenticate(request: Request, body: bytes) -> Call:
        host = request.headers.get("host", f"{registry.settings.host}:{registry.settings.port}")
        if dev_account:
            header = request.headers.get("authorization", "")
            if not header and "X-Amz-Credential" not in request.url.query:
                raise missing_authentication_token()
            m = _SCOPE_REGION.search(header)
            region = m.group(1) if m else registry.settings.region
            principal = Principal(dev_account, f"AIDA{dev_account}", ROOT_USER, is_root=True)
            return Call(principal, region, registry, host, origin=RequestOrigin.from_asgi(request.scope))

        principals: dict[str, Principal] = {}

        async def lookup(access_key_id: str) -> sigv4.Credential | None:
            credential, principal = await keys.lookup(access_key_id)
            if principal is not None:
                principals[access_key_id] = principal
            return credential

        verified = await sigv4.verify_asgi_request(request, body, lookup)
        principal = principals[verified.access_key_id]
        return Call(principal, verified.region, registry, host, origin=RequestOrigin.from_asgi(request.scope))

    return make_endpoint(actions.all_actions(), authenticate)
