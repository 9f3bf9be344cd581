"""An HTTP fault proxy for the S3 server: each request is forwarded (on a fresh upstream
connection), or answered with a 500/503 S3 error, or stalled and dropped without an answer,
at the rates set on the proxy. Runs its own event loop in a thread; loopback only.

One request per client connection (the answer carries ``Connection: close``): every request
then meets the dice, however the client pools its connections."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code>'
    b"<Message>injected by the fault proxy</Message></Error>"
)


@dataclass
class FaultProxy:
    upstream: str  # http://host:port
    error_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 1.5
    seed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"forwarded": 0, "errors": 0, "stalls": 0})
    port: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        parts = urlsplit(self.upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            headers = [line for line in lines[1:] if line]
            length = 0
            for line in headers:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            roll = self._rng.random()
            if roll < self.error_rate:
                self.counts["errors"] += 1
                code = self._rng.choice([(500, b"InternalError"), (503, b"SlowDown")])
                payload = ERROR_BODY % code[1]
                writer.write(
                    b"HTTP/1.1 %d Injected\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (code[0], len(payload), payload)
                )
                await writer.drain()
                return
            if roll < self.error_rate + self.stall_rate:
                self.counts["stalls"] += 1
                await asyncio.sleep(self.stall_seconds)
                return  # dropped without an answer
            self.counts["forwarded"] += 1
            kept = [h for h in headers if h.split(b":", 1)[0].strip().lower() != b"connection"]
            request = b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""]) + body
            up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
            try:
                up_writer.write(request)
                await up_writer.drain()
                while chunk := await up_reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            finally:
                up_writer.close()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultProxy]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        server: list[asyncio.AbstractServer] = []

        async def start() -> None:
            srv = await asyncio.start_server(self._handle, "127.0.0.1", self.port, limit=1 << 20)
            self.port = srv.sockets[0].getsockname()[1]
            server.append(srv)
            started.set()

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        started.wait(10)
        try:
            yield self
        finally:

            async def stop() -> None:
                server[0].close()

            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
