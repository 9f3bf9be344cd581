"""Expiring layer download URLs: Dockyard's stand-in for the pre-signed S3 URLs of ECR.

GetDownloadUrlForLayer answers with `<scheme>://<host>/layers/<token>`, where the token
is a compact JWS (joserfc, HS256) naming the account, repository, digest and expiry.
Dockyard itself serves that path (`dockyard.ecr.layer_downloads`), without any other
credentials, until the token expires. The key lives in the metadata database
(`settings` scope "keys", name "layer-urls"), so every node signs and verifies alike.

TTL: one hour (LAYER_URL_TTL), the lifetime AWS documents for the S3 URLs ECR hands
out. A URL stays usable until then even if the image is deleted meanwhile, as long
as the repository still holds the blob.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from dockyard.store.meta.cache import CacheSpec
from dockyard.store.meta.database import Database

LAYER_URL_TTL = 3600
PATH_PREFIX = "/layers/"
KEY_SCOPE, KEY_NAME = "keys", "layer-urls"
_AUDIENCE = "dockyard-layer-download"


class LayerUrlInvalid(Exception):
    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


@dataclass(frozen=True, slots=True)
class LayerGrant:
    """What a valid token lets its bearer read."""

    account_id: str
    repository: str
    digest: str
    expires_at: int


class LayerUrlSigner:
    def __init__(self, key: OctKey, ttl_seconds: int = LAYER_URL_TTL) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def generate_key() -> str:
        return str(OctKey.generate_key(256).as_dict()["k"])

    @classmethod
    def from_secret(cls, secret: str, ttl_seconds: int = LAYER_URL_TTL) -> LayerUrlSigner:
        return cls(OctKey.import_key({"kty": "oct", "k": secret}), ttl_seconds)

    def issue(self, account_id: str, repository: str, digest: str, now: float | None = None) -> str:
        """A token granting GETs of one blob of one repository until now + TTL."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": "dockyard",
            "aud": _AUDIENCE,
            "acct": account_id,
            "repo": repository,
            "dig": digest,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
        }
        return jwt.encode({"alg": "HS256"}, claims, self._key)

    def verify(self, token: str, now: float | None = None) -> LayerGrant:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]).claims
        except (JoseError, ValueError, TypeError):
            raise LayerUrlInvalid("The layer URL is invalid.") from None
        try:
            if claims.get("aud") != _AUDIENCE:
                raise ValueError("audience")
            grant = LayerGrant(
                account_id=str(claims["acct"]),
                repository=str(claims["repo"]),
                digest=str(claims["dig"]),
                expires_at=int(claims["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            raise LayerUrlInvalid("The layer URL is invalid.") from None
        current = now if now is not None else time.time()
        if grant.expires_at <= current:
            raise LayerUrlInvalid("The layer URL has expired; call GetDownloadUrlForLayer again.", True)
        return grant


# The signer of the database's key, made once per process (the key never changes).
SIGNERS: CacheSpec[LayerUrlSigner] = CacheSpec("layer-url-signers", None)


async def signer_for(db: Database) -> LayerUrlSigner:
    """The signer of this database's key (created on first use), cached per process."""

    async def load() -> LayerUrlSigner:
        from dockyard.store.meta.server_settings import get_or_create

        secret = await get_or_create(db, KEY_SCOPE, KEY_NAME, LayerUrlSigner.generate_key)
        return LayerUrlSigner.from_secret(secret)

    return await db.caches.get(SIGNERS, KEY_NAME, load)
