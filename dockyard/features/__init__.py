"""Features: background work and services over the domain, one folder each.

Each folder's ``__init__`` is its face, and the composition root (:mod:`dockyard.registry`) asks
every face the same two questions, so it never needs to know a feature's job names:

* ``job_handlers(registry)``: the feature's job handlers, by job kind;
* ``periodic_tasks(settings)``: the jobs the scheduler queues for it at intervals.

A feature sees the registry as :class:`RegistryParts` (or a narrower or wider protocol of its
own), never as the composition root's class: features sit below the root that assembles them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from dockyard.config import Settings
    from dockyard.core.image_deletion import ImageDeletion
    from dockyard.jobs.scheduler import Periodic
    from dockyard.jobs.worker import JobHandler
    from dockyard.store.blobs.base import BlobStore
    from dockyard.store.meta.database import Database


class RegistryParts(Protocol):
    """What features' jobs use of the assembled registry."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def store(self) -> BlobStore: ...

    @property
    def image_deletion(self) -> ImageDeletion: ...

    async def enqueue(self, kind: str, payload: dict[str, Any], **kwargs: Any) -> int | None:
        """Queue a job and wake this process's worker (see :meth:`JobQueue.enqueue`)."""
        ...


RegistryT_contra = TypeVar("RegistryT_contra", contravariant=True)


class Feature(Protocol[RegistryT_contra]):
    """A feature folder's face (the module itself satisfies it)."""

    def job_handlers(self, registry: RegistryT_contra) -> dict[str, JobHandler]: ...

    def periodic_tasks(self, settings: Settings) -> list[Periodic]: ...
