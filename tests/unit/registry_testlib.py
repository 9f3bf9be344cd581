"""Helpers for unit tests that need a real Registry (SQLite + filesystem under tmp_path), or only
its metadata database and domain services."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from dockyard.config import Settings
from dockyard.core.image_deletion import ImageDeletion
from dockyard.core.images import ImageService
from dockyard.core.manifests import ManifestService
from dockyard.core.repositories import Repository, RepositoryService
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(tmp_path: Path, body: Callable[[Registry], Awaitable[Any]]) -> Any:
    """Start a registry on `tmp_path`, run `body` with it, close it."""

    async def main() -> Any:
        registry = Registry.build(Settings(data_dir=tmp_path))
        await registry.start()
        try:
            return await body(registry)
        finally:
            await registry.close()

    return asyncio.run(main())


# ------------------------------------------------------------------ metadata-only environments
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class MetadataEnv:
    """Domain services over a real SQLite metadata database, with no blob bytes: blob rows are
    written directly, so image and manifest logic can be tested without uploads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.repos = RepositoryService(db)
        self.manifests = ManifestService(db, self.repos)
        self.images = ImageService(db, self.repos)
        self.deletion = ImageDeletion(db, self.repos)

    async def blob(self, repo: Repository, data: bytes) -> dict[str, Any]:
        digest = sha256(data)
        row: dict[str, Any] = {"digest": digest, "size": len(data), "created_at": t.now()}
        if "storage_key" in t.blobs.c:  # where the bytes would live; no bytes are read here
            row["storage_key"] = digest
        async with self.db.write() as conn:
            await conn.execute(self.db.insert_ignore(t.blobs).values(**row))
            await conn.execute(
                self.db.insert_ignore(t.repository_blobs).values(
                    repository_id=repo.id, digest=digest, created_at=t.now()
                )
            )
        return {"digest": digest, "size": len(data)}

    async def image(
        self, repo: Repository, layer_sizes: tuple[int, ...] = (10,), subject: str | None = None
    ) -> bytes:
        config = await self.blob(repo, uuid.uuid4().bytes)
        layers = [await self.blob(repo, (uuid.uuid4().bytes * (n // 16 + 1))[:n]) for n in layer_sizes]
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **x} for x in layers],
        }
        if subject:
            doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
            doc["artifactType"] = "application/x.sig"
        return json.dumps(doc).encode()


E = TypeVar("E", bound=MetadataEnv)
T = TypeVar("T")


def run_metadata(
    env_class: Callable[[Database], E],
    make: Callable[[E], Awaitable[T]],
    tmp_path: Path,
    cleanup: Callable[[Database], None] | None = None,
) -> T:
    """Migrate a fresh SQLite database under `tmp_path`, run `make` with an env over it, close it."""

    async def main() -> T:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
        await db.migrate()
        try:
            return await make(env_class(db))
        finally:
            if cleanup is not None:
                cleanup(db)
            await db.close()

    return asyncio.run(main())
