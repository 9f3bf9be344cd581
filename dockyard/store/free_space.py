"""Free space on the volumes Dockyard writes to, and the floor uploads never write below.

A full disk must not stop the database from committing deletes (ending a failed session,
garbage collection): on a shared volume the blob store refuses any upload write that would leave
less than `min_free` bytes (ENOSPC, answered as a retryable StorageFull), so the last `min_free`
bytes stay for the database. Checked on every write batch (one `fstatvfs`, microseconds), so
uploads resume by themselves as soon as space returns, without a restart. A floor was chosen
over a reserve file released on ENOSPC: it needs no release-and-recreate dance, holds across
server processes and nodes sharing the volume, and never lets a blob write take the space the
database's commit needs in the first place.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Volume:
    name: str  # what Dockyard keeps there: "blobs", "database"
    path: str
    free: int  # bytes an unprivileged writer may still use
    total: int
    device: int


def volume(name: str, path: str) -> Volume:
    st = os.statvfs(path)
    return Volume(name, path, st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, os.stat(path).st_dev)


def check_floor(fd: int, size: int, min_free: int) -> None:
    """Raise ENOSPC if writing `size` more bytes to `fd`'s volume would leave less than `min_free`."""
    st = os.fstatvfs(fd)
    free = st.f_bavail * st.f_frsize
    if free - size < min_free:
        raise OSError(
            errno.ENOSPC,
            f"only {free // MiB} MiB free; the last {min_free // MiB} MiB are kept for the database",
        )
