"""The clients that drive both registries, chosen so that they are not the bottleneck.

* large blobs: `curl -o /dev/null` for pulls; a raw keep-alive HTTP/1.1 client whose request
  bodies go out with `socket.sendfile` (zero-copy from the page cache) for pushes;
* small requests: `wrk` with a generated Lua script (method, auth and Accept headers, JSON summary);
* the 200-layer image: an asyncio client on `httpx.AsyncClient` with an HTTP/1.1 connection pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MIB = 1024 * 1024
NONCE_BYTES = 16


class BenchError(RuntimeError):
    """A registry answered something the benchmark did not expect."""


# ---------------------------------------------------------------------------- blob source
@dataclass
class Blob:
    """One variant of the source file: its shared prefix plus a unique 16-byte tail."""

    digest: str
    size: int
    parts: list[bytes | tuple[int, int]]  # bytes, or (offset, count) slices of the source file


class BlobSource:
    """A random file on disk from which many distinct large blobs are made cheaply.

    Every blob is the file's bytes followed by a 16-byte nonce, so each push is a new digest
    (nothing is deduplicated) while the prefix is hashed only once (hashlib state copies).
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.prefix_size = size - NONCE_BYTES
        if not path.exists() or path.stat().st_size != self.prefix_size:
            with path.open("wb") as f:
                remaining = self.prefix_size
                while remaining:
                    n = min(16 * MIB, remaining)
                    f.write(os.urandom(n))
                    remaining -= n
        self._hasher = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(16 * MIB):
                self._hasher.update(chunk)
        self.file: BinaryIO = path.open("rb")

    def blob(self) -> Blob:
        nonce = os.urandom(NONCE_BYTES)
        hasher = self._hasher.copy()
        hasher.update(nonce)
        return Blob(
            "sha256:" + hasher.hexdigest(), self.prefix_size + NONCE_BYTES, [(0, self.prefix_size), nonce]
        )

    def slice(self, blob: Blob, start: int, count: int) -> list[bytes | tuple[int, int]]:
        """Bytes [start, start+count) of a blob as parts."""
        out: list[bytes | tuple[int, int]] = []
        end = start + count
        if start < self.prefix_size:
            out.append((start, min(end, self.prefix_size) - start))
        if end > self.prefix_size:
            nonce = blob.parts[-1]
            assert isinstance(nonce, bytes)
            out.append(nonce[max(start - self.prefix_size, 0) : end - self.prefix_size])
        return out


# ---------------------------------------------------------------------------- raw HTTP/1.1
@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client: sendfile() for request bodies, recv_into() for large replies."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.default_headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self.sock: socket.socket | None = None
        self._buf = bytearray()

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buf.clear()
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        parts: Sequence[bytes | tuple[int, int]] = (),
        source: BinaryIO | None = None,
        sink: Callable[[memoryview], object] | None = None,
    ) -> RawResponse:
        """Send one request; body `parts` are bytes or (offset, count) slices of `source`.

        With `sink`, a response body is streamed to it (and `body` stays empty).
        """
        sock = self._connect()
        length = sum(len(p) if isinstance(p, bytes) else p[1] for p in parts)
        all_headers = {**self.default_headers, **(headers or {})}
        if parts or method in ("PUT", "POST", "PATCH"):
            all_headers["Content-Length"] = str(length)
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        sock.sendall(head.encode("latin-1") + b"\r\n")
        for part in parts:
            if isinstance(part, bytes):
                sock.sendall(part)
            else:
                assert source is not None
                sent = sock.sendfile(source, part[0], part[1])
                if sent != part[1]:
                    raise BenchError(f"sendfile sent {sent} of {part[1]} bytes")
        return self._read_response(method, sink)

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(256 * 1024)
        if not data:
            raise BenchError("connection closed by the server")
        self._buf += data

    def _read_response(self, method: str, sink: Callable[[memoryview], object] | None) -> RawResponse:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        body = b""
        if method != "HEAD" and status not in (204, 304) and not 100 <= status < 200:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = self._read_chunked()
            else:
                body = self._read_exact(int(headers.get("content-length", "0")), sink)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return RawResponse(status, headers, body)

    def _read_exact(self, n: int, sink: Callable[[memoryview], object] | None) -> bytes:
        if sink is None:
            while len(self._buf) < n:
                self._fill()
            body = bytes(self._buf[:n])
            del self._buf[:n]
            return body
        assert self.sock is not None
        take = min(n, len(self._buf))
        if take:
            sink(memoryview(bytes(self._buf[:take])))
            del self._buf[:take]
        remaining = n - take
        buffer = memoryview(bytearray(MIB))
        while remaining:
            got = self.sock.recv_into(buffer, min(MIB, remaining))
            if not got:
                raise BenchError("connection closed mid-body")
            sink(buffer[:got])
            remaining -= got
        return b""

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            while (end := self._buf.find(b"\r\n")) < 0:
                self._fill()
            size = int(bytes(self._buf[:end]).split(b";")[0], 16)
            del self._buf[: end + 2]
            while len(self._buf) < size + 2:
                self._fill()
            out += self._buf[:size]
            del self._buf[: size + 2]
            if size == 0:
                return bytes(out)


def _target(location: str) -> str:
    """Path and query of a Location header (Distribution's are absolute, Dockyard's relative)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_query(target: str, query: str) -> str:
    return target + ("&" if "?" in target else "?") + query


def _expect(response: RawResponse, status: int, what: str) -> RawResponse:
    if response.status != status:
        raise BenchError(f"{what}: HTTP {response.status} (wanted {status}): {response.body[:300]!r}")
    return response


def _check_created(response: RawResponse, blob: Blob, what: str) -> None:
    _expect(response, 201, what)
    got = response.headers.get("docker-content-digest")
    if got != blob.digest:
        raise BenchError(f"{what}: server reported digest {got}, pushed {blob.digest}")


def start_upload(conn: RawConnection, repo: str) -> str:
    response = _expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, "POST upload")
    return _target(response.headers["location"])


def push_monolithic(conn: RawConnection, repo: str, source: BlobSource, blob: Blob) -> None:
    """POST to open an upload, then one PUT ?digest= with the whole body."""
    location = start_upload(conn, repo)
    headers = {"Content-Type": "application/octet-stream"}
    response = conn.request(
        "PUT", _with_query(location, f"digest={blob.digest}"), headers, blob.parts, source.file
    )
    _check_created(response, blob, "PUT monolithic")


def push_chunked(conn: RawConnection, repo: str, source: BlobSource, blob: Blob, chunk: int) -> None:
    """POST, PATCHes of `chunk` bytes with Content-Range (following each Location), then PUT ?digest=."""
    location = start_upload(conn, repo)
    for start in range(0, blob.size, chunk):
        count = min(chunk, blob.size - start)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + count - 1}",
        }
        parts = source.slice(blob, start, count)
        response = _expect(conn.request("PATCH", location, headers, parts, source.file), 202, "PATCH chunk")
        location = _target(response.headers["location"])
    response = conn.request("PUT", _with_query(location, f"digest={blob.digest}"))
    _check_created(response, blob, "PUT closing chunked upload")


def in_threads(jobs: Sequence[Callable[[], None]]) -> None:
    """Run the jobs at once, one thread each; re-raise the first failure."""
    errors: list[BaseException] = []

    def wrap(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def pull_verify(conn: RawConnection, repo: str, blob: Blob) -> None:
    """Untimed: download the blob and check its sha256 and size."""
    hasher = hashlib.sha256()
    received = 0

    def sink(view: memoryview) -> None:
        nonlocal received
        hasher.update(view)
        received += len(view)

    response = conn.request("GET", f"/v2/{repo}/blobs/{blob.digest}", sink=sink)
    _expect(response, 200, "GET blob (verify)")
    if received != blob.size or "sha256:" + hasher.hexdigest() != blob.digest:
        raise BenchError(f"pulled blob does not match: {received} bytes, sha256:{hasher.hexdigest()}")


def curl_pull(url: str, headers: dict[str, str], expected_size: int, parallel: int) -> None:
    """`parallel` concurrent `curl -o /dev/null` downloads; each must be 200 with the full size."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    procs = [subprocess.Popen([*args, url], stdout=subprocess.PIPE) for _ in range(parallel)]
    for proc in procs:
        out, _ = proc.communicate()
        code, size = out.decode().split()
        if proc.returncode != 0 or code != "200" or int(size) != expected_size:
            raise BenchError(f"curl pull: exit {proc.returncode}, HTTP {code}, {size} bytes")


# ---------------------------------------------------------------------------- wrk
WRK_SCRIPT = """\
wrk.method = "{method}"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status":%d,"errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def run_wrk(
    url: str, method: str, headers: dict[str, str], connections: int, seconds: int, script_dir: Path
) -> WrkResult:
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script = script_dir / f"wrk-{method.lower()}-{os.getpid()}.lua"
    script.write_text(WRK_SCRIPT.format(method=method, headers=header_lines))
    threads = min(connections, os.cpu_count() or 1)
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no summary:\n{out}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    if data["status"] or data["errors"] or not data["requests"]:
        raise BenchError(f"wrk {method} {url}: {data}")
    return WrkResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
    )


# ---------------------------------------------------------------------------- images
@dataclass
class Image:
    blobs: dict[str, bytes]  # digest -> content (config and layers)
    layer_digests: list[str]
    manifest: bytes


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(layers: int, min_kib: int = 10, max_kib: int = 100) -> Image:
    """An OCI image of `layers` random layers of min..max KiB, with a config and a manifest."""
    contents = [os.urandom(random.randint(min_kib, max_kib) * 1024) for _ in range(layers)]
    digests = [sha256_digest(c) for c in contents]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": digests}}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": d, "size": len(c)}
            for d, c in zip(digests, contents, strict=True)
        ],
    }
    blobs = {sha256_digest(config): config, **dict(zip(digests, contents, strict=True))}
    return Image(blobs, digests, json.dumps(manifest).encode())


async def _each(items: Iterable[str], concurrency: int, work: Callable[[str], Awaitable[None]]) -> None:
    queue = list(items)
    queue.reverse()

    async def worker() -> None:
        while queue:
            await work(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _check(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise BenchError(f"{what}: HTTP {response.status_code} (wanted {status}): {response.text[:300]}")


class ImageClient:
    """Pushes and pulls images like a container engine does, `concurrency` blobs at a time."""

    def __init__(self, base_url: str, headers: dict[str, str], concurrency: int) -> None:
        self.concurrency = concurrency
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            http1=True,
            http2=False,
            timeout=120,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def put_manifest(self, repo: str, tag: str, image: Image) -> None:
        response = await self.http.put(
            f"/v2/{repo}/manifests/{tag}", content=image.manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        _check(response, 201, "PUT manifest")

    async def push(self, repo: str, tag: str, image: Image) -> None:
        """HEAD each blob; upload the missing ones (POST + PUT ?digest=); then PUT the manifest."""

        async def one(digest: str) -> None:
            head = await self.http.head(f"/v2/{repo}/blobs/{digest}")
            if head.status_code == 200:
                return
            _check(head, 404, "HEAD blob")
            started = await self.http.post(f"/v2/{repo}/blobs/uploads/")
            _check(started, 202, "POST upload")
            location = started.headers["location"]
            put = await self.http.put(
                _with_query(location, f"digest={digest}"),  # keeps Distribution's _state parameter
                content=image.blobs[digest],
                headers={"Content-Type": "application/octet-stream"},
            )
            _check(put, 201, "PUT blob")

        await _each(image.blobs, self.concurrency, one)
        await self.put_manifest(repo, tag, image)

    async def repush(self, repo: str, tag: str, image: Image) -> None:
        """A re-push of an image the registry has: every HEAD answers 200, nothing is uploaded."""

        async def one(digest: str) -> None:
            _check(await self.http.head(f"/v2/{repo}/blobs/{digest}"), 200, "HEAD existing blob")

        await _each(image.blobs, self.concurrency, one)
        await self.put_manifest(repo, tag, image)

    async def mount(self, repo: str, tag: str, image: Image, source_repo: str) -> None:
        """Cross-repository mount of every blob (POST ?mount=&from= answering 201), then the manifest."""

        async def one(digest: str) -> None:
            response = await self.http.post(
                f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": source_repo}
            )
            _check(response, 201, "POST mount")

        await _each(image.blobs, self.concurrency, one)
        await self.put_manifest(repo, tag, image)

    async def pull(self, repo: str, tag: str, image: Image) -> None:
        """GET the manifest by tag, then every blob, checking each digest."""
        response = await self.http.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
        _check(response, 200, "GET manifest")
        manifest = json.loads(response.content)
        digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
        if set(digests) != set(image.blobs):
            raise BenchError("pulled manifest lists other blobs than were pushed")

        async def one(digest: str) -> None:
            blob = await self.http.get(f"/v2/{repo}/blobs/{digest}")
            _check(blob, 200, "GET blob")
            if sha256_digest(blob.content) != digest:
                raise BenchError(f"blob {digest} came back with other content")

        await _each(digests, self.concurrency, one)


def time_image_op(
    base_url: str, headers: dict[str, str], concurrency: int, op: Callable[[ImageClient], Awaitable[None]]
) -> float:
    """Seconds `op` takes with a fresh client (new connections, as a new `docker push` would) on uvloop."""
    import uvloop

    async def go() -> float:
        client = ImageClient(base_url, headers, concurrency)
        try:
            start = time.perf_counter()
            await op(client)
            return time.perf_counter() - start
        finally:
            await client.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(go())
