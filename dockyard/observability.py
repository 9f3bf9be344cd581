"""Per-request observation: one access log line and the Prometheus request metrics.

The doors name what a request was by setting scope keys as they learn it (no extra awaits or
queries): ``dockyard.operation`` (the ECR action, or the `/v2/` route class such as
``blob_get``), ``dockyard.repository``, ``dockyard.principal`` and, for ECR errors,
``dockyard.error`` (the error code). Metric labels only ever take
operation names from fixed tables, never repository names, so their number stays small.

With several worker processes `dockyard serve` points every process at one
``PROMETHEUS_MULTIPROC_DIR`` (:mod:`dockyard.serving`), and ``/metrics`` answers the sum over
all of them, whichever process takes the scrape.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from dockyard.store.free_space import Volume

REQUESTS = Counter("dockyard_http_requests_total", "HTTP requests", ["door", "operation", "status"])
LATENCY = Histogram(
    "dockyard_http_request_seconds",
    "HTTP request latency, from the request's start to its response's end",
    ["door", "operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS = Counter("dockyard_jobs_total", "Background jobs finished", ["kind", "outcome"])

access_log = logging.getLogger("dockyard.access")

# Paths outside the two doors, as their own operations; anything else is "unmatched".
_OTHER_OPERATIONS = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}


def door_of(path: str) -> str:
    if path.startswith("/v2"):
        return "oci"
    if path == "/":
        return "ecr"
    return "other"


def operation_of(scope: Scope, path: str) -> str:
    """The low-cardinality name of what a request did (set by its door, or known here)."""
    operation = scope.get("dockyard.operation")
    if operation:
        return str(operation)
    if path.startswith("/layers/"):
        return "layer_download"
    return _OTHER_OPERATIONS.get(path, "unmatched")


# Request ids: a random UUID per process whose last 12 hex digits count its requests, so ids
# are unique, shaped as ECR's (``x-amzn-RequestId``), and cost a counter step, not a syscall.
_ID_PREFIX = str(uuid.uuid4())[:24]
_id_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFFFFFF:012x}"


def render_process_metrics() -> bytes:
    """This server's request and job metrics: summed over every worker process when it has several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def render_free_space(volumes: Iterable[Volume], min_free: int) -> bytes:
    """Free space, read at each scrape (uploads stop below the floor, and /readyz says so); a
    reading of this machine, so never summed across workers."""
    registry = CollectorRegistry()
    free = Gauge(
        "dockyard_storage_free_bytes",
        "Free bytes on a volume Dockyard writes to",
        ["volume"],
        registry=registry,
    )
    for volume in volumes:
        free.labels(volume.name).set(volume.free)
    floor = Gauge(
        "dockyard_storage_min_free_bytes", "Free bytes uploads leave on the blob volume", registry=registry
    )
    floor.set(min_free)
    return generate_latest(registry)


async def metrics_response(send: Send, body: bytes) -> None:
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


class ObservabilityMiddleware:
    """Times each HTTP request, counts it, and logs one access line when its response is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope["dockyard.request_id"] = new_request_id()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - start
            path: str = scope["path"]
            door, operation = door_of(path), operation_of(scope, path)
            REQUESTS.labels(door, operation, str(status)).inc()
            LATENCY.labels(door, operation).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                log_access(scope, door, operation, status, elapsed)


def log_access(scope: Scope, door: str, operation: str, status: int, elapsed: float) -> None:
    """The one info line per request, with who did what to which repository."""
    principal = scope.get("dockyard.principal")  # None: anonymous, or refused before it was known
    client = scope.get("client")
    method, path, duration_ms = scope["method"], scope["path"], round(elapsed * 1000, 3)
    # makeRecord + handle: logger.info() would also walk the stack for a caller nobody reads.
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.1fms",
        (method, path, status, duration_ms),
        None,
        extra={
            "request_id": scope.get("dockyard.request_id"),
            "client": client[0] if client else None,
            "method": method,
            "path": path,
            "door": door,
            "action": operation,
            "repository": scope.get("dockyard.repository"),
            "principal": getattr(principal, "arn", None),
            "status": status,
            "error": scope.get("dockyard.error"),
            "duration_ms": duration_ms,
        },
    )
    access_log.handle(record)
