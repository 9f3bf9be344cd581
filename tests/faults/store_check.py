"""The store half of the fault suite's consistency check, run as its own process beside the server
(`python -m tests.faults.store_check DATA_DIR`, the server's DOCKYARD_* storage variables in the
environment); prints one JSON report.

Every blob row's bytes must exist with the row's size and digest; every stored item must be named
by a blob row or tombstone, or belong to a live upload session (else it is an orphan, which one
garbage collection past the grace period must remove). `dockyard fsck` will do this job: the
suite then calls it instead (see `harness.store_consistency`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dockyard.config import Settings
from dockyard.registry import Registry
from dockyard.store.meta import tables as t


async def check(data_dir: Path) -> dict[str, Any]:
    settings = Settings(
        data_dir=data_dir,
        database=os.environ.get("DOCKYARD_DATABASE") or None,
        blob_store=os.environ.get("DOCKYARD_BLOB_STORE") or None,
        migrate_on_start=False,
    )
    registry = Registry.build(settings)
    report: dict[str, Any] = {"blobs": 0, "bad_blobs": [], "orphans": [], "sessions": 0, "tombstones": 0}
    try:
        async with registry.db.read() as conn:
            blobs = (
                await conn.execute(sa.select(t.blobs.c.digest, t.blobs.c.size, t.blobs.c.storage_key))
            ).all()
            sessions = set((await conn.execute(sa.select(t.uploads.c.id))).scalars())
            tombstones = set((await conn.execute(sa.select(t.blob_tombstones.c.storage_key))).scalars())
            dangling = (
                (
                    await conn.execute(
                        sa.select(t.manifest_blobs.c.digest)
                        .outerjoin(t.blobs, t.blobs.c.digest == t.manifest_blobs.c.digest)
                        .where(t.blobs.c.digest.is_(None))
                    )
                )
                .scalars()
                .all()
            )
        report["sessions"], report["tombstones"] = len(sessions), len(tombstones)
        report["dangling_references"] = sorted(set(dangling))
        named = {row.storage_key for row in blobs} | tombstones
        for row in blobs:
            report["blobs"] += 1
            hasher, size = hashlib.sha256(), 0
            try:
                async for chunk in registry.store.read(row.storage_key):
                    hasher.update(chunk)
                    size += len(chunk)
            except (FileNotFoundError, KeyError, OSError) as e:
                report["bad_blobs"].append(f"{row.digest}: bytes missing ({type(e).__name__})")
                continue
            except Exception as e:  # S3's NoSuchKey and friends
                report["bad_blobs"].append(f"{row.digest}: unreadable ({type(e).__name__}: {e})")
                continue
            if f"sha256:{hasher.hexdigest()}" != row.digest or size != row.size:
                report["bad_blobs"].append(f"{row.digest}: {size} bytes hashing to {hasher.hexdigest()}")
        async for item in registry.store.stored():
            if item.session in sessions or (item.key and item.key in named):
                continue
            report["orphans"].append(f"{item.session} {item.key or '(upload bytes)'} {item.size} B")
    finally:
        await registry.close()
    return report


def main() -> None:
    print(json.dumps(asyncio.run(check(Path(sys.argv[1])))))


if __name__ == "__main__":
    main()
