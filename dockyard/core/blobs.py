"""Blobs and blob uploads, shared by the OCI door and ECR's layer API.

Every byte is hashed as it arrives (in a worker thread, while the event loop
receives the next batch), and a blob becomes visible to a repository only after
its digest is verified and its bytes are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.core.digests import ALGORITHMS, new_hasher, parse_digest
from dockyard.core.errors import (
    BlobUnknown,
    DigestInvalid,
    DomainError,
    RangeInvalid,
    SizeInvalid,
    StorageFull,
    UploadUnknown,
)
from dockyard.core.manifests import ARCHIVE
from dockyard.core.repositories import Repository, RepositoryService, not_found
from dockyard.faults import crash_point
from dockyard.store.blobs.base import BlobStore
from dockyard.store.meta import tables as t
from dockyard.store.meta.database import Database

log = logging.getLogger("dockyard.blobs")

# Bytes handed to the hashing/writing threads at once: large enough that thread
# hops are rare (a few hundred a second at full speed), small enough that memory stays
# flat whatever the blob size (two batches per transfer at most).
BATCH = 1024 * 1024
HASHER_CACHE_SIZE = 4096


# The hot paths' statements, built once (building one costs more than running it on SQLite).
_rb = t.repository_blobs
_STAT = (
    sa.select(t.repositories.c.id, t.blobs.c.size, t.blobs.c.storage_key)
    .select_from(
        t.repositories.outerjoin(
            _rb, sa.and_(_rb.c.repository_id == t.repositories.c.id, _rb.c.digest == sa.bindparam("digest"))
        ).outerjoin(t.blobs, t.blobs.c.digest == _rb.c.digest)
    )
    .where(
        t.repositories.c.account_id == sa.bindparam("account_id"),
        t.repositories.c.name == sa.bindparam("name"),
    )
)
_MOUNT_SOURCE = (
    sa.select(t.blobs.c.size, t.blobs.c.storage_key)
    .select_from(_rb.join(t.repositories, t.repositories.c.id == _rb.c.repository_id))
    .join(t.blobs, t.blobs.c.digest == _rb.c.digest)
    .where(_rb.c.digest == sa.bindparam("digest"), t.repositories.c.account_id == sa.bindparam("account_id"))
    .limit(1)
)
_MOUNT_FROM = _MOUNT_SOURCE.where(t.repositories.c.name == sa.bindparam("from_repo"))
_BLOB_KEY = sa.select(t.blobs.c.storage_key).where(t.blobs.c.digest == sa.bindparam("digest"))
_BLOB_KEY_FOR_UPDATE = _BLOB_KEY.with_for_update()
_UPLOAD = sa.select(t.uploads).where(
    t.uploads.c.id == sa.bindparam("id"), t.uploads.c.repository_id == sa.bindparam("repository_id")
)
_NEW_UPLOAD = t.uploads.insert()
_GROW_UPLOAD = (
    t.uploads.update()
    .where(t.uploads.c.id == sa.bindparam("b_id"), t.uploads.c.size == sa.bindparam("b_old_size"))
    .values(
        size=sa.bindparam("b_size"),
        store_state=sa.bindparam("b_store_state", type_=t.uploads.c.store_state.type),
        updated_at=sa.bindparam("b_updated_at", type_=t.UTCDateTime),
    )
)
_DELETE_UPLOAD = t.uploads.delete().where(t.uploads.c.id == sa.bindparam("id"))


class BlobAlreadyLinked(DomainError):
    """`complete(..., exclusive=True)` found the blob already in the repository."""


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository_id: int
    algorithm: str
    size: int
    state: Any = None  # the blob store's record of the session


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int
    key: str = ""  # where the blob store keeps the bytes


class BlobService:
    def __init__(self, db: Database, store: BlobStore, repositories: RepositoryService) -> None:
        self.db = db
        self.store = store
        self.repositories = repositories
        # upload id -> (offset the hash covers, hasher); a miss (restart, other node) rehashes.
        self._hashers: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._link_upsert: Any = None
        self._new_blob: Any = None

    # ---------------------------------------------------------------- reads
    async def stat(self, account_id: str, repo_name: str, digest: str) -> BlobInfo:
        """Size of a blob the repository may read, in one query."""
        parse_digest(digest)
        async with self.db.read() as conn:
            row = (
                await conn.execute(_STAT, {"account_id": account_id, "name": repo_name, "digest": digest})
            ).first()
        if row is None:
            raise not_found(account_id, repo_name)
        if row.size is None:
            raise BlobUnknown(f"blob {digest} is not known to repository '{repo_name}'", {"digest": digest})
        return BlobInfo(digest, row.size, row.storage_key)

    async def known_sizes(self, repository_id: int, digests: list[str]) -> dict[str, int]:
        query = (
            sa.select(t.repository_blobs.c.digest, t.blobs.c.size)
            .join(t.blobs, t.blobs.c.digest == t.repository_blobs.c.digest)
            .where(
                t.repository_blobs.c.repository_id == repository_id, t.repository_blobs.c.digest.in_(digests)
            )
        )
        async with self.db.read() as conn:
            return {row.digest: row.size for row in await conn.execute(query)}

    async def referenced(self, repository_id: int, digests: list[str]) -> set[str]:
        """The digests some manifest (image) of the repository references."""
        if not digests:
            return set()
        mb, m = t.manifest_blobs, t.manifests
        query = (
            sa.select(mb.c.digest)
            .distinct()
            .join(m, m.c.id == mb.c.manifest_id)
            .where(m.c.repository_id == repository_id, mb.c.digest.in_(digests))
        )
        async with self.db.read() as conn:
            return set((await conn.execute(query)).scalars())

    async def referencing_manifests(self, repository_id: int, digests: list[str]) -> dict[str, bytes]:
        """For each digest some manifest of the repository references, the newest such manifest's bytes."""
        if not digests:
            return {}
        mb, m = t.manifest_blobs, t.manifests
        newest = (
            sa.select(mb.c.digest, sa.func.max(m.c.id).label("manifest_id"))
            .join(m, m.c.id == mb.c.manifest_id)
            .where(m.c.repository_id == repository_id, mb.c.digest.in_(digests))
            .group_by(mb.c.digest)
            .subquery()
        )
        query = sa.select(newest.c.digest, m.c.content).join(m, m.c.id == newest.c.manifest_id)
        async with self.db.read() as conn:
            return {row.digest: row.content for row in await conn.execute(query)}

    async def only_in_archived_images(self, repository_id: int, digests: list[str]) -> set[str]:
        """The digests that only archived images of the repository reference (ECR's ARCHIVED layers)."""
        if not digests:
            return set()
        mb, m = t.manifest_blobs, t.manifests
        query = (
            sa.select(mb.c.digest)
            .join(m, m.c.id == mb.c.manifest_id)
            .where(m.c.repository_id == repository_id, mb.c.digest.in_(digests))
            .group_by(mb.c.digest)
            .having(sa.func.sum(sa.case((m.c.storage_class == ARCHIVE, 0), else_=1)) == 0)
        )
        async with self.db.read() as conn:
            return set((await conn.execute(query)).scalars())

    async def unlink(self, account_id: str, repo_name: str, digest: str) -> None:
        """Remove a blob from a repository; the bytes stay until garbage collection."""
        parse_digest(digest)
        async with self.db.write() as conn:
            repo = await self.repositories.get(account_id, repo_name, conn)
            result = await conn.execute(
                t.repository_blobs.delete().where(
                    t.repository_blobs.c.repository_id == repo.id, t.repository_blobs.c.digest == digest
                )
            )
            if result.rowcount == 0:
                raise BlobUnknown(
                    f"blob {digest} is not known to repository '{repo_name}'", {"digest": digest}
                )

    # ---------------------------------------------------------------- mounts
    async def mount(self, repo: Repository, digest: str, from_repo: str | None) -> BlobInfo | None:
        """Link a blob another repository of the account holds; None when it can't be.

        The source is found with a read; the write transaction then only checks (and, on
        PostgreSQL, row-locks) that the blob row still exists and links it.
        """
        parse_digest(digest)
        params = {"digest": digest, "account_id": repo.account_id, "from_repo": from_repo}
        async with self.db.read() as rconn:
            row = (await rconn.execute(_MOUNT_SOURCE if from_repo is None else _MOUNT_FROM, params)).first()
        if row is None:
            return None
        async with self.db.write() as conn:
            # Locks the blob row: a garbage collector deciding about it waits for this link.
            if await self._lock_blob(conn, digest) is None:
                return None
            await self._link(conn, repo.id, digest)
        return BlobInfo(digest, row.size, row.storage_key)

    async def _lock_blob(self, conn: AsyncConnection, digest: str) -> str | None:
        """The blob's storage key, row-locked until the transaction ends (None if no such blob)."""
        # SQLite's BEGIN IMMEDIATE already excludes other writers.
        query = _BLOB_KEY if self.db.is_sqlite else _BLOB_KEY_FOR_UPDATE
        return await conn.scalar(query, {"digest": digest})

    async def _link(self, conn: AsyncConnection, repository_id: int, digest: str) -> None:
        """Link a blob to a repository; linked again (uploaded or mounted), the link starts a new
        grace period for garbage collection. One statement."""
        now = t.now()
        await conn.execute(
            self._link_statement(), {"b_repository_id": repository_id, "b_digest": digest, "b_now": now}
        )

    def _new_blob_statement(self) -> Any:
        found = self._new_blob
        if found is None:
            found = self._new_blob = self.db.insert_ignore(t.blobs).values(
                digest=sa.bindparam("b_digest"),
                size=sa.bindparam("b_size"),
                storage_key=sa.bindparam("b_storage_key"),
                created_at=sa.bindparam("b_created_at", type_=t.UTCDateTime),
            )
        return found

    def _link_statement(self) -> Any:
        found = self._link_upsert
        if found is None:
            rb = t.repository_blobs
            insert = self.db.insert(rb).values(
                repository_id=sa.bindparam("b_repository_id"),
                digest=sa.bindparam("b_digest"),
                created_at=sa.bindparam("b_now", type_=t.UTCDateTime),
            )
            found = self._link_upsert = insert.on_conflict_do_update(
                index_elements=[rb.c.repository_id, rb.c.digest],
                set_={"referenced_at": sa.bindparam("b_now", type_=t.UTCDateTime)},
            )
        return found

    # ---------------------------------------------------------------- uploads
    async def start_upload(self, repo: Repository, algorithm: str = "sha256") -> Upload:
        if algorithm not in ALGORITHMS:
            raise DigestInvalid(
                f"unsupported digest algorithm {algorithm!r}; supported: {', '.join(ALGORITHMS)}"
            )
        upload_id = str(uuid.uuid4())
        state = await self.store.create_upload(upload_id)
        now = t.now()
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    _NEW_UPLOAD,
                    {
                        "id": upload_id,
                        "repository_id": repo.id,
                        "algorithm": algorithm,
                        "size": 0,
                        "store_state": state,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        except StorageFull:  # the database's volume is full: no row will name the bytes
            await self.store.delete_upload(upload_id, state)
            raise
        return Upload(upload_id, repo.id, algorithm, 0, state)

    async def get_upload(self, repo: Repository, upload_id: str) -> Upload:
        try:
            uuid.UUID(upload_id)
        except ValueError:
            raise UploadUnknown(f"upload {upload_id[:100]!r} is unknown") from None
        async with self.db.read() as conn:
            row = (await conn.execute(_UPLOAD, {"id": upload_id, "repository_id": repo.id})).first()
        if row is None:
            raise UploadUnknown(f"upload {upload_id} is unknown to repository '{repo.name}'")
        return Upload(row.id, row.repository_id, row.algorithm, row.size, row.store_state)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    async def append(
        self,
        repo: Repository,
        upload_id: str,
        body: AsyncIterator[bytes],
        start: int | None = None,
        expected_length: int | None = None,
    ) -> Upload:
        """Append a chunk; `start` (from Content-Range) must be where the upload ends."""
        async with self._lock(upload_id):
            upload = await self.get_upload(repo, upload_id)
            if start is not None and start != upload.size:
                raise RangeInvalid(
                    f"chunk starts at byte {start} but the upload has {upload.size} bytes; "
                    "send the chunk that starts there (GET the upload URL for its status)",
                    upload.size,
                )
            try:
                return await self._append_locked(upload, body, expected_length)
            except (OSError, StorageFull) as err:
                failure = await self._end_failed(upload, err)
                if failure is err:
                    raise
                self._forget(upload.id)
                raise failure from None

    async def append_bytes(self, repo: Repository, upload_id: str, data: bytes, start: int) -> Upload:
        """Append one part held in memory (ECR's UploadLayerPart); `start` must be where the upload ends."""
        return await self.append(repo, upload_id, _chunks(data), start, len(data))

    async def _append_locked(
        self, upload: Upload, body: AsyncIterator[bytes], expected_length: int | None
    ) -> Upload:
        hasher = await self._hasher_for(upload)
        self._hashers.pop(upload.id, None)  # consumed: stale if this append fails midway
        writer = await self.store.open_upload(upload.id, upload.size, upload.state)
        try:
            written = await pump(body, writer.write, hasher)
        finally:
            state = await writer.close()
        crash_point("blob.after_bytes_written")
        if expected_length is not None and written != expected_length:
            raise SizeInvalid(
                f"received {written} bytes but Content-Length/Content-Range said {expected_length}"
            )
        new_size = upload.size + written
        if written:
            async with self.db.write() as conn:
                result = await conn.execute(
                    _GROW_UPLOAD,
                    {
                        "b_id": upload.id,
                        "b_old_size": upload.size,
                        "b_size": new_size,
                        "b_store_state": state,
                        "b_updated_at": t.now(),
                    },
                )
            if result.rowcount != 1:
                raise RangeInvalid(
                    "the upload was changed concurrently; GET its status and resume", upload.size
                )
        if hasher is not None:
            self._remember(upload.id, new_size, hasher)
        return Upload(
            upload.id, upload.repository_id, upload.algorithm, new_size, state if written else upload.state
        )

    def _remember(self, upload_id: str, size: int, hasher: Any) -> None:
        self._hashers[upload_id] = (size, hasher)
        self._hashers.move_to_end(upload_id)
        while len(self._hashers) > HASHER_CACHE_SIZE:
            self._hashers.popitem(last=False)

    async def _hasher_for(self, upload: Upload, algorithm: str | None = None) -> Any:
        """The hash of the bytes received so far; None when it can only be computed at the end.

        This process may not have seen the earlier chunks (a restart, or another node took
        them): then the hash is rebuilt from the stored bytes, when the store can read an
        unfinished upload, or left to `_verify` after the upload is finished.
        """
        algorithm = algorithm or upload.algorithm
        cached = self._hashers.get(upload.id)
        if cached is not None and cached[0] == upload.size and cached[1].name == algorithm:
            return cached[1]
        if upload.size and not self.store.can_read_uploads:
            return None
        return await self._hash_upload(upload, algorithm)

    async def _hash_key(self, key: str, algorithm: str) -> Any:
        hasher = new_hasher(algorithm)
        async for chunk in self.store.read(key):
            await anyio.to_thread.run_sync(hasher.update, chunk)
        return hasher

    async def _hash_upload(self, upload: Upload, algorithm: str) -> Any:
        hasher = new_hasher(algorithm)
        if upload.size:
            async for chunk in self.store.read_upload(upload.id, upload.size):
                await anyio.to_thread.run_sync(hasher.update, chunk)
        return hasher

    async def complete(
        self,
        repo: Repository,
        upload_id: str,
        digest: str,
        body: AsyncIterator[bytes] | None = None,
        *,
        exclusive: bool = False,
    ) -> BlobInfo:
        """Take the last chunk (if any), verify the digest, publish the blob.

        With `exclusive`, a repository that already holds the blob gets BlobAlreadyLinked
        (ECR's LayerAlreadyExistsException) instead of a no-op link; the upload is consumed
        either way.
        """
        expected = parse_digest(digest)
        async with self._lock(upload_id):
            upload = await self.get_upload(repo, upload_id)
            try:
                recovered = None
                if body is None:
                    recovered = await self.store.recover_published(upload.id, digest, upload.size)
                else:
                    upload = await self._append_locked(upload, body, None)
                if recovered is None:
                    hasher = await self._hasher_for(upload, expected.algorithm)
                else:
                    hasher = await self._hash_key(recovered, expected.algorithm)
                return await self._verify_and_store(
                    repo, upload, digest, hasher, exclusive=exclusive, published=recovered
                )
            except (OSError, StorageFull) as err:
                failure = await self._end_failed(upload, err)
                if failure is err:
                    raise
                raise failure from None
            finally:
                self._forget(upload.id)

    async def put_monolithic(self, repo: Repository, digest: str, body: AsyncIterator[bytes]) -> BlobInfo:
        """Single-request upload (POST ?digest=): no session row at all."""
        expected = parse_digest(digest)
        upload_id = str(uuid.uuid4())
        state = await self.store.create_upload(upload_id)
        try:
            hasher = new_hasher(expected.algorithm)
            writer = await self.store.open_upload(upload_id, 0, state)
            try:
                size = await pump(body, writer.write, hasher)
            finally:
                state = await writer.close()
            crash_point("blob.after_bytes_written")
        except BaseException as err:
            await self.store.delete_upload(upload_id, state)
            if isinstance(err, OSError) and _is_storage_full(err):
                raise _storage_full(err) from None
            raise
        upload = Upload(upload_id, repo.id, expected.algorithm, size, state)
        try:
            return await self._verify_and_store(repo, upload, digest, hasher, has_row=False)
        except OSError as err:
            if not _is_storage_full(err):
                raise
            await self.store.delete_upload(upload_id, state)
            raise _storage_full(err) from None
        except StorageFull:  # the database's volume is full
            await self.store.delete_upload(upload_id, state)
            raise

    async def _verify_and_store(
        self,
        repo: Repository,
        upload: Upload,
        digest: str,
        hasher: Any,
        *,
        exclusive: bool = False,
        has_row: bool = True,
        published: str | None = None,
    ) -> BlobInfo:
        """Check the digest, then record the blob, publishing the upload's bytes only if they are new.

        New bytes are published (made durable under a key of this upload's own) before the
        write transaction, so that concurrent pushes do not queue behind each other's fsyncs;
        no row names that key until the transaction commits, and nothing deletes a key no row
        names. In the transaction the blob row is locked while deciding, so a concurrent
        garbage collector either removed the old row first (then these bytes are published
        under a new key) or finds the new link and keeps the blob. A blob row therefore
        always points at bytes that exist.

        `published` is the key an interrupted earlier completion of the session published the
        bytes under (`BlobStore.recover_published`); `hasher` then covers those bytes.
        """
        expected = parse_digest(digest)
        recovered = published
        if recovered is None:
            await self.store.finish_upload(upload.id, upload.size, upload.state)
        if hasher is None:
            hasher = await self._hash_upload(upload, expected.algorithm)
        actual = f"{expected.algorithm}:{hasher.hexdigest()}"
        if actual != digest:
            await self._discard(upload, has_row)
            if recovered is not None:
                await self.store.delete_many([recovered])  # no row names it
            raise DigestInvalid(
                f"the uploaded content has digest {actual}, not {digest}",
                {"expected": digest, "actual": actual},
            )
        superseded: str | None = None
        linked_before = False
        if published is None:
            async with self.db.read() as rconn:
                known = await rconn.scalar(_BLOB_KEY, {"digest": digest}) is not None
            if not known:
                published = await self.store.publish(upload.id, digest, upload.size)
                crash_point("blob.after_publish")
        committed = False
        try:
            async with self.db.write() as conn:
                if exclusive:
                    linked_before = await self._is_linked(conn, repo.id, digest)
                key = await self._lock_blob(conn, digest)
                if key is None:
                    if published is None:  # the row was collected since the check above
                        published = await self.store.publish(upload.id, digest, upload.size)
                    key = published
                    inserted = await conn.execute(
                        self._new_blob_statement(),
                        {
                            "b_digest": digest,
                            "b_size": upload.size,
                            "b_storage_key": key,
                            "b_created_at": t.now(),
                        },
                    )
                    if not inserted.rowcount:  # another upload of the same bytes won the race
                        superseded, key = published, await self._lock_blob(conn, digest)
                elif published is not None:  # another upload of the same bytes won the race
                    superseded = published
                if not linked_before:
                    await self._link(conn, repo.id, digest)
                if has_row:
                    await conn.execute(_DELETE_UPLOAD, {"id": upload.id})
            committed = True
        finally:
            # Recovered bytes stay for the next retry (or the orphan sweep once the session is purged).
            if not committed and published is not None and published != recovered:
                with contextlib.suppress(Exception):
                    await self.store.delete_many([published])  # no row names it
        if published is None:
            await self.store.delete_upload(upload.id, upload.state)
        else:
            await self.store.cleanup_upload(upload.id)
        if superseded is not None:
            await self.store.delete_many([superseded])
        if linked_before:
            raise BlobAlreadyLinked(
                f"blob {digest} is already in repository '{repo.name}'", {"digest": digest}
            )
        return BlobInfo(digest, upload.size, str(key))

    async def _discard(self, upload: Upload, has_row: bool) -> None:
        """A failed upload is over: the client starts again with a new session."""
        if has_row:
            async with self.db.write() as conn:
                await conn.execute(t.uploads.delete().where(t.uploads.c.id == upload.id))
        await self.store.delete_upload(upload.id, upload.state)

    async def _end_failed(self, upload: Upload, err: Exception) -> Exception:
        """What a failed append or completion raises, the session ended first: bytes gone →
        UploadUnknown (the session discarded); a full disk or database → StorageFull (its space
        released at once); any other error unchanged (returned as is)."""
        if isinstance(err, FileNotFoundError):
            await self._discard(upload, has_row=True)
            return _bytes_gone(upload)
        if isinstance(err, StorageFull):  # the database's volume is full
            await self._release(upload)
            return err
        if isinstance(err, OSError) and _is_storage_full(err):
            await self._release(upload)
            return _storage_full(err)
        return err

    async def _release(self, upload: Upload) -> None:
        """End a session the full disk broke: bytes first (that frees the space), then the row
        (which may fail while the database shares the full disk: then the session, its bytes
        gone, answers BLOB_UPLOAD_UNKNOWN next time and the purge job removes the row)."""
        self._forget(upload.id)
        await self.store.delete_upload(upload.id, upload.state)
        try:
            async with self.db.write() as conn:
                await conn.execute(_DELETE_UPLOAD, {"id": upload.id})
        except Exception:
            log.warning("could not delete upload row %s after a full disk", upload.id, exc_info=True)

    @staticmethod
    async def _is_linked(conn: AsyncConnection, repository_id: int, digest: str) -> bool:
        rb = t.repository_blobs
        found = await conn.scalar(
            sa.select(rb.c.digest).where(rb.c.repository_id == repository_id, rb.c.digest == digest)
        )
        return found is not None

    async def cancel(self, repo: Repository, upload_id: str) -> None:
        async with self._lock(upload_id):
            upload = await self.get_upload(repo, upload_id)
            await self._discard(upload, has_row=True)
            self._forget(upload.id)

    def _forget(self, upload_id: str) -> None:
        self._hashers.pop(upload_id, None)
        lock = self._locks.get(upload_id)
        if lock is not None and not lock.locked():
            self._locks.pop(upload_id, None)


def _is_storage_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)


def _storage_full(err: OSError) -> StorageFull:
    return StorageFull(
        f"the registry's storage is full ({err.strerror}); the upload was dropped to free its "
        "space: start it again later"
    )


def _bytes_gone(upload: Upload) -> UploadUnknown:
    """The session is over (its row deleted): the client starts a new upload."""
    return UploadUnknown(
        f"the bytes of upload {upload.id} are no longer stored (the server was interrupted); "
        "start the upload again"
    )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    """In-memory bytes as a request-body-like stream, one hashing batch at a time."""
    view = memoryview(data)
    for offset in range(0, len(view), BATCH):
        yield bytes(view[offset : offset + BATCH])


# Batch buffers, reused: a transfer fills one while the threads hash and write the previous
# one, so memory stays at two buffers per transfer in flight, with no copies and no fresh pages
# to fault in. At most this many idle buffers are kept.
_POOL_MAX = 8
_pool: list[bytearray] = []


def _take_buffer() -> bytearray:
    return _pool.pop() if _pool else bytearray(BATCH)


def _give_buffer(buf: bytearray) -> None:
    if len(_pool) < _POOL_MAX:
        _pool.append(buf)


async def pump(body: AsyncIterator[bytes], write: Any, hasher: Any) -> int:
    """Copy a request body to storage while hashing it, one batch in flight at a time.

    Hashing and writing run in threads (hashlib and os.write release the GIL), so the event
    loop keeps receiving the next batch meanwhile. Batches are views of pooled buffers:
    ``write`` must be done with its argument when it returns (it may copy it, not keep it).
    """
    total = 0
    buf, fill = _take_buffer(), 0
    pending: asyncio.Future[Any] | None = None
    pending_buf: bytearray | None = None

    async def consume(data: memoryview) -> None:
        if hasher is None:
            await write(data)
        else:
            await asyncio.gather(anyio.to_thread.run_sync(hasher.update, data), write(data))

    try:
        async for chunk in body:
            view = memoryview(chunk)
            total += len(view)
            while view:
                take = min(BATCH - fill, len(view))
                buf[fill : fill + take] = view[:take]
                fill += take
                view = view[take:]
                if fill == BATCH:
                    if pending is not None:
                        await pending
                        assert pending_buf is not None
                        _give_buffer(pending_buf)
                    pending_buf, pending = buf, asyncio.ensure_future(consume(memoryview(buf)))
                    buf, fill = _take_buffer(), 0
        if pending is not None:
            await pending
            pending = None
            assert pending_buf is not None
            _give_buffer(pending_buf)
        if fill:
            await consume(memoryview(buf)[:fill])
        _give_buffer(buf)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
    return total
