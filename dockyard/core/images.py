"""Images as ECR sees them: manifests with their tags, listed, described and fetched by image
ids (tag and/or digest); deleting them is `core/image_deletion.py`, shared by every door.

Everything here reads and writes the same tables as `ManifestService`, so what one door
pushes the other sees at once. Each page is a fixed number of queries (no per-image
lookups); batch operations resolve all their ids together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.core.digests import parse_digest
from dockyard.core.errors import DigestInvalid, DomainError, TagInvalid
from dockyard.core.manifests import ARCHIVE, STANDARD
from dockyard.core.media_types import INDEXES
from dockyard.core.names import validate_tag
from dockyard.core.pull_exclusions import PullExclusionService
from dockyard.core.repositories import Repository, RepositoryService
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

# ECR refreshes lastRecordedPullTime "at least once every 24 hours"; we record a pull when
# the stored time is older than this, so pulls cost one UPDATE per image per interval.
PULL_TIME_RESOLUTION = timedelta(minutes=5)

# Failure codes of batch operations (ECR's ImageFailureCode values; the ECR door words them).
MISSING_DIGEST_AND_TAG = "MissingDigestAndTag"
INVALID_IMAGE_DIGEST = "InvalidImageDigest"
INVALID_IMAGE_TAG = "InvalidImageTag"
IMAGE_NOT_FOUND = "ImageNotFound"
TAG_DOES_NOT_MATCH_DIGEST = "ImageTagDoesNotMatchDigest"
REFERENCED_BY_MANIFEST_LIST = "ImageReferencedByManifestList"
IMAGE_INACCESSIBLE = "ImageInaccessible"  # what BatchGetImage reports for an archived image

_ECR_DIGEST_RE = re.compile(r"^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$")

TAGGED, UNTAGGED, ANY = "TAGGED", "UNTAGGED", "ANY"

# Storage classes (manifests.storage_class) and the image statuses ECR derives from them.
# Dockyard restores an archived image at once, so nothing is ever ACTIVATING.
ACTIVE, ARCHIVED, ACTIVATING = "ACTIVE", "ARCHIVED", "ACTIVATING"


def image_status(storage_class: str | None) -> str:
    return ARCHIVED if storage_class == ARCHIVE else ACTIVE


def _status_filter(m: sa.Table, status: str) -> sa.ColumnElement[bool] | None:
    """ECR's filter.imageStatus as a condition on manifests (None: every image)."""
    if status == ACTIVE:
        return m.c.storage_class != ARCHIVE
    if status == ARCHIVED:
        return m.c.storage_class == ARCHIVE
    if status == ACTIVATING:
        return sa.false()
    return None


# ------------------------------------------------------------------------------ errors
class ImageLookupFailed(DomainError):
    """An image id names no image (or is malformed); `failure` says how, as a batch would."""

    def __init__(self, problem: ImageFailure) -> None:
        super().__init__(problem.reason or problem.code)
        self.failure = problem


class StorageClassUnchanged(DomainError):
    """UpdateImageStorageClass to the class the image is already in."""


async def set_storage_class_rows(conn: AsyncConnection, manifest_ids: Sequence[int], target: str) -> None:
    """Move manifests to `target`, stamping archived_at / activated_at when they change class."""
    if not manifest_ids:
        return
    m = t.manifests
    stamp = {"archived_at": t.now()} if target == ARCHIVE else {"activated_at": t.now()}
    await conn.execute(
        m.update()
        .where(m.c.id.in_(list(manifest_ids)), m.c.storage_class != target)
        .values(storage_class=target, **stamp)
    )


# ------------------------------------------------------------------------------ values
@dataclass(frozen=True, slots=True)
class ImageId:
    """An image named by digest and/or tag, as the caller wrote it."""

    digest: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class ImageFailure:
    """Why one image id of a batch failed: a failure code, and a reason when the case has its
    own (the doors word the others)."""

    image_id: ImageId
    code: str
    reason: str | None = None


def failure(image_id: ImageId, code: str, reason: str | None = None) -> ImageFailure:
    return ImageFailure(image_id, code, reason)


@dataclass(slots=True)
class ImageInfo:
    """What DescribeImages reports about one manifest."""

    id: int
    digest: str
    media_type: str
    config_media_type: str | None
    artifact_type: str | None
    subject_digest: str | None
    size: int
    pushed_at: datetime
    last_pulled_at: datetime | None
    tags: list[str] = field(default_factory=list)
    status: str = ACTIVE
    archived_at: datetime | None = None
    activated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ListedId:
    manifest_id: int
    digest: str
    tag: str | None


@dataclass(frozen=True, slots=True)
class FetchedImage:
    """One BatchGetImage hit: the requested id (completed with the digest) and the stored bytes."""

    image_id: ImageId
    manifest_id: int
    digest: str
    media_type: str
    content: bytes
    by_tag: bool = False  # asked for by tag alone (ECR converts formats only then)


@dataclass(frozen=True, slots=True)
class ImageReferrer:
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    annotations: dict[str, str] | None
    status: str = ACTIVE  # ECR's artifactStatus: ARCHIVED when in the archive storage class


@dataclass
class _Resolved:
    """The outcome of resolving image ids against one repository."""

    manifests: dict[int, Any]  # id -> manifest row
    by_digest: dict[str, int]  # digest -> manifest id
    by_tag: dict[str, int]  # tag -> manifest id
    hits: list[tuple[ImageId, int]]  # ids that name a stored image, in request order
    failures: list[ImageFailure]


def check_image_id(image_id: ImageId) -> ImageFailure | None:
    """The failure ECR reports for a malformed id, if any."""
    if image_id.digest is None and image_id.tag is None:
        return failure(image_id, MISSING_DIGEST_AND_TAG)
    if image_id.digest is not None:
        if not _ECR_DIGEST_RE.match(image_id.digest):
            return failure(image_id, INVALID_IMAGE_DIGEST)
        try:
            parse_digest(image_id.digest)
        except DigestInvalid:
            return failure(image_id, INVALID_IMAGE_DIGEST)
    if image_id.tag is not None:
        try:
            validate_tag(image_id.tag)
        except TagInvalid:
            return failure(image_id, INVALID_IMAGE_TAG)
    return None


def dedupe(ids: Iterable[ImageId]) -> list[ImageId]:
    seen: set[ImageId] = set()
    out = []
    for image_id in ids:
        if image_id not in seen:
            seen.add(image_id)
            out.append(image_id)
    return out


def _image_size(m: sa.Table) -> sa.ColumnElement[Any]:
    """imageSizeInBytes: the layers' total; for an index, the largest child in the repository."""
    child = t.manifests.alias("child")
    mc = t.manifest_children
    largest_child = (
        sa.select(sa.func.max(child.c.image_size))
        .select_from(
            mc.join(
                child,
                sa.and_(child.c.repository_id == mc.c.repository_id, child.c.digest == mc.c.child_digest),
            )
        )
        .where(mc.c.parent_id == m.c.id)
        .scalar_subquery()
    )
    return sa.case(
        (m.c.media_type.in_(sorted(INDEXES)), sa.func.coalesce(largest_child, 0)), else_=m.c.image_size
    ).label("size")


def _tag_filter(m: sa.Table, tag_status: str) -> sa.ColumnElement[bool] | None:
    has_tag = sa.exists().where(t.tags.c.manifest_id == m.c.id)
    if tag_status == TAGGED:
        return has_tag
    if tag_status == UNTAGGED:
        return ~has_tag
    return None


# ------------------------------------------------------------------------------ service
class ImageService:
    def __init__(self, db: Database, repositories: RepositoryService) -> None:
        self.db = db
        self.repositories = repositories

    # ------------------------------------------------------------ DescribeImages
    async def describe_page(
        self,
        account_id: str,
        repo_name: str,
        tag_status: str,
        after_id: int | None,
        limit: int,
        status: str = ANY,
    ) -> tuple[Repository, list[ImageInfo], bool]:
        """One page of images in push order (manifest id); True when more follow."""
        m = t.manifests
        query = self._info_query().where(m.c.repository_id == sa.bindparam("repo_id"))
        for condition in (_tag_filter(m, tag_status), _status_filter(m, status)):
            if condition is not None:
                query = query.where(condition)
        if after_id is not None:
            query = query.where(m.c.id > after_id)
        query = query.order_by(m.c.id).limit(limit + 1)
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            rows = (await conn.execute(query, {"repo_id": repo.id})).all()
            more = len(rows) > limit
            infos = [self._info(row) for row in rows[:limit]]
            await self._fill_tags(conn, infos)
        return repo, infos, more

    async def describe_ids(
        self, account_id: str, repo_name: str, ids: Sequence[ImageId]
    ) -> tuple[Repository, list[ImageInfo], list[ImageFailure]]:
        """The images the ids name, each once, in request order, and the ids that name none."""
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            resolved = await self.resolve_ids(conn, repo, ids, with_content=False)
            wanted = list(dict.fromkeys(mid for _, mid in resolved.hits))
            infos: list[ImageInfo] = []
            if wanted:
                m = t.manifests
                rows = (await conn.execute(self._info_query().where(m.c.id.in_(wanted)))).all()
                by_id = {row.id: self._info(row) for row in rows}
                infos = [by_id[mid] for mid in wanted if mid in by_id]
                await self._fill_tags(conn, infos)
        return repo, infos, resolved.failures

    @staticmethod
    def _info_query() -> sa.Select[Any]:
        m = t.manifests
        return sa.select(
            m.c.id,
            m.c.digest,
            m.c.media_type,
            m.c.config_media_type,
            m.c.artifact_type,
            m.c.subject_digest,
            m.c.pushed_at,
            m.c.last_pulled_at,
            m.c.storage_class,
            m.c.archived_at,
            m.c.activated_at,
            _image_size(m),
        )

    @staticmethod
    def _info(row: sa.Row[Any]) -> ImageInfo:
        return ImageInfo(
            id=row.id,
            digest=row.digest,
            media_type=row.media_type,
            config_media_type=row.config_media_type,
            artifact_type=row.artifact_type,
            subject_digest=row.subject_digest,
            size=int(row.size or 0),
            pushed_at=row.pushed_at,
            last_pulled_at=row.last_pulled_at,
            status=image_status(row.storage_class),
            archived_at=row.archived_at,
            activated_at=row.activated_at,
        )

    @staticmethod
    async def _fill_tags(conn: AsyncConnection, infos: list[ImageInfo]) -> None:
        if not infos:
            return
        by_id = {info.id: info for info in infos}
        rows = await conn.execute(
            sa.select(t.tags.c.manifest_id, t.tags.c.name)
            .where(t.tags.c.manifest_id.in_(list(by_id)))
            .order_by(t.tags.c.name)
        )
        for row in rows:
            by_id[row.manifest_id].tags.append(row.name)

    # ------------------------------------------------------------ ListImages
    async def list_page(
        self,
        account_id: str,
        repo_name: str,
        tag_status: str,
        after: tuple[int, str | None] | None,
        limit: int,
        status: str = ANY,
    ) -> tuple[list[ListedId], bool]:
        """One page of (digest, tag) pairs: one per tag, one digest-only entry per untagged image."""
        m, tg = t.manifests, t.tags
        if tag_status == TAGGED:
            source = m.join(tg, tg.c.manifest_id == m.c.id)
        else:
            source = m.outerjoin(tg, tg.c.manifest_id == m.c.id)
        query = (
            sa.select(m.c.id, m.c.digest, tg.c.name)
            .select_from(source)
            .where(m.c.repository_id == sa.bindparam("repo_id"))
        )
        if tag_status == UNTAGGED:
            query = query.where(tg.c.name.is_(None))
        status_condition = _status_filter(m, status)
        if status_condition is not None:
            query = query.where(status_condition)
        if after is not None:
            after_id, after_tag = after
            if after_tag is None:
                query = query.where(m.c.id > after_id)
            else:
                query = query.where(
                    sa.or_(m.c.id > after_id, sa.and_(m.c.id == after_id, tg.c.name > after_tag))
                )
        query = query.order_by(m.c.id, tg.c.name).limit(limit + 1)
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            rows = (await conn.execute(query, {"repo_id": repo.id})).all()
        items = [ListedId(row.id, row.digest, row.name) for row in rows[:limit]]
        return items, len(rows) > limit

    # ------------------------------------------------------------ BatchGetImage
    async def batch_get(
        self, account_id: str, repo_name: str, ids: Sequence[ImageId]
    ) -> tuple[Repository, list[FetchedImage], list[ImageFailure]]:
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            resolved = await self.resolve_ids(conn, repo, dedupe(ids), with_content=True)
        images = []
        failures = resolved.failures
        for image_id, mid in resolved.hits:
            row = resolved.manifests[mid]
            if row.storage_class == ARCHIVE:
                failures.append(failure(image_id, IMAGE_INACCESSIBLE))
                continue
            full = ImageId(row.digest, image_id.tag)
            by_tag = image_id.digest is None
            images.append(FetchedImage(full, mid, row.digest, row.media_type, bytes(row.content), by_tag))
        return repo, images, failures

    async def get_children(self, repository_id: int, digests: Sequence[str]) -> dict[str, FetchedImage]:
        """Manifests of the repository by digest (index children), in one query."""
        if not digests:
            return {}
        m = t.manifests
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(m.c.id, m.c.digest, m.c.media_type, m.c.content).where(
                    m.c.repository_id == repository_id,
                    m.c.digest.in_(set(digests)),
                    m.c.storage_class != ARCHIVE,
                )
            )
            return {
                row.digest: FetchedImage(
                    ImageId(row.digest), row.id, row.digest, row.media_type, bytes(row.content)
                )
                for row in rows
            }

    async def record_pull(self, manifest_ids: Iterable[int], principal_arn: str | None = None) -> None:
        """Set lastRecordedPullTime, at most once per PULL_TIME_RESOLUTION per image.

        Nothing is recorded for a `principal_arn` the image's registry excludes
        (RegisterPullTimeUpdateExclusion); the exclusion lists are cached, so a pull that
        finds a fresh time, or an excluded principal, costs one query.
        """
        ids = sorted(set(manifest_ids))
        if ids:
            await self._record_pull(t.manifests.c.id.in_(ids), principal_arn)

    async def record_pull_by_digest(
        self, repository_id: int, digest: str, principal_arn: str | None = None
    ) -> None:
        """The same for a /v2/ pull, which knows the repository and the digest it served."""
        m = t.manifests
        await self._record_pull(
            sa.and_(m.c.repository_id == repository_id, m.c.digest == digest), principal_arn
        )

    async def _record_pull(self, which: sa.ColumnElement[bool], principal_arn: str | None = None) -> None:
        now = t.now()
        m, r = t.manifests, t.repositories
        stale = sa.or_(m.c.last_pulled_at.is_(None), m.c.last_pulled_at < now - PULL_TIME_RESOLUTION)
        async with self.db.read() as conn:  # most pulls find a fresh time: no write lock for them
            rows = (
                await conn.execute(
                    sa.select(m.c.id, r.c.account_id)
                    .select_from(m.join(r, r.c.id == m.c.repository_id))
                    .where(which, stale)
                )
            ).all()
        if not rows:
            return
        if principal_arn:
            exclusions = PullExclusionService(self.db)
            excluded_accounts = {
                account
                for account in {row.account_id for row in rows}
                if principal_arn in await exclusions.excluded(account)
            }
            rows = [row for row in rows if row.account_id not in excluded_accounts]
            if not rows:
                return
        async with self.db.write() as conn:
            await conn.execute(
                m.update().where(m.c.id.in_([row.id for row in rows]), stale).values(last_pulled_at=now)
            )

    # ------------------------------------------------------------ UpdateImageStorageClass
    async def set_storage_class(
        self, account_id: str, repo_name: str, image_id: ImageId, target: str
    ) -> tuple[ImageId, str]:
        """Move an image (an index with its children) to STANDARD or ARCHIVE.

        An index's children follow it into the archive unless they are tagged or listed by
        another index that stays active: those must stay pullable.

        Returns the image's id completed with its digest and its status afterwards. Raises
        ImageLookupFailed for an id that names no image, StorageClassUnchanged when the
        image is already in `target`. Dockyard restores at once (ECR reports ACTIVATING
        for a while, up to hours, before ACTIVE).
        """
        m, mc = t.manifests, t.manifest_children
        async with self.db.write() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            resolved = await self.resolve_ids(conn, repo, [image_id], with_content=False)
            if resolved.failures:
                raise ImageLookupFailed(resolved.failures[0])
            _, mid = resolved.hits[0]
            row = resolved.manifests[mid]
            full = ImageId(row.digest, image_id.tag)
            current = row.storage_class or STANDARD
            if current == target:
                raise StorageClassUnchanged(
                    f"The image with digest '{row.digest}' is already in the {target} storage class"
                )
            ids = [mid]
            if row.media_type in INDEXES:
                query = (
                    sa.select(m.c.id)
                    .select_from(
                        mc.join(
                            m,
                            sa.and_(m.c.repository_id == mc.c.repository_id, m.c.digest == mc.c.child_digest),
                        )
                    )
                    .where(mc.c.parent_id == mid)
                )
                if target == ARCHIVE:
                    # A child that is an image in its own right stays pullable: one with a tag,
                    # or one another index that stays active lists.
                    other, listing = mc.alias("other"), m.alias("listing")
                    query = query.where(
                        ~sa.exists().where(t.tags.c.manifest_id == m.c.id),
                        ~sa.exists()
                        .select_from(other.join(listing, listing.c.id == other.c.parent_id))
                        .where(
                            other.c.repository_id == m.c.repository_id,
                            other.c.child_digest == m.c.digest,
                            other.c.parent_id != mid,
                            listing.c.storage_class != ARCHIVE,
                        ),
                    )
                ids.extend((await conn.execute(query)).scalars())
            await set_storage_class_rows(conn, ids, target)
        return full, image_status(target)

    # ------------------------------------------------------------ ListImageReferrers
    async def referrers_page(
        self,
        account_id: str,
        repo_name: str,
        subject: str,
        artifact_types: Sequence[str] | None,
        after: str | None,
        limit: int,
        status: str = ANY,
    ) -> tuple[list[ImageReferrer], bool]:
        """Manifests whose subject is `subject`, by digest: the data of GET /v2/<name>/referrers/.

        ``status`` is ECR's filter.artifactStatus (ACTIVE, ARCHIVED, ACTIVATING or ANY).
        """
        m = t.manifests
        query = sa.select(
            m.c.digest,
            m.c.media_type,
            m.c.artifact_type,
            m.c.annotations,
            m.c.storage_class,
            sa.func.length(m.c.content).label("size"),
        ).where(m.c.repository_id == sa.bindparam("repo_id"), m.c.subject_digest == subject)
        status_filter = _status_filter(m, status)
        if status_filter is not None:
            query = query.where(status_filter)
        if artifact_types:
            query = query.where(m.c.artifact_type.in_(list(artifact_types)))
        if after is not None:
            query = query.where(m.c.digest > after)
        query = query.order_by(m.c.digest).limit(limit + 1)
        async with self.db.read() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            rows = (await conn.execute(query, {"repo_id": repo.id})).all()
        items = [
            ImageReferrer(
                row.digest,
                row.media_type,
                row.artifact_type,
                int(row.size),
                row.annotations,
                image_status(row.storage_class),
            )
            for row in rows[:limit]
        ]
        return items, len(rows) > limit

    # ------------------------------------------------------------ id resolution
    @staticmethod
    async def resolve_ids(
        conn: AsyncConnection,
        repo: Repository,
        ids: Sequence[ImageId],
        *,
        with_content: bool,
    ) -> _Resolved:
        """Match ids to manifests with two queries (tags, then manifests).

        An id with a tag and a digest must agree: a tag on another image is
        ImageTagDoesNotMatchDigest, an unknown tag or digest ImageNotFound.
        """
        failures: list[ImageFailure] = []
        valid: list[ImageId] = []
        for image_id in ids:
            problem = check_image_id(image_id)
            if problem is not None:
                failures.append(problem)
            else:
                valid.append(image_id)
        tags = {i.tag for i in valid if i.tag is not None}
        digests = {i.digest for i in valid if i.digest is not None}
        by_tag: dict[str, int] = {}
        if tags:
            rows = await conn.execute(
                sa.select(t.tags.c.name, t.tags.c.manifest_id).where(
                    t.tags.c.repository_id == repo.id, t.tags.c.name.in_(tags)
                )
            )
            by_tag = {row.name: row.manifest_id for row in rows}
        m = t.manifests
        columns: list[Any] = [m.c.id, m.c.digest, m.c.media_type, m.c.storage_class]
        if with_content:
            columns.append(m.c.content)
        manifests: dict[int, Any] = {}
        conditions = []
        if digests:
            conditions.append(m.c.digest.in_(digests))
        if by_tag:
            conditions.append(m.c.id.in_(set(by_tag.values())))
        if conditions:
            rows = await conn.execute(
                sa.select(*columns).where(m.c.repository_id == repo.id, sa.or_(*conditions))
            )
            manifests = {row.id: row for row in rows}
        by_digest = {row.digest: mid for mid, row in manifests.items()}
        hits: list[tuple[ImageId, int]] = []
        for image_id in valid:
            tag_mid = by_tag.get(image_id.tag) if image_id.tag is not None else None
            digest_mid = by_digest.get(image_id.digest) if image_id.digest is not None else None
            if image_id.digest is not None and image_id.tag is not None:
                if digest_mid is None or tag_mid is None:
                    failures.append(failure(image_id, IMAGE_NOT_FOUND))
                elif digest_mid != tag_mid:
                    failures.append(failure(image_id, TAG_DOES_NOT_MATCH_DIGEST))
                else:
                    hits.append((image_id, digest_mid))
            elif image_id.digest is not None:
                if digest_mid is None:
                    failures.append(failure(image_id, IMAGE_NOT_FOUND))
                else:
                    hits.append((image_id, digest_mid))
            elif tag_mid is None or tag_mid not in manifests:
                failures.append(failure(image_id, IMAGE_NOT_FOUND))
            else:
                hits.append((image_id, tag_mid))
        return _Resolved(manifests, by_digest, by_tag, hits, failures)
