"""Manifests and tags: push, pull, referrers and tag listing (deletes: `core/image_deletion.py`).

Each read is one indexed query; each push is one transaction that checks every
referenced blob and child manifest, stores the exact bytes, and moves tags.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.core.digests import digest_bytes, is_digest, parse_digest
from dockyard.core.errors import (
    DigestInvalid,
    DomainError,
    ManifestBlobUnknown,
    ManifestTooLarge,
    ManifestUnknown,
    TagImmutable,
    TagInvalid,
)
from dockyard.core.media_types import INDEXES, MAX_MANIFEST_BYTES, OCI_INDEX, parse_manifest
from dockyard.core.names import validate_tag
from dockyard.core.repositories import Repository, RepositoryService, not_found
from dockyard.faults import crash_point
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

# Storage classes of manifests.storage_class (ECR's archival tier).
STANDARD, ARCHIVE = "STANDARD", "ARCHIVE"


class LayersUnknown(ManifestBlobUnknown):
    """Blobs (config, layers) a manifest names are not in the repository; `missing` lists them all."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message, {"digest": missing[0]})
        self.missing = missing


class ChildManifestsUnknown(ManifestBlobUnknown):
    """Manifests an index names are not in the repository; `missing` lists them all."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message, {"digest": missing[0]})
        self.missing = missing


class ManifestUnchanged(DomainError):
    """A push with `refuse_unchanged` that would neither add the manifest nor move a tag."""

    def __init__(self, digest: str, tags: list[str]) -> None:
        super().__init__(f"manifest {digest} is already stored with tags {tags}")
        self.digest = digest
        self.tags = tags


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes
    repository_id: int
    id: int = 0
    last_pulled_at: datetime | None = None

    def pull_time_stale(self, resolution: timedelta) -> bool:
        """Whether a pull now should update lastRecordedPullTime (kept to a coarse resolution)."""
        return self.last_pulled_at is None or self.last_pulled_at < t.now() - resolution


@dataclass(frozen=True, slots=True)
class PushResult:
    digest: str
    media_type: str
    subject: str | None
    tags: list[str]
    created: bool


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str] | None


def tag_is_immutable(repo: Repository, tag: str) -> bool:
    """ECR's four mutability modes, with WILDCARD exclusion filters."""
    mode = repo.tag_mutability
    filters = [f.get("filter", "") for f in (repo.tag_mutability_exclusions or [])]
    excluded = any(fnmatch.fnmatchcase(tag, f) for f in filters)
    if mode == "IMMUTABLE":
        return True
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mode == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return False


# Called after a push commits (scan on push): it may only enqueue work, never do it.
PushHook = Callable[[Repository, "PushResult", int], Awaitable[None]]


# A pull's manifest lookups (by digest, by tag), built once: building costs more than running.
_m, _r = t.manifests, t.repositories
_COLUMNS = (
    _m.c.digest,
    _m.c.media_type,
    _m.c.content,
    _m.c.repository_id,
    _m.c.id,
    _m.c.last_pulled_at,
    _m.c.storage_class,
)
_BY_DIGEST = (
    sa.select(*_COLUMNS)
    .select_from(_r.join(_m, _m.c.repository_id == _r.c.id))
    .where(
        _r.c.account_id == sa.bindparam("account_id"),
        _r.c.name == sa.bindparam("name"),
        _m.c.digest == sa.bindparam("reference"),
    )
)
_BY_TAG = (
    sa.select(*_COLUMNS)
    .select_from(_r.join(t.tags, t.tags.c.repository_id == _r.c.id).join(_m, _m.c.id == t.tags.c.manifest_id))
    .where(
        _r.c.account_id == sa.bindparam("account_id"),
        _r.c.name == sa.bindparam("name"),
        t.tags.c.name == sa.bindparam("reference"),
    )
)


class ManifestService:
    def __init__(self, db: Database, repositories: RepositoryService) -> None:
        self.db = db
        self.repositories = repositories
        self.on_push: PushHook | None = None

    # ---------------------------------------------------------------- reads
    async def get(self, account_id: str, repo_name: str, reference: str) -> StoredManifest:
        params = {"account_id": account_id, "name": repo_name, "reference": reference}
        if is_digest(reference):
            parse_digest(reference)
            query = _BY_DIGEST
        else:
            try:
                validate_tag(reference)
            except TagInvalid:
                # No manifest can have an invalid tag: a miss, as the conformance suite expects.
                raise ManifestUnknown(
                    f"manifest {reference[:200]!r} is unknown", {"reference": reference}
                ) from None
            query = _BY_TAG
        async with self.db.read() as conn:
            row = (await conn.execute(query, params)).first()
            if row is None:
                await self.repositories.get(account_id, repo_name, conn)  # NAME_UNKNOWN first
                raise ManifestUnknown(
                    f"manifest {reference!r} is unknown to repository '{repo_name}'", {"reference": reference}
                )
        if row.storage_class == ARCHIVE:
            raise ManifestUnknown(
                f"manifest {reference!r} ({row.digest}) in repository '{repo_name}' is archived and cannot "
                "be pulled; restore it with the ECR action UpdateImageStorageClass "
                "(targetStorageClass STANDARD) or push it again",
                {"reference": reference, "digest": row.digest, "storageClass": ARCHIVE},
            )
        return StoredManifest(
            row.digest, row.media_type, row.content, row.repository_id, row.id, row.last_pulled_at
        )

    async def get_child(self, repository_id: int, digest: str) -> StoredManifest | None:
        m = t.manifests
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        m.c.digest, m.c.media_type, m.c.content, m.c.repository_id, m.c.id, m.c.last_pulled_at
                    ).where(
                        m.c.repository_id == repository_id,
                        m.c.digest == digest,
                        m.c.storage_class != ARCHIVE,
                    )
                )
            ).first()
        if row is None:
            return None
        return StoredManifest(
            row.digest, row.media_type, row.content, row.repository_id, row.id, row.last_pulled_at
        )

    # ---------------------------------------------------------------- push
    async def put(
        self,
        repo: Repository,
        reference: str,
        body: bytes,
        content_type: str | None,
        extra_tags: list[str] | None = None,
        *,
        refuse_unchanged: bool = False,
    ) -> PushResult:
        """Store a manifest and move its tags, in one transaction.

        `refuse_unchanged` (ECR's PutImage) raises ManifestUnchanged when the manifest is
        already stored and every tag already points at it; the /v2/ door accepts such re-pushes.
        """
        if len(body) > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(
                f"manifest is {len(body)} bytes; the limit is {MAX_MANIFEST_BYTES} (4 MiB)"
            )
        tags: list[str] = []
        if is_digest(reference):
            wanted = parse_digest(reference)
            digest = digest_bytes(body, wanted.algorithm)
            if digest != reference:
                raise DigestInvalid(
                    f"the manifest's digest is {digest}, not {reference}",
                    {"expected": reference, "actual": digest},
                )
        else:
            tags.append(validate_tag(reference))
            digest = digest_bytes(body)
        for tag in extra_tags or []:
            if tag not in tags:
                tags.append(validate_tag(tag))
        parsed = parse_manifest(body, content_type)

        async with self.db.write() as conn:
            await self._check_references(conn, repo, parsed.blob_refs, parsed.child_refs)
            manifest_id, created = await self._upsert_manifest(conn, repo, digest, body, parsed)
            crash_point("manifest.before_commit")
            moved = False
            for tag in tags:
                moved = await self._move_tag(conn, repo, tag, manifest_id, digest) or moved
            if refuse_unchanged and not created and not moved:
                raise ManifestUnchanged(digest, tags)
        result = PushResult(digest, parsed.media_type, parsed.subject, tags, created)
        if created and self.on_push is not None:
            try:
                await self.on_push(repo, result, manifest_id)
            except Exception:  # the manifest is stored: the push succeeded whatever the hook does
                logging.getLogger(__name__).exception("push hook failed for %s", digest)
        return result

    async def _check_references(
        self, conn: AsyncConnection, repo: Repository, blob_refs: list[tuple[str, int]], child_refs: list[str]
    ) -> None:
        wanted_blobs = {d for d, _ in blob_refs}
        if wanted_blobs:
            # Touch the links inside this transaction: link garbage collection only deletes
            # links untouched for its grace period and re-checks that after taking the row
            # lock, so either it removed the link first (we see fewer rows: BLOB_UNKNOWN) or
            # it sees our fresh `referenced_at` (or our manifest) and keeps it.
            rb = t.repository_blobs
            ours = sa.and_(rb.c.repository_id == repo.id, rb.c.digest.in_(wanted_blobs))
            if not self.db.is_sqlite:  # lock in a fixed order: concurrent pushes never deadlock
                await conn.execute(sa.select(rb.c.digest).where(ours).order_by(rb.c.digest).with_for_update())
            touched = await conn.execute(rb.update().where(ours).values(referenced_at=t.now()))
            missing: list[str] = []
            if touched.rowcount != len(wanted_blobs):
                found = set((await conn.execute(sa.select(rb.c.digest).where(ours))).scalars())
                missing = sorted(wanted_blobs - found) or sorted(wanted_blobs)
            if missing:
                raise LayersUnknown(
                    f"the manifest references blob {missing[0]}, which is not in repository '{repo.name}'; "
                    "push the blob first",
                    missing,
                )
        if child_refs:
            children = set(
                (
                    await conn.execute(
                        sa.select(t.manifests.c.digest).where(
                            t.manifests.c.repository_id == repo.id, t.manifests.c.digest.in_(set(child_refs))
                        )
                    )
                ).scalars()
            )
            missing_children = sorted(set(child_refs) - children)
            if missing_children:
                raise ChildManifestsUnknown(
                    f"the index references manifest {missing_children[0]}, which is not in repository "
                    f"'{repo.name}'; push the child manifests first",
                    missing_children,
                )

    async def _upsert_manifest(
        self, conn: AsyncConnection, repo: Repository, digest: str, body: bytes, parsed: Any
    ) -> tuple[int, bool]:
        m = t.manifests
        existing = (
            await conn.execute(
                sa.select(m.c.id, m.c.storage_class).where(m.c.repository_id == repo.id, m.c.digest == digest)
            )
        ).first()
        if existing is not None:
            if existing.storage_class == ARCHIVE:
                # A re-push restores an archived image (with an index's children), as on ECR.
                await _restore(conn, repo.id, existing.id)
                return existing.id, True
            return existing.id, False
        result = await conn.execute(
            m.insert()
            .values(
                repository_id=repo.id,
                digest=digest,
                media_type=parsed.media_type,
                artifact_type=parsed.artifact_type,
                config_media_type=parsed.config_media_type,
                subject_digest=parsed.subject,
                annotations=parsed.annotations,
                content=body,
                image_size=parsed.layers_size,
                pushed_at=t.now(),
            )
            .returning(m.c.id)
        )
        manifest_id = int(result.scalar_one())
        blob_digests = {d for d, _ in parsed.blob_refs}
        if blob_digests:
            await conn.execute(
                t.manifest_blobs.insert(), [{"manifest_id": manifest_id, "digest": d} for d in blob_digests]
            )
        if parsed.child_refs:
            await conn.execute(
                t.manifest_children.insert(),
                [
                    {"parent_id": manifest_id, "repository_id": repo.id, "child_digest": d}
                    for d in set(parsed.child_refs)
                ],
            )
        return manifest_id, True

    async def _move_tag(
        self, conn: AsyncConnection, repo: Repository, tag: str, manifest_id: int, digest: str
    ) -> bool:
        """Point `tag` at the manifest; False when it already did."""
        current = await conn.scalar(
            sa.select(t.tags.c.manifest_id).where(t.tags.c.repository_id == repo.id, t.tags.c.name == tag)
        )
        if current == manifest_id:
            return False
        if current is not None:
            if tag_is_immutable(repo, tag):
                raise TagImmutable(
                    f"The image tag '{tag}' already exists in the '{repo.name}' repository and cannot be "
                    "overwritten because the repository is immutable."
                )
            await conn.execute(
                t.tags.update()
                .where(t.tags.c.repository_id == repo.id, t.tags.c.name == tag)
                .values(manifest_id=manifest_id, updated_at=t.now())
            )
        else:
            await conn.execute(
                t.tags.insert().values(
                    repository_id=repo.id, name=tag, manifest_id=manifest_id, updated_at=t.now()
                )
            )
        return True

    # ---------------------------------------------------------------- listings
    async def list_tags(
        self, account_id: str, repo_name: str, last: str | None, limit: int | None
    ) -> list[str]:
        r = t.repositories
        query = (
            sa.select(r.c.id, t.tags.c.name)
            .select_from(r.outerjoin(t.tags, t.tags.c.repository_id == r.c.id))
            .where(r.c.account_id == account_id, r.c.name == repo_name)
            .order_by(t.tags.c.name)
        )
        if last:
            query = query.where(sa.or_(t.tags.c.name > last, t.tags.c.name.is_(None)))
        if limit is not None:
            query = query.limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                await self.repositories.get(account_id, repo_name, conn)  # NAME_UNKNOWN if missing
        return [row.name for row in rows if row.name is not None]

    async def referrers(
        self, account_id: str, repo_name: str, digest: str, artifact_type: str | None = None
    ) -> list[Referrer]:
        parse_digest(digest)
        m, r = t.manifests, t.repositories
        # The filters sit in the join so that an existing repository always yields a row.
        join_on = sa.and_(m.c.repository_id == r.c.id, m.c.subject_digest == digest)
        if artifact_type is not None:
            join_on = sa.and_(join_on, m.c.artifact_type == artifact_type)
        query = (
            sa.select(
                r.c.id,
                m.c.digest,
                m.c.media_type,
                m.c.artifact_type,
                m.c.annotations,
                sa.func.length(m.c.content).label("size"),
            )
            .select_from(r.outerjoin(m, join_on))
            .where(r.c.account_id == account_id, r.c.name == repo_name)
            .order_by(m.c.digest)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            raise not_found(account_id, repo_name)
        return [
            Referrer(row.digest, row.media_type, row.size, row.artifact_type, row.annotations)
            for row in rows
            if row.digest is not None
        ]


async def _restore(conn: AsyncConnection, repository_id: int, manifest_id: int) -> None:
    """Back to STANDARD: the manifest and the manifests it lists (for an index)."""
    m, mc = t.manifests, t.manifest_children
    children = sa.select(mc.c.child_digest).where(mc.c.parent_id == manifest_id)
    await conn.execute(
        m.update()
        .where(
            m.c.repository_id == repository_id,
            sa.or_(m.c.id == manifest_id, m.c.digest.in_(children)),
            m.c.storage_class == ARCHIVE,
        )
        .values(storage_class=STANDARD, activated_at=t.now())
    )


def referrers_index(referrers: list[Referrer]) -> bytes:
    manifests = []
    for ref in referrers:
        desc: dict[str, Any] = {"mediaType": ref.media_type, "digest": ref.digest, "size": ref.size}
        if ref.artifact_type:
            desc["artifactType"] = ref.artifact_type
        if ref.annotations:
            desc["annotations"] = ref.annotations
        manifests.append(desc)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()


def pick_platform_child(content: bytes, accepted: set[str]) -> str | None:
    """For a client that can't read indexes: the linux/amd64 child, as Distribution does."""
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    for entry in doc.get("manifests", []):
        platform = entry.get("platform") or {}
        if (
            platform.get("os") == "linux"
            and platform.get("architecture") == "amd64"
            and entry.get("mediaType") in accepted
        ):
            return str(entry.get("digest"))
    return None


def is_index(media_type: str) -> bool:
    return media_type in INDEXES
