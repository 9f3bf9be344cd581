"""The composition root: builds the stores, domain services, jobs and features from settings, once
per process, shared by every front door."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.auth.identity import IdentityService
from dockyard.auth.tokens import TokenSigner
from dockyard.config import Settings
from dockyard.core.blobs import BlobService
from dockyard.core.errors import RepositoryAlreadyExists, RepositoryNotFound
from dockyard.core.image_deletion import ImageDeletion
from dockyard.core.images import ImageService
from dockyard.core.manifests import ManifestService
from dockyard.core.repositories import Repository, RepositoryService, default_kms_key
from dockyard.core.templates import CREATE_ON_PUSH, TemplateService
from dockyard.features.scanning.service import RESCAN_EVERY_SECONDS, RESCAN_JOB, ScanService
from dockyard.jobs.queue import JobQueue, Leases
from dockyard.jobs.scheduler import Periodic, Scheduler
from dockyard.jobs.worker import Worker
from dockyard.store.blobs import factory
from dockyard.store.blobs.base import BlobStore
from dockyard.store.meta.database import Database

# Names this process in job leases: host, pid and a random part (pids repeat across restarts).
NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Registry:
    settings: Settings
    db: Database
    store: BlobStore
    repositories: RepositoryService
    blobs: BlobService
    manifests: ManifestService
    images: ImageService
    identity: IdentityService
    jobs: JobQueue
    leases: Leases
    tokens: TokenSigner | None = None  # set by `start()`: its key lives in the database
    worker: Worker | None = None
    scheduler: Scheduler | None = None
    scans: ScanService = field(init=False)
    image_deletion: ImageDeletion = field(init=False)  # its on_delete hooks: none registered yet

    def __post_init__(self) -> None:
        self.scans = ScanService(self)
        self.image_deletion = ImageDeletion(self.db, self.repositories)
        self.manifests.on_push = self.scans.on_push  # scan on push: enqueue only, never wait

    @classmethod
    def build(cls, settings: Settings) -> Registry:
        from dockyard import clock

        clock.set_offset(settings.dev_clock_offset_seconds)
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
            images=ImageService(db, repositories),
            identity=IdentityService(db),
            jobs=JobQueue(db, NODE_ID),
            leases=Leases(db, NODE_ID),
        )

    async def start(self, ensure_default_account: bool = True) -> None:
        """Migrate, make sure the default account exists (servers; a CLI command naming an account
        must not create it), load the shared signing key."""
        from dockyard.store.meta.server_settings import get_or_create

        if self.settings.migrate_on_start:
            await self.db.migrate()
        if ensure_default_account:
            await self.identity.ensure_account(self.settings.account_id)
        secret = await get_or_create(self.db, "keys", "token-signing", TokenSigner.generate_key)
        self.tokens = TokenSigner.from_secret(secret, self.settings.token_ttl)

    def start_background(self) -> None:
        """Run jobs and the periodic scheduler in this process (server processes only)."""
        from dockyard.features.maintenance import jobs as maintenance
        from dockyard.features.scanning import service as scanning

        self.worker = Worker(
            self.jobs,
            {**maintenance.handlers(self), **scanning.handlers(self)},
            concurrency=self.settings.job_concurrency,
            lease_seconds=self.settings.job_lease_seconds,
        )
        self.worker.start()
        self.scheduler = Scheduler(
            self.db,
            self.jobs,
            self.leases,
            [
                Periodic(
                    maintenance.PURGE_UPLOADS, 3600, {"max_age_hours": self.settings.upload_max_age_hours}
                ),
                Periodic("lifecycle-scan", self.settings.lifecycle_interval_minutes * 60),
                Periodic(
                    "gc",
                    self.settings.gc_interval_hours * 3600,
                    {"grace_hours": self.settings.gc_grace_hours},
                ),
                Periodic(RESCAN_JOB, RESCAN_EVERY_SECONDS),
            ],
        )
        self.scheduler.start()

    async def enqueue(self, kind: str, payload: dict[str, Any], **kwargs: Any) -> int | None:
        job_id = await self.jobs.enqueue(kind, payload, **kwargs)
        if self.worker is not None:
            self.worker.wake()
        return job_id

    @property
    def account_setting_defaults(self) -> dict[str, str]:
        """Account settings' defaults on this server (where it departs from ECR's, by configuration)."""
        return {"BLOB_MOUNTING": self.settings.blob_mounting_default}

    async def repository_for_push(
        self,
        account_id: str,
        name: str,
        authorize_create: Callable[[], Awaitable[None]] | None = None,
    ) -> Repository:
        """The target of a push; created on the spot when a repository creation template with
        CREATE_ON_PUSH covers the name (with the template's settings), or when the server runs
        with --create-on-push (with defaults). Before creating, ``authorize_create`` (the door's
        ``ecr:CreateRepository`` check) runs and may raise to refuse."""
        try:
            return await self.repositories.get(account_id, name)
        except RepositoryNotFound as e:
            template = await TemplateService(self.db).match(account_id, name, CREATE_ON_PUSH)
            if template is None and not self.settings.create_on_push:
                e.message += (
                    f". Create it first (`aws ecr create-repository --repository-name {name}` or "
                    f"`dockyard repo create {name}`), add a repository creation template with "
                    "CREATE_ON_PUSH, or start the server with --create-on-push."
                )
                raise
        if authorize_create is not None:
            await authorize_create()
        try:
            if template is None:
                return await self.repositories.create(account_id, name)
            created = await self.repositories.create(
                account_id,
                name,
                tag_mutability=template.image_tag_mutability,
                tag_mutability_exclusions=template.exclusions,
                encryption_type=template.encryption_type,
                kms_key=(
                    None
                    if template.encryption_type == "AES256"
                    else template.kms_key or default_kms_key(account_id, self.settings.region)
                ),
                resource_tags=template.resource_tags,
                policy=template.repository_policy,
                lifecycle_policy=template.lifecycle_policy,
            )
        except RepositoryAlreadyExists:
            return await self.repositories.get(account_id, name)  # created concurrently
        if template.repository_policy:
            from dockyard.auth.authorizer import REPOSITORY_POLICIES

            await self.db.caches.changed(REPOSITORY_POLICIES, (account_id, name))
        return created

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.worker is not None:
            await self.worker.stop()
        await self.db.close()


def open_blob_store(settings: Settings) -> BlobStore:
    return factory.open_blob_store(settings.blob_store or f"file:{settings.blobs_dir}")
