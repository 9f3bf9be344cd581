"""Re-hashing stored blobs against their digests, streamed and paced (scrub and fsck)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import anyio.to_thread

from dockyard.store.blobs.base import BlobStore


class Pacer:
    """Keeps reads at or under `max_mib_per_second` (0: unpaced), so a scrub on a busy registry
    does not starve pushes and pulls of disk or network."""

    def __init__(self, max_mib_per_second: float) -> None:
        self.rate = max_mib_per_second * 1024 * 1024
        self.started = time.monotonic()
        self.read_bytes = 0

    async def took(self, n: int) -> None:
        self.read_bytes += n
        if self.rate:
            ahead = self.read_bytes / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def hashes_right(store: BlobStore, digest: str, key: str, pacer: Pacer) -> bool | None:
    """Whether the bytes under `key` hash to `digest`; None when the store has no such bytes."""
    algorithm, expected = digest.split(":", 1)
    hasher = hashlib.new(algorithm)
    try:
        async for chunk in store.read(key):
            await anyio.to_thread.run_sync(hasher.update, chunk)
            await pacer.took(len(chunk))
    except FileNotFoundError:
        return None
    return hasher.hexdigest() == expected
