"""Registry authorization tokens: what `docker login -u AWS` presents as its password.

A token is a JWS (joserfc, HS256) carrying the principal and its expiry, signed
with a key kept in the metadata database so that every node verifies it.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
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
        # Verified tokens (a pull sends the same one on every request): token -> (expiry, principal).
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    @staticmethod
    def generate_key() -> str:
        return str(OctKey.generate_key(256).as_dict()["k"])

    @classmethod
    def from_secret(cls, secret: str, ttl_seconds: int) -> TokenSigner:
        return cls(OctKey.import_key({"kty": "oct", "k": secret}), ttl_seconds)

    def issue(self, principal: Principal, now: float | None = None) -> IssuedToken:
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
        token = jwt.encode({"alg": "HS256"}, claims, self._key)
        return IssuedToken(token, float(expires))

    def verify(self, token: str, now: float | None = None) -> Principal:
        current = now if now is not None else time.time()
        cached = self._verified.get(token)
        if cached is not None:
            if cached[0] <= current:
                self._verified.pop(token, None)
                raise TokenInvalid(
                    "Your authorization token has expired. Reauthenticate and try again.", True
                )
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
        self._verified[token] = (expires, principal)
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal
