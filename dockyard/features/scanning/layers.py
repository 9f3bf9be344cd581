"""Analyze one image layer, streaming: decompress by magic, walk the tar once, feed the few files
analyzers want to them, and record whiteouts — without extracting anything or holding the layer.

A `LayerResult` depends only on the layer's bytes, so it is cached by layer digest (together with
`ANALYZER_VERSION`) and shared by every image built on that layer; apply.py merges them in order.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import posixpath
import shutil
import tarfile
import tempfile
import threading
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, cast

import zstandard

from dockyard.features.scanning.analyzers import Analyzer, FileOutput, MiB, all_analyzers
from dockyard.features.scanning.model import Package

# Bump whenever analysis results for the same bytes would change (new analyzer, parser fix...):
# cached layer results carry the version they were made with and older ones are recomputed.
ANALYZER_VERSION = 5

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
READ_CHUNK = 1 * MiB
TAR_BUFFER = 256 * 1024  # tarfile skips unwanted members in reads of this size
SPOOL_IN_MEMORY = 4 * MiB  # spooled candidates bigger than this go to a temp file
# Small text files analyzers read are kept for the rest of the layer so hardlinks to them resolve
# (package managers hardlink identical package.json/METADATA files); bounded per file and in total.
HARDLINK_FILE_MAX = 256 * 1024
HARDLINK_TOTAL_MAX = 16 * MiB
MAX_NOTES = 200
QUEUE_CHUNKS = 8  # analyze_blob: chunks in flight between the event loop and the worker
SKIP_ROOTS = ("proc/", "sys/", "dev/")
OPAQUE = ".wh..wh..opq"
WHITEOUT = ".wh."


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class LayerError(ValueError):
    """The layer is not a readable (optionally gzip/zstd-compressed) tar, or fails verification."""


@dataclass(slots=True)
class LayerResult:
    """One layer's contribution, everything keyed by normalised path (no leading slash)."""

    diff_id: str  # sha256 of the uncompressed tar, "sha256:<hex>"
    size: int = 0  # uncompressed bytes
    compression: str = "plain"
    whiteouts: list[str] = field(default_factory=list)  # paths deleted from lower layers
    opaque_dirs: list[str] = field(default_factory=list)  # dirs whose lower children are hidden
    # Every file an analyzer read in this layer, with or without results: rewriting a file
    # replaces whatever a lower layer's copy of it contributed.
    analyzed: list[str] = field(default_factory=list)
    packages: dict[str, list[Package]] = field(default_factory=dict)
    os_info: dict[str, dict[str, str]] = field(default_factory=dict)
    owned_files: dict[str, list[str]] = field(default_factory=dict)  # by the OS db file listing them
    notes: list[str] = field(default_factory=list)
    analyzer_version: int = ANALYZER_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "analyzer_version": self.analyzer_version,
            "diff_id": self.diff_id,
            "size": self.size,
            "compression": self.compression,
            "whiteouts": self.whiteouts,
            "opaque_dirs": self.opaque_dirs,
            "analyzed": self.analyzed,
            "packages": {k: [p.to_json() for p in v] for k, v in self.packages.items()},
            "os_info": self.os_info,
            "owned_files": self.owned_files,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerResult:
        return cls(
            diff_id=data["diff_id"],
            size=int(data.get("size", 0)),
            compression=data.get("compression", "plain"),
            whiteouts=list(data.get("whiteouts", [])),
            opaque_dirs=list(data.get("opaque_dirs", [])),
            analyzed=list(data.get("analyzed", [])),
            packages={k: [Package.from_json(p) for p in v] for k, v in (data.get("packages") or {}).items()},
            os_info={k: dict(v) for k, v in (data.get("os_info") or {}).items()},
            owned_files={k: list(v) for k, v in (data.get("owned_files") or {}).items()},
            notes=list(data.get("notes", [])),
            analyzer_version=int(data.get("analyzer_version", 0)),
        )


def normalize(name: str) -> str | None:
    """Tar member name -> clean relative path; None for the root or anything climbing out of it
    (container runtimes refuse to extract such members, so they never reach a filesystem)."""
    path = posixpath.normpath(name.lstrip("/"))
    if path in (".", "..") or path.startswith("../"):
        return None
    return path.lstrip("/")


class _Prefixed(io.RawIOBase):
    """Gives back the bytes sniffed for the compression magic, then the rest of the stream."""

    def __init__(self, head: bytes, rest: _Readable) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self.head:
            n = min(len(view), len(self.head))
            view[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(view))
        view[: len(data)] = data
        return len(data)


class _Hashing(io.RawIOBase):
    """sha256 + byte count of the uncompressed tar as tarfile pulls it."""

    def __init__(self, inner: _Readable) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n if n is not None and n >= 0 else READ_CHUNK)
        self.sha.update(data)
        self.size += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        memoryview(b).cast("B")[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(READ_CHUNK):
            pass


def _read_exact(f: _Readable, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _open_decompressed(fileobj: _Readable) -> tuple[_Readable, str]:
    head = _read_exact(fileobj, 4)
    raw = io.BufferedReader(_Prefixed(head, fileobj), READ_CHUNK)
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb"), "gzip"
    if head.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return cast(_Readable, reader), "zstd"
    return raw, "plain"


class _Walker:
    """State for one pass over a layer's members."""

    def __init__(self, analyzers: list[Analyzer]) -> None:
        self.analyzers = analyzers
        self.result = LayerResult(diff_id="")
        self.whiteouts: set[str] = set()
        self.opaque: set[str] = set()
        self.outputs: dict[str, FileOutput] = {}
        self.small: dict[str, bytes] = {}  # for hardlinks
        self.small_bytes = 0

    def member(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        path = normalize(info.name)
        if path is None or path.startswith(SKIP_ROOTS):
            return
        directory, base = posixpath.split(path)
        if base.startswith(WHITEOUT):
            if base == OPAQUE:
                self.opaque.add(directory)
            elif not base.startswith(WHITEOUT + WHITEOUT):  # other .wh..wh. names are aufs metadata
                self.whiteouts.add(posixpath.join(directory, base[len(WHITEOUT) :]))
            return
        if info.islnk():
            self.hardlink(path, info)
            return
        if not info.isreg():
            # Symlinks are not followed (Trivy's rule); dirs and devices carry no content. But one
            # standing where an analyzed file was (etc/os-release turned into a symlink) replaces
            # that lower-layer file, so it counts as analyzed, with no results.
            if (info.issym() or info.isdir()) and any(a.wants(path, 0o644, 1024) for a in self.analyzers):
                self.outputs[path] = FileOutput()
            return
        wanted = [a for a in self.analyzers if a.wants(path, info.mode, info.size)]
        if not wanted:
            return
        stream = tar.extractfile(info)
        if stream is None:
            return
        with stream:
            self.analyze(path, info.size, info.mode, wanted, stream)

    def analyze(self, path: str, size: int, mode: int, wanted: list[Analyzer], stream: IO[bytes]) -> None:
        head = _read_exact(stream, 8)
        wanted = [a for a in wanted if a.magic_ok(head)]
        if not wanted:
            return
        cap = max(a.max_size for a in wanted)
        if size > cap:
            self.note(f"{path}: {size} bytes, over the {cap}-byte limit; skipped")
            self.outputs[path] = FileOutput()  # still replaces whatever a lower layer had there
            return
        spool: IO[bytes]
        if any(a.spool for a in wanted):
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        else:
            spool = io.BytesIO()
        with spool:
            spool.write(head)
            shutil.copyfileobj(stream, spool, READ_CHUNK)
            if (
                not any(a.spool for a in wanted)
                and size <= HARDLINK_FILE_MAX
                and self.small_bytes + size <= HARDLINK_TOTAL_MAX
            ):
                spool.seek(0)
                self.small[path] = spool.read()
                self.small_bytes += size
            self.run(path, size, wanted, spool)

    def run(self, path: str, size: int, wanted: list[Analyzer], f: IO[bytes]) -> None:
        merged = FileOutput()
        for analyzer in wanted:
            if size > analyzer.max_size:
                continue
            f.seek(0)
            try:
                out = analyzer.analyze(path, f, size)  # type: ignore[arg-type]
            except Exception as e:
                self.note(f"{path}: {analyzer.name} failed ({type(e).__name__}: {e})")
                continue
            merged.packages.extend(out.packages)
            merged.notes.extend(out.notes)
            if out.os is not None:
                merged.os = {**(merged.os or {}), **out.os}
            if out.owned is not None:
                merged.owned = [*(merged.owned or []), *out.owned]
        self.outputs[path] = merged  # a later copy of the same path in this layer wins

    def note(self, text: str) -> None:
        if len(self.result.notes) < MAX_NOTES:
            self.result.notes.append(text)

    def hardlink(self, path: str, info: tarfile.TarInfo) -> None:
        target = normalize(info.linkname)
        wanted = [a for a in self.analyzers if a.wants(path, info.mode, info.size or 0)]
        if not wanted or target is None:
            return
        data = self.small.get(target)
        if data is None:
            self.note(f"{path}: hardlink to {target}, content not kept; skipped")
            self.outputs[path] = FileOutput()
            return
        self.analyze(path, len(data), info.mode, wanted, io.BytesIO(data))

    def finish(self) -> LayerResult:
        r = self.result
        r.whiteouts = sorted(self.whiteouts)
        r.opaque_dirs = sorted(self.opaque)
        r.analyzed = sorted(self.outputs)
        for path in r.analyzed:
            out = self.outputs[path]
            if out.packages:
                r.packages[path] = out.packages
            if out.os:
                r.os_info[path] = out.os
            if out.owned:
                r.owned_files[path] = out.owned
            for text in out.notes:
                self.note(text)
        return r


def analyze_layer(
    fileobj: BinaryIO | IO[bytes],
    *,
    expected_diff_id: str | None = None,
    analyzers: list[Analyzer] | None = None,
) -> LayerResult:
    """Walk a layer blob (gzip, zstd or plain tar, detected by magic) in one streaming pass."""
    walker = _Walker(analyzers if analyzers is not None else all_analyzers())
    try:
        decompressed, compression = _open_decompressed(fileobj)
        hashing = _Hashing(decompressed)
        first = _read_exact(hashing, 1)
        if first:
            stream = io.BufferedReader(_Prefixed(first, hashing), READ_CHUNK)
            with tarfile.open(fileobj=stream, mode="r|", bufsize=TAR_BUFFER) as tar:
                for info in tar:
                    walker.member(tar, info)
            hashing.drain()  # tar padding after the end-of-archive blocks is part of diff_id
    except (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError) as e:
        raise LayerError(f"unreadable layer: {type(e).__name__}: {e}") from e
    result = walker.finish()
    result.diff_id = "sha256:" + hashing.sha.hexdigest()
    result.size = hashing.size
    result.compression = compression
    if expected_diff_id and expected_diff_id != result.diff_id:
        raise LayerError(f"layer uncompresses to {result.diff_id}, expected {expected_diff_id}")
    return result


def analyze_path(path: str | Path, *, expected_diff_id: str | None = None) -> LayerResult:
    with open(path, "rb") as f:
        return analyze_layer(f, expected_diff_id=expected_diff_id)


class _QueueReader(io.RawIOBase):
    """A blocking file object for the worker thread, fed from the event loop through a bounded
    asyncio.Queue: the producer waits when the worker falls behind, so memory stays flat."""

    def __init__(
        self, queue: asyncio.Queue[bytes | BaseException | None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.queue, self.loop = queue, loop
        self.buf = memoryview(b"")
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while not self.buf and not self.eof:
            item = asyncio.run_coroutine_threadsafe(self.queue.get(), self.loop).result()
            if isinstance(item, BaseException):
                raise LayerError(f"layer stream failed: {item}") from item
            if item is None:
                self.eof = True
            else:
                self.buf = memoryview(item)
        n = min(len(view), len(self.buf))
        view[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


async def analyze_blob(chunks: AsyncIterator[bytes], *, expected_diff_id: str | None = None) -> LayerResult:
    """Analyze a blob streamed by the blob store; parsing runs in a worker thread."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    reader = io.BufferedReader(_QueueReader(queue, loop), READ_CHUNK)
    done = threading.Event()

    def work() -> LayerResult:
        try:
            return analyze_layer(reader, expected_diff_id=expected_diff_id)
        finally:
            done.set()

    worker = asyncio.ensure_future(asyncio.to_thread(work))

    async def produce() -> None:
        async for chunk in chunks:
            if chunk:
                await queue.put(bytes(chunk))
        await queue.put(None)

    producer = asyncio.ensure_future(produce())
    try:
        await asyncio.wait({producer, worker}, return_when=asyncio.FIRST_COMPLETED)
        if worker.done():
            producer.cancel()
            return worker.result()  # raises the worker's error; success only happens after EOF
        if (error := producer.exception()) is not None:
            _abort(queue, error)
        return await worker
    finally:
        if not producer.done():
            producer.cancel()
        if not done.is_set():
            # Cancelled: unblock the worker so its thread ends instead of waiting forever.
            _abort(queue, asyncio.CancelledError())
            worker.cancel()


def _abort(queue: asyncio.Queue[bytes | BaseException | None], error: BaseException) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(error)
