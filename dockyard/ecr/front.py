"""The ECR door assembled: SigV4 identity in front of the action handlers."""

from __future__ import annotations

import logging
import re

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


def build_endpoint(registry: Registry) -> Endpoint:
    dev_account = registry.settings.dev_accept_any_credentials
    regions = registry.settings.regions  # a request signed for any other region is refused

    async def authenticate(request: Request, body: bytes) -> Call:
        host = request.headers.get("host", f"{registry.settings.host}:{registry.settings.port}")
        if dev_account:
            header = request.headers.get("authorization", "")
            credential = request.query_params.get("X-Amz-Credential")
            if not header and not credential:
                raise missing_authentication_token()
            m = _SCOPE_REGION.search(header or f"Credential={credential}")
            region = m.group(1) if m else registry.settings.region
            sigv4.check_region(region, regions)
            principal = Principal(dev_account, f"AIDA{dev_account}", ROOT_USER, is_root=True)
            request.scope["dockyard.principal"] = principal
            return Call(principal, region, registry, host, origin=RequestOrigin.from_asgi(request.scope))

        principals: dict[str, Principal] = {}

        async def lookup(access_key_id: str) -> sigv4.Credential | None:
            key = await registry.identity.cached_lookup_key(access_key_id)
            if key is None:
                return None
            principals[access_key_id] = key.principal
            return sigv4.Credential(key.access_key_id, key.secret_access_key)

        verified = await sigv4.verify_asgi_request(request, body, lookup, regions=regions)
        principal = principals[verified.access_key_id]
        request.scope["dockyard.principal"] = principal
        return Call(principal, verified.region, registry, host, origin=RequestOrigin.from_asgi(request.scope))

    return make_endpoint(actions.all_actions(), authenticate)
