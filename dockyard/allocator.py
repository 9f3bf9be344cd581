"""glibc allocator tuning for serving processes (called by :func:`dockyard.app.create_app`,
which every serving process runs as it builds the app)."""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

# Allocations at least this large get their own mapping, returned to the kernel when freed.
# glibc otherwise raises this threshold to the size of the largest block freed so far (up to
# 32 MiB), after which every large buffer comes from the heap and its high-water mark stays
# resident for good. Request body chunks (up to ~400 KiB from Granian) stay below it, so they
# are recycled from the heap rather than each mapped, faulted in and unmapped again.
MMAP_THRESHOLD = 1024 * 1024


def tune_allocator() -> None:
    """Keep the serving process's resident memory flat under large transfers (glibc only).

    A fixed mmap threshold (see :data:`MMAP_THRESHOLD`); two malloc arenas instead of up to
    eight per core for the hashing/writing threads; and heap tops above 1 MiB given back.
    Upload batch buffers are pooled (:mod:`dockyard.core.blobs`), so they are rarely mapped.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl has no mallopt): nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_ARENA_MAX, 2)
    mallopt(_M_TRIM_THRESHOLD, 1024 * 1024)
