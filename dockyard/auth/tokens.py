"""Registry authorization tokens: what `docker login -u AWS` presents as its password.

A token is a JWS (joserfc, HS256) carrying the principal, its expiry and the region it was
issued in, signed with a key kept in the metadata database so that every node verifies it. As
in ECR, a token is good for the registries of its region only.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from dockyard.auth.principals import Principal

CACHE_SIZE = 10000


class TokenInvalid(Exception):
    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # the password
    expires_at: float

    @property
    def authorization_token(self) -> str:
        """What GetAuthorizationToken returns: base64 of `AWS:<password>`."""
        return base64.b64encode(f"AWS:{self.token}".encode()).decode()


class TokenSigner:
    def __init__(self, key: OctKey, ttl_seconds: int) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds
        # Verified tokens (a pull sends the same one on every request):
        # token -> (expiry, principal, region or None for tokens from before regions were recorded).
        self._verified: OrderedDict[str, tuple[float, Principal, str | None]] = OrderedDict()

    @staticmethod
    def generate_key() -> str:
        return str(OctKey.generate_key(256).as_dict()["k"])

    @classmethod
    def from_secret(cls, secret: str, ttl_seconds: int) -> TokenSigner:
        return cls(OctKey.import_key({"kty": "oct", "k": secret}), ttl_seconds)

    def issue(self, principal: Principal, now: float | None = None, region: str | None = None) -> IssuedToken:
        issued = int(now if now is not None else time.time())
        expires = issued + self.ttl_seconds
        claims = {
            "iss": "dockyard",
            "sub": principal.arn,
            "acct": principal.account_id,
            "uid": principal.user_id,
            "usr": principal.user_name,
            "root": principal.is_root,
            "akid": principal.access_key_id,
            "iat": issued,
            "exp": expires,
        }
        if region is not None:
            claims["rgn"] = region
        token = jwt.encode({"alg": "HS256"}, claims, self._key)
        return IssuedToken(token, float(expires))

    def verify(
        self, token: str, now: float | None = None, regions: Collection[str] | None = None
    ) -> Principal:
        """The principal ``token`` was issued to; TokenInvalid when it is forged, expired, or
        issued in a region not among ``regions`` (None: any)."""
        current = now if now is not None else time.time()
        cached = self._verified.get(token)
        if cached is not None:
            if cached[0] <= current:
                self._verified.pop(token, None)
                raise TokenInvalid(
                    "Your authorization token has expired. Reauthenticate and try again.", True
                )
            _check_region(cached[2], regions)
            return cached[1]
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
        except (JoseError, ValueError, TypeError):
            raise TokenInvalid("Your authorization token is invalid.") from None
        claims = decoded.claims
        try:
            expires = float(claims["exp"])
            principal = Principal(
                account_id=str(claims["acct"]),
                user_id=str(claims["uid"]),
                user_name=str(claims["usr"]),
                is_root=bool(claims.get("root")),
                access_key_id=claims.get("akid"),
            )
        except (KeyError, TypeError, ValueError):
            raise TokenInvalid("Your authorization token is invalid.") from None
        if expires <= current:
            raise TokenInvalid("Your authorization token has expired. Reauthenticate and try again.", True)
        region = str(claims["rgn"]) if "rgn" in claims else None
        self._verified[token] = (expires, principal, region)
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        _check_region(region, regions)
        return principal


def _check_region(region: str | None, regions: Collection[str] | None) -> None:
    if region is not None and regions is not None and region not in regions:
        raise TokenInvalid(
            f"Your authorization token was issued in {region}, which this registry does not serve "
            f"({', '.join(sorted(regions))}). Log in again with a token from one of those regions."
        )
