"""Running the ASGI app under Granian, as `dockyard serve` does once startup checks have passed.

With one worker (the default) the app runs in this very process (Granian's embedded server,
on uvloop): no supervisor process holding a second interpreter next to the one serving,
which is what kept a single-worker server's memory above 100 MiB. A crash then ends the
process, for the service manager (systemd, a container runtime) to restart. With more
workers, Granian's supervisor forks them and restarts any that dies.

With a certificate (:class:`Tls`) Granian terminates TLS itself; ASGI scopes then say
``https``, which is what ``aws:SecureTransport`` and the URLs the doors write follow.

Granian binds with SO_REUSEPORT, so a second server on a taken port would share it silently
(each request landing on either one); :func:`port_is_free` is checked before starting instead.

Either way each serving process tunes glibc's allocator as it builds the app
(:func:`dockyard.allocator.tune_allocator`, called by :func:`dockyard.app.create_app`),
Granian's log lines come out in Dockyard's format (:func:`dockyard.logs.granian_log_config`),
and every process counts its requests into one Prometheus multiprocess directory, fresh for
each start, so `/metrics` sums them whichever process answers the scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("dockyard")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def embedded_app() -> Any:
    """The app factory the embedded server calls (it takes a callable, not an import string)."""
    from dockyard.app import create_app

    return create_app()


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """An empty ``PROMETHEUS_MULTIPROC_DIR`` for this server's processes, removed when it stops.

    Set before any of them imports prometheus_client (which reads it at import). In a directory
    given in the environment, the metric files (``*.db``) of a previous run are deleted instead,
    so counts never carry over.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="dockyard-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        if not given:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class Tls:
    """The PEM certificate chain and private key HTTPS is served with."""

    cert: str
    key: str

    def granian_options(self) -> dict[str, Any]:
        from granian.constants import SSLProtocols

        # TLS 1.2 still: older clients (Java 8, some CI runners) do not all speak 1.3.
        return {
            "ssl_cert": Path(self.cert),
            "ssl_key": Path(self.key),
            "ssl_protocol_min": SSLProtocols.tls12,
        }


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port``: a bind without SO_REUSEPORT (but with
    SO_REUSEADDR, so connections of a previous run in TIME_WAIT do not count) fails on a port a
    server listens on, even one bound with SO_REUSEPORT."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return True  # Granian reports an address it cannot use
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    return False
    return True


def run(
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    json_logs: bool = False,
    backlog: int = 2048,
    tls: Tls | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM."""
    from dockyard.logs import granian_log_config

    with metrics_directory():
        _run(
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            log_config=granian_log_config(json_logs),
            backlog=backlog,
            tls_options=tls.granian_options() if tls else {},
        )


def _run(
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    log_config: dict[str, Any],
    backlog: int,
    tls_options: dict[str, Any],
) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    if workers == 1:
        _run_embedded(
            host=host,
            port=port,
            log_level=LogLevels(log_level),
            log_config=log_config,
            backlog=backlog,
            tls_options=tls_options,
        )
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
        log_dictconfig=log_config,
        backlog=backlog,
        **tls_options,
    ).serve()


def _run_embedded(
    *,
    host: str,
    port: int,
    log_level: Any,
    log_config: dict[str, Any],
    backlog: int,
    tls_options: dict[str, Any],
) -> None:
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
            log_dictconfig=log_config,
            backlog=backlog,
            **tls_options,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    uvloop.run(main())
