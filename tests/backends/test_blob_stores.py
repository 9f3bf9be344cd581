"""One suite for every blob store (as Distribution's storage driver testsuites do)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from dockyard.store.blobs.base import BlobStore, ByteRange
from dockyard.store.blobs.factory import open_blob_store
from tests.backends.conftest import blob_store_url

MiB = 1024 * 1024


@pytest.fixture(params=["filesystem", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else None
    return blob_store_url(request.param, tmp_path, endpoint)


def run(coro: Any) -> Any:
    return anyio.run(lambda: coro)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
    return bytes(out)


async def append(store: BlobStore, upload_id: str, offset: int, state: Any, data: bytes, step: int) -> Any:
    writer = await store.open_upload(upload_id, offset, state)
    for i in range(0, len(data), step):
        await writer.write(data[i : i + step])
    return await writer.close()


async def upload(store_url: str, data: bytes, pieces: list[int]) -> tuple[BlobStore, str]:
    """Upload `data` in requests of the given sizes, each through a fresh store (another node)."""
    upload_id = str(uuid.uuid4())
    state = await open_blob_store(store_url).create_upload(upload_id)
    offset = 0
    for size in pieces:
        store = open_blob_store(store_url)
        state = await append(store, upload_id, offset, state, data[offset : offset + size], 256 * 1024)
        offset += size
    assert offset == len(data)
    store = open_blob_store(store_url)
    await store.finish_upload(upload_id, len(data), state)
    assert await collect(store.read_upload(upload_id, len(data))) == data
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    key = await store.publish(upload_id, digest, len(data))
    await store.cleanup_upload(upload_id)
    return store, key


@pytest.mark.parametrize(
    "size,pieces",
    [
        (0, []),
        (1000, [1000]),
        (3 * MiB, [MiB, MiB, MiB]),  # every request smaller than a part: tails carried over
        (12 * MiB + 7, [7 * MiB, 5 * MiB + 7]),  # parts and a tail
        (11 * MiB, [100, 11 * MiB - 100]),
    ],
)
def test_upload_across_requests_and_nodes(store_url: str, size: int, pieces: list[int]) -> None:
    data = os.urandom(size)

    async def go() -> None:
        store, key = await upload(store_url, data, pieces)
        assert await store.exists(key)
        assert await collect(store.read(key)) == data
        if size > 20:
            assert await collect(store.read(key, ByteRange(10, 19))) == data[10:20]

    run(go())


def test_every_publish_gets_its_own_key(store_url: str) -> None:
    """Deleting an old copy (garbage collection) can never touch a newer one."""
    data = os.urandom(2 * MiB)

    async def go() -> None:
        store, first = await upload(store_url, data, [len(data)])
        _, second = await upload(store_url, data, [MiB, MiB])
        assert first != second
        await store.delete_many([first])
        assert not await store.exists(first)
        assert await collect(store.read(second)) == data

    run(go())


def test_a_retried_request_replaces_what_a_failed_one_wrote(store_url: str) -> None:
    """A request that dies midway leaves bytes the session never recorded; the retry wins."""
    good, junk = os.urandom(6 * MiB), os.urandom(6 * MiB)

    async def go() -> None:
        store = open_blob_store(store_url)
        upload_id = str(uuid.uuid4())
        state0 = await store.create_upload(upload_id)
        await append(store, upload_id, 0, state0, junk, MiB)  # its new state is never saved
        state = await append(open_blob_store(store_url), upload_id, 0, state0, good, MiB)
        await store.finish_upload(upload_id, len(good), state)
        assert await collect(store.read_upload(upload_id, len(good))) == good

    run(go())


def test_delete_upload_and_blobs(store_url: str) -> None:
    async def go() -> None:
        store = open_blob_store(store_url)
        upload_id = str(uuid.uuid4())
        state = await store.create_upload(upload_id)
        state = await append(store, upload_id, 0, state, os.urandom(6 * MiB), MiB)
        await store.delete_upload(upload_id, state)
        store, key = await upload(store_url, b"x" * 10, [10])
        await store.delete_many([key])
        assert not await store.exists(key)
        await store.check()

    run(go())


@pytest.mark.parametrize("size", [1000, 7 * MiB])  # one object; a multipart upload
def test_a_completion_interrupted_after_publishing_can_be_redone(store_url: str, size: int) -> None:
    """A crash between publishing and committing the blob row (issue 16, defect 1): the
    session's retry finds its bytes again, on whichever node it lands."""
    data = os.urandom(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def go() -> None:
        upload_id = str(uuid.uuid4())
        store = open_blob_store(store_url)
        state = await store.create_upload(upload_id)
        state = await append(store, upload_id, 0, state, data, MiB)
        await store.finish_upload(upload_id, size, state)
        key = await store.publish(upload_id, digest, size)
        # ...the process dies here. The retry, with the session's recorded state:
        store = open_blob_store(store_url)
        recovered = await store.recover_published(upload_id, digest, size)
        if recovered is None:
            await store.finish_upload(upload_id, size, state)
            assert await collect(store.read_upload(upload_id, size)) == data
            recovered = await store.publish(upload_id, digest, size)
        assert recovered == key
        assert await collect(store.read(key)) == data

    run(go())


def test_stored_lists_every_byte_and_delete_stored_removes_it(store_url: str) -> None:
    """The orphan sweep's view (issue 16, defect 2): published blobs by key, and each session's
    unpublished bytes (files, tail objects, multipart uploads) by its upload id."""

    async def go() -> None:
        store = open_blob_store(store_url)
        assert [item async for item in store.stored()] == []
        published_data = os.urandom(2000)
        store, key = await upload(store_url, published_data, [2000])
        session = str(uuid.uuid4())
        state = await store.create_upload(session)
        await append(store, session, 0, state, os.urandom(7 * MiB), MiB)  # a part and a tail on S3

        items = [item async for item in store.stored()]
        published = [item for item in items if item.key]
        assert [(item.key, item.size) for item in published] == [(key, 2000)]
        assert {item.session for item in items if not item.key} == {session}
        assert sum(item.size for item in items if not item.key) == 7 * MiB
        for item in items:
            assert item.modified.tzinfo is not None
            assert abs((item.modified - datetime.now(UTC)).total_seconds()) < 300

        await store.delete_stored(items)
        assert [item async for item in store.stored()] == []
        assert not await store.exists(key)
        await store.delete_stored(items)  # already gone: not an error

    run(go())
