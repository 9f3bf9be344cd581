"""Open the blob store a URL names: `file:PATH` or `s3://BUCKET[/PREFIX]?options`."""

from __future__ import annotations

from pathlib import Path

from dockyard.store.blobs.base import BlobStore


def open_blob_store(url: str) -> BlobStore:
    if url.startswith("s3://"):
        from dockyard.store.blobs.s3 import S3BlobStore, S3Location

        return S3BlobStore(S3Location.parse(url))
    if url.startswith("file:"):
        from dockyard.store.blobs.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(Path(url[len("file:") :]))
    raise ValueError(
        f"unsupported blob store {url!r}: use file:PATH or s3://BUCKET[/PREFIX]?endpoint_url=..."
    )
