"""The domain core, assembled once per process and shared by every front door."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.identity import IdentityService
from dockyard.auth.tokens import TokenSigner
from dockyard.config import Settings
from dockyard.core.blobs import BlobService
from dockyard.core.errors import RepositoryNotFound
from dockyard.core.manifests import ManifestService
from dockyard.core.repositories import Repository, RepositoryService
from dockyard.store.blobs.base import BlobStore
from dockyard.store.blobs.filesystem import FilesystemBlobStore
from dockyard.store.meta.database import Database


@dataclass
class Registry:
    settings: Settings
    db: Database
    store: BlobStore
    repositories: RepositoryService
    blobs: BlobService
    manifests: ManifestService
    identity: IdentityService
    tokens: TokenSigner | None = None  # set by `start()`: its key lives in the database

    @classmethod
    def build(cls, settings: Settings) -> Registry:
        db = Database(settings.database_url)
        store = open_blob_store(settings)
        repositories = RepositoryService(db)
        return cls(
            settings=settings,
            db=db,
            store=store,
            repositories=repositories,
            blobs=BlobService(db, store, repositories),
            manifests=ManifestService(db, repositories),
            identity=IdentityService(db),
        )

    async def start(self) -> None:
        """Migrate, make sure the default account exists, load the shared signing key."""
        from dockyard.store.meta.server_settings import get_or_create

        await self.db.migrate()
        await self.identity.ensure_account(self.settings.account_id)
        secret = await get_or_create(self.db, "keys", "token-signing", TokenSigner.generate_key)
        self.tokens = TokenSigner.from_secret(secret, self.settings.token_ttl)

    async def repository_for_push(self, account_id: str, name: str) -> Repository:
        """The target of a push; created on the spot when create-on-push is enabled."""
        try:
            return await self.repositories.get(account_id, name)
        except RepositoryNotFound as e:
            if not self.settings.create_on_push:
                e.message += (
                    f". Create it first (`aws ecr create-repository --repository-name {name}` or "
                    f"`dockyard repo create {name}`), or start the server with --create-on-push."
                )
                raise
        try:
            return await self.repositories.create(account_id, name)
        except Exception:
            return await self.repositories.get(account_id, name)  # created concurrently

    async def close(self) -> None:
        await self.db.close()


def open_blob_store(settings: Settings) -> BlobStore:
    if settings.blob_store and not settings.blob_store.startswith("file:"):
        raise ValueError(f"unsupported blob store {settings.blob_store!r}; use file:PATH")
    root = settings.blob_store[5:] if settings.blob_store else settings.blobs_dir
    return FilesystemBlobStore(root)  # type: ignore[arg-type]
