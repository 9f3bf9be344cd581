"""Open the blob store a URL names: `file:PATH` or `s3://BUCKET[/PREFIX]?options`."""

from __future__ import annotations

from pathlib import Path

from dockyard.store.blobs.base import BlobStore


def open_blob_store(url: str, min_free: int = 0) -> BlobStore:
    """`min_free`: the floor a filesystem store's upload writes keep free (store/free_space.py)."""
    if url.startswith("s3://"):
        from dockyard.store.blobs.s3 import S3BlobStore, S3Location

        return S3BlobStore(S3Location.parse(url))
    if url.startswith("file:"):
        from dockyard.store.blobs.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(Path(url[len("file:") :]), min_free)
    raise ValueError(
        f"unsupported blob store {url!r}: use file:PATH or s3://BUCKET[/PREFIX]?endpoint_url=..."
    )
