"""The composition root: builds the stores, domain services, jobs and features from settings, once
per process, shared by every front door."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from dockyard.auth.authorizer import REPOSITORY_POLICIES, Authorizer
from dockyard.auth.identity import IdentityService
from dockyard.auth.tokens import TokenSigner
from dockyard.config import Settings
from dockyard.core.blobs import BATCH as UPLOAD_BATCH
from dockyard.core.blobs import BlobService
from dockyard.core.image_deletion import ImageDeletion
from dockyard.core.images import ImageService
from dockyard.core.manifests import ManifestService
from dockyard.core.push_targets import PushTargets
from dockyard.core.repositories import RepositoryService
from dockyard.core.templates import TemplateService
from dockyard.features import Feature, gc, lifecycle, maintenance, scanning
from dockyard.features.scanning import ScanService
from dockyard.jobs.queue import JobQueue, Leases
from dockyard.jobs.scheduler import Periodic, Scheduler
from dockyard.jobs.worker import JobHandler, Worker
from dockyard.store.blobs import factory
from dockyard.store.blobs.base import BlobStore
from dockyard.store.free_space import MiB, Volume, volume
from dockyard.store.meta.database import Database

# Names this process in job leases: host, pid and a random part (pids repeat across restarts).
NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

# Every feature the server runs; each face is asked for its job handlers and periodic tasks.
FEATURES: tuple[Feature[Registry], ...] = (maintenance, lifecycle, gc, scanning)


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
    authorizer: Authorizer = field(init=False)
    push_targets: PushTargets = field(init=False)
    scans: ScanService = field(init=False)
    image_deletion: ImageDeletion = field(init=False)  # its on_delete hooks: none registered yet

    def __post_init__(self) -> None:
        self.authorizer = Authorizer(self.db, self.account_setting_defaults)
        self.push_targets = PushTargets(
            self.repositories,
            TemplateService(self.db),
            create_on_push=self.settings.create_on_push,
            region=self.settings.region,
            repository_policy_set=self._repository_policy_set,
        )
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

    def job_handlers(self) -> dict[str, JobHandler]:
        """Every feature's job handlers, by job kind."""
        handlers: dict[str, JobHandler] = {}
        for feature in FEATURES:
            for kind, handler in feature.job_handlers(self).items():
                if kind in handlers:
                    raise ValueError(f"two features handle {kind!r} jobs")
                handlers[kind] = handler
        return handlers

    def periodic_tasks(self) -> list[Periodic]:
        """Every feature's periodic tasks, for the scheduler."""
        return [task for feature in FEATURES for task in feature.periodic_tasks(self.settings)]

    def start_background(self) -> None:
        """Run jobs and the periodic scheduler in this process (server processes only)."""
        self.worker = Worker(
            self.jobs,
            self.job_handlers(),
            concurrency=self.settings.job_concurrency,
            lease_seconds=self.settings.job_lease_seconds,
        )
        self.worker.start()
        self.scheduler = Scheduler(self.db, self.jobs, self.leases, self.periodic_tasks())
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

    async def _repository_policy_set(self, account_id: str, name: str) -> None:
        """Every process's authorizer drops its copy of this repository's (former) policy."""
        await self.db.caches.changed(REPOSITORY_POLICIES, (account_id, name))

    def volumes(self) -> list[Volume]:
        """The local volumes this server writes to: the filesystem blob store's, and the SQLite
        database's when it is on another one (object storage and PostgreSQL are not ours to watch)."""
        found = []
        blobs = self.store.volume()
        if blobs is not None:
            found.append(blobs)
        if self.db.is_sqlite:
            database = volume("database", os.path.dirname(self.db.url.split(":///", 1)[-1]) or ".")
            if blobs is None or database.device != blobs.device:
                found.append(database)
        return found

    def low_space(self) -> str | None:
        """Why uploads cannot proceed for lack of space (free space under the floor plus the
        largest write an upload makes), or None."""
        floor = int(self.settings.min_free_mib * MiB)
        if not floor:
            return None
        for v in self.volumes():
            if v.free < floor + UPLOAD_BATCH:
                return (
                    f"low disk space: {v.free // MiB} MiB free on {v.path} ({v.name}); uploads need more "
                    f"than {floor // MiB} MiB free (--min-free-mib) and resume by themselves when it is"
                )
        return None

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.worker is not None:
            await self.worker.stop()
        await self.db.close()


def open_blob_store(settings: Settings) -> BlobStore:
    return factory.open_blob_store(
        settings.blob_store or f"file:{settings.blobs_dir}", int(settings.min_free_mib * MiB)
    )
