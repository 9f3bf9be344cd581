"""A small-request load generator for what `wrk` cannot do: HEAD requests.

wrk's HTTP parser waits for the `Content-Length` bytes of a HEAD response's body, which never come,
so HEAD blob runs here instead: raw asyncio protocols on uvloop, one request in flight per keep-alive
connection (like wrk), spread over one process per CPU so that the client is not the bottleneck.

    python bench/loadgen.py URL --method HEAD --connections 64 --seconds 5 -H 'Authorization: ...'

prints one JSON object: requests, duration_s, errors, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class Client(asyncio.Protocol):
    """One connection sending the same request again as soon as the previous answer is complete."""

    def __init__(self, request: bytes, head: bool, deadline: float, latencies: list[int]) -> None:
        self.request = request
        self.head = head
        self.deadline = deadline
        self.latencies = latencies
        self.errors = 0
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.buf = bytearray()
        self.body_left = -1  # -1: reading headers
        self.started = 0
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.ready.set_result(None)

    def send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.body_left < 0:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end]).lower()
                del self.buf[: end + 4]
                if not head.startswith(b"http/1.1 2"):
                    self.errors += 1
                length = 0
                at = head.find(b"\r\ncontent-length:")
                if at >= 0 and not self.head:
                    stop = head.find(b"\r\n", at + 2)
                    length = int(head[at + 17 : stop if stop > 0 else len(head)])
                self.body_left = length
            take = min(self.body_left, len(self.buf))
            del self.buf[:take]
            self.body_left -= take
            if self.body_left:
                return
            self.body_left = -1
            now = time.perf_counter_ns()
            self.latencies.append(now - self.started)
            if time.monotonic() >= self.deadline:
                assert self.transport is not None
                self.transport.close()
                return
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or self.body_left >= 0:
            self.errors += 1  # closed by the server, or mid-response
        if not self.done.done():
            self.done.set_result(None)


async def _run(
    url: str, method: str, headers: list[str], connections: int, seconds: float
) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    request = "\r\n".join(lines).encode("latin-1")
    latencies: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + seconds
    clients = []
    for _ in range(connections):
        _, client = await loop.create_connection(
            lambda: Client(request, method == "HEAD", deadline, latencies), host, port
        )
        clients.append(client)
    await asyncio.gather(*(c.ready for c in clients))
    start = time.perf_counter()
    for client in clients:
        client.send()
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), seconds + 60)
    return {
        "latencies_ns": latencies,
        "duration_s": time.perf_counter() - start,
        "errors": sum(c.errors for c in clients),
    }


def _worker(args: argparse.Namespace) -> None:
    import uvloop

    result = uvloop.run(_run(args.url, args.method, args.header, args.connections, args.seconds))
    json.dump(result, sys.stdout)


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def run_load(
    url: str,
    method: str,
    headers: dict[str, str],
    connections: int,
    seconds: int,
    processes: int | None = None,
) -> LoadResult:
    """Run the generator in up to one process per CPU (never more processes than connections)."""
    processes = min(processes or os.cpu_count() or 1, connections)
    share = [connections // processes + (i < connections % processes) for i in range(processes)]
    header_args = [x for k, v in headers.items() for x in ("-H", f"{k}: {v}")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                url,
                "--method",
                method,
                "--connections",
                str(n),
                "--seconds",
                str(seconds),
                *header_args,
            ],
            stdout=subprocess.PIPE,
        )
        for n in share
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"load generator exited with {proc.returncode}")
        results.append(json.loads(out))
    latencies = sorted(x for r in results for x in r["latencies_ns"])
    if not latencies:
        raise RuntimeError(f"no request completed against {url}")
    duration = max(r["duration_s"] for r in results)
    errors = sum(r["errors"] for r in results)
    if errors:
        raise RuntimeError(f"{method} {url}: {errors} failed responses")
    return LoadResult(
        rps=len(latencies) / duration,
        p50_ms=latencies[len(latencies) // 2] / 1e6,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e6,
        requests=len(latencies),
        errors=errors,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--method", default="GET")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("-H", "--header", action="append", default=[])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args)
        return
    headers = dict(h.split(": ", 1) for h in args.header)
    result = run_load(args.url, args.method, headers, args.connections, int(args.seconds))
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
