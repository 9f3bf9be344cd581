"""Builds the ASGI application: the front doors over one domain core."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dockyard import http_guard
from dockyard.allocator import tune_allocator
from dockyard.auth.request_context import TrustedProxies, with_origin
from dockyard.config import Settings, settings_from_env
from dockyard.ecr.front import build_endpoint
from dockyard.ecr.layer_downloads import serve_layer_download
from dockyard.features.telemetry.gauges import render_registry_gauges
from dockyard.logs import configure_logging
from dockyard.observability import (
    ObservabilityMiddleware,
    metrics_response,
    render_free_space,
    render_process_metrics,
)
from dockyard.oci.router import OciApp
from dockyard.registry import Registry

log = logging.getLogger("dockyard")


class DockyardApp:
    """Dispatches by path prefix: `/v2` to the OCI door, the rest to small handlers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry.build(settings)
        self.trusted_proxies = TrustedProxies.parse(settings.trusted_proxies)
        self.oci = OciApp(self.registry)
        self.ecr = Route("/", build_endpoint(self.registry), methods=["POST"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        refused = http_guard.refusal(scope)
        if refused is not None:
            await _plain(send, 400, f"{refused}\n".encode())
            return
        scope = with_origin(scope, self.trusted_proxies)  # the client behind a trusted proxy
        path: str = scope["path"]
        if path.startswith("/v2"):
            await self.oci(scope, receive, send)
        elif path == "/" and scope["method"] == "POST":
            await self.ecr.handle(scope, receive, send)
        elif path.startswith("/layers/"):  # GetDownloadUrlForLayer's expiring URLs
            await serve_layer_download(self.registry, scope, receive, send)
        elif path == "/healthz":
            await _plain(send, 200, b"ok\n")
        elif path == "/readyz":
            problem = await self.readiness_problem()
            await _plain(send, 503 if problem else 200, f"{problem or 'ready'}\n".encode())
        elif path == "/metrics":
            body = render_process_metrics() + await render_registry_gauges(self.registry)
            body += render_free_space(self.registry.volumes(), self.registry.store.min_free)
            await metrics_response(send, body)
        else:
            await _plain(send, 404, b"not found\n")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start_serving()
                except Exception as e:  # report, so the server refuses to start
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.registry.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self, ensure_default_account: bool = True) -> None:
        await self.registry.start(ensure_default_account)

    async def readiness_problem(self) -> str | None:
        """Why this node should not get traffic now, or None: the database and blob store answer,
        and the blob volume has space for uploads."""
        try:
            await self.registry.db.ping()
        except Exception as e:
            return f"database unavailable: {type(e).__name__}: {e}"
        try:
            await self.registry.store.check()
        except Exception as e:
            return f"blob store unavailable: {type(e).__name__}: {e}"
        return self.registry.low_space()

    async def start_serving(self) -> None:
        await self.startup()
        self.registry.start_background()


@asynccontextmanager
async def running(settings: Settings, ensure_default_account: bool = True) -> AsyncIterator[DockyardApp]:
    app = DockyardApp(settings)
    await app.startup(ensure_default_account)
    try:
        yield app
    finally:
        await app.registry.close()


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app() -> Any:
    """Factory for ASGI servers: settings come from the environment."""
    tune_allocator()
    settings = settings_from_env()
    configure_logging(settings.log_level, settings.json_logs)
    return ObservabilityMiddleware(DockyardApp(settings))
