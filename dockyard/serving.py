"""Running the ASGI app under Granian, as `dockyard serve` does once startup checks have passed.

With one worker (the default) the app runs in this very process (Granian's embedded server,
on uvloop): no supervisor process holding a second interpreter next to the one serving,
which is what kept a single-worker server's memory above 100 MiB. A crash then ends the
process, for the service manager (systemd, a container runtime) to restart. With more
workers, Granian's supervisor forks them and restarts any that dies.

Either way each serving process tunes glibc's allocator as it builds the app
(:func:`tune_allocator`, called by :func:`dockyard.app.create_app`).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import signal
from typing import Any

log = logging.getLogger("dockyard")

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


def embedded_app() -> Any:
    """The app factory the embedded server calls (it takes a callable, not an import string)."""
    from dockyard.app import create_app

    return create_app()


def run(*, host: str, port: int, workers: int, log_level: str, backlog: int = 2048) -> None:
    """Serve until SIGINT/SIGTERM."""
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    if workers == 1:
        _run_embedded(host=host, port=port, log_level=LogLevels(log_level), backlog=backlog)
        return
    from granian.server import Server

    Server(
        "dockyard.app:create_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        factory=True,
        log_level=LogLevels(log_level),
        backlog=backlog,
    ).serve()


def _run_embedded(*, host: str, port: int, log_level: Any, backlog: int) -> None:
    import uvloop
    from granian.constants import Interfaces
    from granian.server.embed import Server as EmbeddedServer

    async def main() -> None:
        server = EmbeddedServer(
            embedded_app,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            factory=True,
            log_level=log_level,
            backlog=backlog,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    uvloop.run(main())
