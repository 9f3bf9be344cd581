"""Running the ASGI app under Granian, as `dockyard serve` does once startup checks have passed.

With one worker (the default) the app runs in this very process (Granian's embedded server,
on uvloop): no supervisor process holding a second interpreter next to the one serving,
which is what kept a single-worker server's memory above 100 MiB. A crash then ends the
process, for the service manager (systemd, a container runtime) to restart. With more
workers, Granian's supervisor forks them and restarts any that dies.

Either way each serving process tunes glibc's allocator as it builds the app
(:func:`dockyard.allocator.tune_allocator`, called by :func:`dockyard.app.create_app`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger("dockyard")


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
