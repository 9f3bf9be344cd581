"""Prometheus metrics and structured (JSON) logs.

Metrics are per server process; with several worker processes, scrape each, or run
one worker per node and scale by nodes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("dockyard_http_requests_total", "HTTP requests", ["door", "method", "status"])
LATENCY = Histogram(
    "dockyard_http_request_seconds",
    "HTTP request latency",
    ["door", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS = Counter("dockyard_jobs_total", "Background jobs finished", ["kind", "outcome"])
# Set at each scrape (see DockyardApp): uploads stop below the floor, /readyz says so.
FREE_BYTES = Gauge("dockyard_storage_free_bytes", "Free bytes on a volume Dockyard writes to", ["volume"])
MIN_FREE_BYTES = Gauge("dockyard_storage_min_free_bytes", "Free bytes uploads leave on the blob volume")


def door_of(path: str) -> str:
    if path.startswith("/v2"):
        return "oci"
    if path == "/":
        return "ecr"
    return "other"


async def metrics_response(send: Send) -> None:
    body = generate_latest()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", CONTENT_TYPE_LATEST.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            door, method = door_of(scope["path"]), scope["method"]
            REQUESTS.labels(door, method, str(status)).inc()
            LATENCY.labels(door, method).observe(time.perf_counter() - start)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to ship to any log store."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, json_logs: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("dockyard")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
