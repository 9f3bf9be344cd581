"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph...).

Client: boto3 (botocore's retrying S3 client; its "standard" retry mode backs off on
throttling), called from worker threads. aiobotocore would avoid the threads but pins
an older botocore than the one whose ECR model Dockyard is built from.

Layout under the configured prefix:
  blobs/<upload id>                a blob, written by the upload that published it
  uploads/<upload id>/tail-<n>     bytes received but not yet a full part
An upload is an S3 multipart upload straight into its final key; its id and part
ETags live in the session's database row (`store_state`), so any node can continue
it: parts are uploaded as soon as `part_size` bytes have arrived, the remainder
waits in a small tail object for the next request. Publishing costs nothing: the
blob's row records the key, so no copy is made.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from dockyard.store.blobs.base import BlobStore, ByteRange, StoredItem, UploadWriter

MIN_PART = 5 * 1024 * 1024  # S3's minimum for every part but the last
READ_CHUNK = 1024 * 1024
DELETE_BATCH = 1000  # S3 DeleteObjects limit


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str
    redirect: bool
    part_size: int
    url_ttl: int

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1&redirect=true`."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an S3 URL: {url!r} (expected s3://BUCKET[/PREFIX][?options])")
        q = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        prefix = parsed.path.strip("/")
        part_mb = int(q.get("part_size_mb", "16"))
        if part_mb < 5:
            raise ValueError("part_size_mb must be at least 5 (S3's minimum part size)")
        return cls(
            bucket=parsed.netloc,
            prefix=f"{prefix}/" if prefix else "",
            endpoint_url=q.get("endpoint_url"),
            region=q.get("region", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")),
            redirect=q.get("redirect", "false").lower() in ("1", "true", "yes"),
            part_size=part_mb * 1024 * 1024,
            url_ttl=int(q.get("url_ttl", "900")),
        )


class S3UploadWriter(UploadWriter):
    def __init__(self, store: S3BlobStore, upload_id: str, state: dict[str, Any], tail: bytes) -> None:
        self._store = store
        self._upload_id = upload_id
        self._state = state
        self._buffer = bytearray(tail)

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._store.location.part_size:
            part = bytes(self._buffer[: self._store.location.part_size])
            del self._buffer[: self._store.location.part_size]
            await anyio.to_thread.run_sync(self._store._upload_part, self._upload_id, self._state, part)

    async def close(self) -> Any:
        old_tail = self._state.get("tail_key")
        if len(self._buffer) >= MIN_PART:
            part = bytes(self._buffer)
            await anyio.to_thread.run_sync(self._store._upload_part, self._upload_id, self._state, part)
            self._state["tail_key"] = None
        elif self._buffer:
            # A unique key per write, so a concurrent loser can never clobber the winner's tail.
            key = self._store._key(f"uploads/{self._upload_id}/tail-{uuid.uuid4().hex}")
            await anyio.to_thread.run_sync(self._store._put, key, bytes(self._buffer))
            self._state["tail_key"] = key
        else:
            self._state["tail_key"] = None
        self._state["tail_size"] = len(self._buffer) if self._state["tail_key"] else 0
        # A superseded tail stays until the upload ends (everything under uploads/<id>/ goes then):
        # deleting it now would break a retry if this request's database update loses a race.
        del old_tail
        return self._state


class S3BlobStore(BlobStore):
    can_read_uploads = False

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self.client = boto3.client(
            "s3",
            endpoint_url=location.endpoint_url,
            region_name=location.region,
            aws_access_key_id=os.environ.get("DOCKYARD_S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=os.environ.get("DOCKYARD_S3_SECRET_ACCESS_KEY") or None,
            config=Config(
                retries={"max_attempts": 8, "mode": "standard"},
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                max_pool_connections=64,
            ),
        )

    # ---------------------------------------------------------------- keys
    def _key(self, name: str) -> str:
        return f"{self.location.prefix}{name}"

    def _data_key(self, upload_id: str) -> str:
        return self._key(f"blobs/{upload_id}")

    # ---------------------------------------------------------------- sync S3 calls (run in threads)
    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)

    def _get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"].read())

    def _upload_part(self, upload_id: str, state: dict[str, Any], data: bytes) -> None:
        key = self._data_key(upload_id)
        if not state.get("mpu"):
            created = self.client.create_multipart_upload(Bucket=self.location.bucket, Key=key)
            state["mpu"] = created["UploadId"]
        number = len(state["parts"]) + 1
        etag = self.client.upload_part(
            Bucket=self.location.bucket, Key=key, UploadId=state["mpu"], PartNumber=number, Body=data
        )["ETag"]
        state["parts"].append({"n": number, "etag": etag, "size": len(data)})

    def _delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i : i + DELETE_BATCH]
            self.client.delete_objects(
                Bucket=self.location.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )

    # ---------------------------------------------------------------- uploads
    async def create_upload(self, upload_id: str) -> Any:
        return {"mpu": None, "parts": [], "tail_key": None, "tail_size": 0}

    async def open_upload(self, upload_id: str, offset: int, state: Any = None) -> UploadWriter:
        state = _copy_state(state)
        tail = b""
        if state.get("tail_key"):
            tail = await anyio.to_thread.run_sync(self._get, state["tail_key"])
            tail = tail[: state.get("tail_size", len(tail))]
        return S3UploadWriter(self, upload_id, state, tail)

    async def finish_upload(self, upload_id: str, size: int, state: Any = None) -> None:
        """Turn the parts and tail into one readable object at the upload's data key."""
        state = _copy_state(state)
        await anyio.to_thread.run_sync(self._finish, upload_id, size, state)

    def _finish(self, upload_id: str, size: int, state: dict[str, Any]) -> None:
        key = self._data_key(upload_id)
        tail = self._get(state["tail_key"])[: state["tail_size"]] if state.get("tail_key") else b""
        if not state.get("mpu"):
            self._put(key, tail)  # small blob: a single object
        elif self._size(key) == size:
            pass  # completed by an earlier attempt that died before its row committed
        else:
            if tail:
                self._upload_part(upload_id, state, tail)
            parts = [{"PartNumber": p["n"], "ETag": p["etag"]} for p in state["parts"]]
            self.client.complete_multipart_upload(
                Bucket=self.location.bucket, Key=key, UploadId=state["mpu"], MultipartUpload={"Parts": parts}
            )

    async def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        async for chunk in self._read_key(self._data_key(upload_id), 0, size):
            yield chunk

    async def publish(self, upload_id: str, digest: str, size: int) -> str:
        return self._data_key(upload_id)  # already complete and verified: nothing to move

    async def cleanup_upload(self, upload_id: str) -> None:
        await anyio.to_thread.run_sync(self._delete_session_objects, self._key(f"uploads/{upload_id}/"))

    def _delete_session_objects(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        keys = [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]
        self._delete_keys(keys)

    async def delete_upload(self, upload_id: str, state: Any = None) -> None:
        state = _copy_state(state)
        await anyio.to_thread.run_sync(self._abort, upload_id, state)

    def _abort(self, upload_id: str, state: dict[str, Any]) -> None:
        if state.get("mpu"):
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.location.bucket, Key=self._data_key(upload_id), UploadId=state["mpu"]
                )
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise
        self._delete_keys([self._data_key(upload_id)])
        self._delete_session_objects(self._key(f"uploads/{upload_id}/"))

    # ---------------------------------------------------------------- blobs
    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=key)
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def _size(self, key: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=self.location.bucket, Key=key)["ContentLength"])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self._exists, key)

    async def delete_many(self, keys: list[str]) -> None:
        await anyio.to_thread.run_sync(self._delete_keys, keys)

    async def read(self, key: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        start = 0 if byte_range is None else byte_range.start
        length = None if byte_range is None else byte_range.end - byte_range.start + 1
        async for chunk in self._read_key(key, start, length):
            yield chunk

    async def _read_key(self, key: str, start: int, length: int | None) -> AsyncIterator[bytes]:
        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Key": key}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            kwargs["Range"] = f"bytes={start}-{end}"
        if length == 0:
            return
        try:
            body = (await anyio.to_thread.run_sync(lambda: self.client.get_object(**kwargs)))["Body"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from None
            raise
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(body.read, READ_CHUNK)
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()

    # ---------------------------------------------------------------- orphan sweep
    async def stored(self) -> AsyncIterator[StoredItem]:
        """Objects under blobs/ and uploads/, then multipart uploads in progress, a page at a time."""
        for area in ("blobs/", "uploads/"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=self._key(area)
            )
            iterator = iter(pages)
            while (page := await anyio.to_thread.run_sync(next, iterator, None)) is not None:
                for obj in page.get("Contents", []):
                    item = self._object_item(obj)
                    if item is not None:
                        yield item
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.location.bucket, Prefix=self._key("blobs/")
        )
        iterator = iter(pages)
        while (page := await anyio.to_thread.run_sync(next, iterator, None)) is not None:
            for mpu in page.get("Uploads", []):
                yield await anyio.to_thread.run_sync(self._multipart_item, mpu)

    def _object_item(self, obj: dict[str, Any]) -> StoredItem | None:
        name = obj["Key"][len(self.location.prefix) :]
        area, _, rest = name.partition("/")
        if area == "blobs" and rest and "/" not in rest:  # blobs/<upload id>: published (or finished)
            return StoredItem(rest, obj["Key"], obj["LastModified"], int(obj["Size"]), obj["Key"])
        session = rest.partition("/")[0]
        if area == "uploads" and session:  # uploads/<upload id>/tail-<n>
            return StoredItem(session, "", obj["LastModified"], int(obj["Size"]), obj["Key"])
        return None

    def _multipart_item(self, mpu: dict[str, Any]) -> StoredItem:
        """A multipart upload, as old as its newest part (parts are written long after it starts).

        One with no part yet counts as new: it holds no bytes, and ``Initiated`` cannot be trusted
        to age it (moto reports a fixed date in 2010), while sweeping it would abort an upload whose
        first part is still arriving. Empty abandoned uploads are left to the bucket's
        AbortIncompleteMultipartUpload rule."""
        newest: datetime | None = None
        size = 0
        parts = self.client.get_paginator("list_parts").paginate(
            Bucket=self.location.bucket, Key=mpu["Key"], UploadId=mpu["UploadId"]
        )
        for page in parts:
            for part in page.get("Parts", []):
                newest = part["LastModified"] if newest is None else max(newest, part["LastModified"])
                size += int(part["Size"])
        modified = newest if newest is not None else datetime.now(UTC)
        session = mpu["Key"][len(self._key("blobs/")) :]
        return StoredItem(session, "", modified, size, (mpu["Key"], mpu["UploadId"]))

    async def delete_stored(self, items: list[StoredItem]) -> None:
        await anyio.to_thread.run_sync(self._delete_stored, items)

    def _delete_stored(self, items: list[StoredItem]) -> None:
        objects: list[str] = []
        for item in items:
            if isinstance(item.handle, tuple):  # (key, multipart upload id)
                key, mpu = item.handle
                try:
                    self.client.abort_multipart_upload(Bucket=self.location.bucket, Key=key, UploadId=mpu)
                except ClientError as e:
                    if e.response.get("Error", {}).get("Code") != "NoSuchUpload":
                        raise
            else:
                objects.append(str(item.handle))
        self._delete_keys(objects)

    def download_url(self, key: str) -> str | None:
        """A presigned GET URL, when the store is configured to redirect blob downloads."""
        if not self.location.redirect:
            return None
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.location.bucket, "Key": key},
                ExpiresIn=self.location.url_ttl,
            )
        )

    async def check(self) -> None:
        """Reachability and permissions, for `dockyard check` and readiness."""
        await anyio.to_thread.run_sync(lambda: self.client.head_bucket(Bucket=self.location.bucket))


def _copy_state(state: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"mpu": None, "parts": [], "tail_key": None, "tail_size": 0}
    if isinstance(state, dict):
        base.update({k: v for k, v in state.items() if k != "parts"})
        base["parts"] = [dict(p) for p in state.get("parts", [])]
    return base
