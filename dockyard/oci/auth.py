"""Who is calling `/v2/`: HTTP Basic with user `AWS` and a GetAuthorizationToken password."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.identity import ROOT_USER
from dockyard.auth.principals import Principal
from dockyard.auth.tokens import TokenInvalid
from dockyard.oci.errors import API_VERSION_HEADER, error_response
from dockyard.registry import Registry


class AuthFailed(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("authentication failed")
        self.response = response


class OciAuthenticator:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        dev = registry.settings.dev_accept_any_credentials
        self.dev_principal = Principal(dev, f"AIDA{dev}", ROOT_USER, is_root=True) if dev else None

    def challenge(self, request: Request) -> dict[str, str]:
        host = request.headers.get("host", "localhost")
        scheme = "https" if self.registry.settings.uri_style == "aws" else request.url.scheme
        return {
            "WWW-Authenticate": f'Basic realm="{scheme}://{host}/",service="ecr.amazonaws.com"',
            API_VERSION_HEADER[0]: API_VERSION_HEADER[1],
        }

    def authenticate(self, request: Request) -> Principal | None:
        """The caller, or None for a request without credentials (anonymous: only what
        repository policies grant to everyone; anything else answers with the 401 challenge)."""
        header = request.headers.get("authorization")
        if self.dev_principal is not None:
            return self.dev_principal  # development switch: any or no credentials
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise self._unauthorized(
                request,
                "Use HTTP Basic authentication with user AWS and a token from `aws ecr get-login-password`.",
            )
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise self._unauthorized(request, "Malformed Basic credentials.") from None
        if user != "AWS":
            raise self._unauthorized(
                request, "The user name must be AWS; the password is the authorization token."
            )
        tokens = self.registry.tokens
        assert tokens is not None
        try:
            return tokens.verify(password, regions=self.registry.settings.regions)
        except TokenInvalid as e:
            if e.expired:
                raise AuthFailed(error_response(403, "DENIED", str(e))) from None
            raise self._unauthorized(request, str(e)) from None

    def unauthorized(self, request: Request, message: str = "Not Authorized") -> Response:
        """The 401 challenge that makes docker/podman log in."""
        return self._unauthorized(request, message).response

    def _unauthorized(self, request: Request, message: str) -> AuthFailed:
        return AuthFailed(error_response(401, "UNAUTHORIZED", message, headers=self.challenge(request)))
