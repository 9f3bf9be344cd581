"""What this machine can do at most, measured in the same run as the registries.

* loopback: a plain Python server answering one GET with `socket.sendfile` of the source file,
  downloaded by `curl -o /dev/null` (the same client as the blob pulls);
* sha256: hashlib over an in-memory buffer (one core; a push must hash every byte);
* disk: writing a file in 1 MiB blocks, then fsync (a push must make every byte durable).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

MIB = 1024 * 1024


def loopback_mib_s(path: Path) -> float:
    size = path.stat().st_size
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, path.open("rb") as f:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
            conn.sendfile(f)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        start = time.perf_counter()
        out = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        elapsed = time.perf_counter() - start
    finally:
        thread.join(timeout=30)
        listener.close()
    if int(out) != size:
        raise RuntimeError(f"loopback probe got {out} of {size} bytes")
    return size / MIB / elapsed


def sha256_mib_s(total: int) -> float:
    block = os.urandom(16 * MIB)
    hasher = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(max(total // len(block), 1)):
        hasher.update(block)
    return max(total // len(block), 1) * len(block) / MIB / (time.perf_counter() - start)


def disk_fsync_mib_s(directory: Path, total: int) -> float:
    block = os.urandom(MIB)
    path = directory / f"disk-probe-{os.getpid()}"
    try:
        start = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for _ in range(total // MIB):
                os.write(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)
        return (total // MIB) / (time.perf_counter() - start)
    finally:
        path.unlink(missing_ok=True)


def measure(source: Path, workdir: Path, size: int) -> dict[str, float]:
    return {
        "loopback_mib_s": loopback_mib_s(source),
        "sha256_mib_s": sha256_mib_s(size),
        "disk_fsync_mib_s": disk_fsync_mib_s(workdir, size),
    }
