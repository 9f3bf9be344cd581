"""Start, prepare and stop the two registries under test, and watch their memory.

Dockyard runs from this checkout (`python -m dockyard serve`) with authentication on; the
reference is Debian's `docker-registry` (CNCF Distribution) with a minimal config and no auth.
Each gets its own temporary data directory and a free loopback port.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
REFERENCE_BINARY = "/usr/bin/docker-registry"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running registry: where it listens, how to authenticate, which process tree is it."""

    name: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    auth_header: str | None = None
    ecr: Any = None  # boto3 ECR client (Dockyard only)
    _repos: set[str] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.auth_header} if self.auth_header else {}

    def ensure_repo(self, name: str) -> None:
        """Dockyard needs repositories to exist before a push (as ECR); Distribution does not."""
        if self.ecr is None or name in self._repos:
            return
        self.ecr.create_repository(repositoryName=name)
        self._repos.add(name)

    def discard_blob(self, digest: str) -> None:
        """Delete a pushed blob's bytes behind the server's back, to keep the run's disk use flat.

        Only for blobs the benchmark never reads again (the large pushes).
        """
        hexpart = digest.split(":", 1)[1]
        for path in self.data_dir.rglob(hexpart):
            target = path / "data" if path.is_dir() else path
            target.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    try:
        # Own session, so stop() can signal the server and its workers as one group.
        return subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    finally:
        log.close()


def _wait_http(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}; log:\n{log_path.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s; log:\n{log_path.read_text()[-3000:]}")


def _wait_for_keys(log_path: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        key = re.search(r"^AWS_ACCESS_KEY_ID=(\S+)$", text, re.M)
        secret = re.search(r"^AWS_SECRET_ACCESS_KEY=(\S+)$", text, re.M)
        if key and secret:
            return key.group(1), secret.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"dockyard exited with {process.returncode}; log:\n{text[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError("dockyard did not print an access key (is its data dir empty?)")


def start_dockyard(workdir: Path, workers: int) -> Server:
    import boto3  # slow import; only needed here

    data_dir = workdir / "dockyard-data"
    data_dir.mkdir(parents=True)
    port = free_port()
    log_path = workdir / "dockyard.log"
    args = [str(VENV_PYTHON), "-m", "dockyard", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir), "--workers", str(workers)]
    process = _spawn(args, log_path)
    try:
        key_id, secret = _wait_for_keys(log_path, process)
        _wait_http(f"http://127.0.0.1:{port}/healthz", process, log_path)
        ecr = boto3.client(
            "ecr",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode().partition(":")
        assert user == "AWS", user
        auth = "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()
        # Cross-repository mounts are off by default, as in ECR.
        ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    except BaseException:
        process.kill()
        raise
    return Server("dockyard", port, data_dir, process, log_path, auth_header=auth, ecr=ecr)


REFERENCE_CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def start_reference(workdir: Path) -> Server:
    data_dir = workdir / "reference-data"
    data_dir.mkdir(parents=True)
    port = free_port()
    config = workdir / "reference-config.yml"
    config.write_text(REFERENCE_CONFIG.format(root=data_dir, port=port))
    log_path = workdir / "reference.log"
    process = _spawn([REFERENCE_BINARY, "serve", str(config)], log_path)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/", process, log_path)
    except BaseException:
        process.kill()
        raise
    return Server("reference", port, data_dir, process, log_path)


# ---------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    return found


def tree_pids(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Peak VmRSS of a process tree (sum over the tree, and the largest single process) while active."""

    def __init__(self, root_pid: int, interval: float = 0.05) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_tree_kib = 0
        self.peak_process_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        sizes = [rss_kib(pid) for pid in tree_pids(self.root_pid)]
        self.peak_tree_kib = max(self.peak_tree_kib, sum(sizes))
        self.peak_process_kib = max(self.peak_process_kib, max(sizes, default=0))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_tree_mib(self) -> float:
        return self.peak_tree_kib / 1024

    @property
    def peak_process_mib(self) -> float:
        return self.peak_process_kib / 1024


def require_tools(*names: str) -> None:
    import shutil

    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        sys.exit(f"missing tools: {' '.join(missing)} (apt-get install -y {' '.join(missing)})")
