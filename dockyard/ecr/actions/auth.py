"""GetAuthorizationToken: the password `docker login -u AWS` uses."""

from __future__ import annotations

from datetime import UTC, datetime

from dockyard.ecr.actions.base import Call, Params, Result, action


@action("GetAuthorizationToken")
async def get_authorization_token(call: Call, params: Params) -> Result:
    tokens = call.registry.tokens
    assert tokens is not None, "registry not started"
    issued = tokens.issue(call.principal, region=call.region)  # good in this region only, as in ECR
    scheme = "https" if call.settings.uri_style == "aws" else call.origin.scheme
    # ECR returns one entry per requested registry; the token itself works on every one
    # the principal may reach, as in AWS.
    registry_ids = params.get("registryIds") or [call.principal.account_id]
    return {
        "authorizationData": [
            {
                "authorizationToken": issued.authorization_token,
                "expiresAt": datetime.fromtimestamp(issued.expires_at, UTC),
                "proxyEndpoint": f"{scheme}://{call.registry_host(registry_id)}",
            }
            for registry_id in registry_ids
        ]
    }
