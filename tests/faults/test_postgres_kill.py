"""PostgreSQL killed mid-transaction under a running server (pushes in flight): while it is down
the server answers errors (no hang, no crash), and once PostgreSQL is back it recovers by itself,
with every acknowledged push intact and nothing half-visible.

PostgreSQL runs as a direct child of the test (not daemonized by pg_ctl), so the test can SIGKILL
the postmaster and reap it; it runs in the PostgreSQL + S3 pass of `./run test`."""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.faults.harness import (
    OCI_MANIFEST,
    Image,
    Node,
    Pusher,
    PushFailed,
    Tally,
    absent_or_whole,
    check_consistent,
    collect_and_check,
    make_image,
)
from tests.integration import clients

pytestmark = pytest.mark.skipif(
    clients.backend() != "postgres-s3", reason="PostgreSQL faults run in the PostgreSQL + S3 pass"
)


class Postgres:
    """A private cluster whose postmaster is this process's child."""

    def __init__(self) -> None:
        bindir = services.pg_bin()
        assert bindir is not None, "PostgreSQL is not installed"
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="dy-pgkill-"))
        os.chmod(self.dir, 0o755)
        self.data, self.sock = self.dir / "pgdata", self.dir / "sock"
        self.sock.mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.dir, self.sock):
                os.chown(path, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = services.free_port()
        subprocess.run(
            [*self.prefix, str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def start(self) -> None:
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():  # stale after a SIGKILL: the postmaster is dead (reaped below)
            pidfile.unlink()
        log = open(self.dir / "pg.log", "ab")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            [
                *self.prefix,
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sock),
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
        ).returncode:
            assert time.monotonic() < deadline, (self.dir / "pg.log").read_text()[-2000:]
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends notice and exit); reap it."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(30)
        deadline = time.monotonic() + 30
        while _alive_backends(self.data) and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive_backends(data: Path) -> bool:
    """Any process still running with this data dir (a backend outliving its postmaster)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except OSError:
            continue
        if str(data).encode() in cmdline and state != "Z":
            return True
    return False


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


def _push_until_stopped(
    reg: clients.Registry,
    rng: random.Random,
    repo: str,
    prefix: str,
    stop: threading.Event,
    acked: list[Image],
    infos: list[Image],
) -> None:
    """Push small images until `stop`; a failed push is an "info" (outcome unknown)."""
    with reg.http() as client:
        i = 0
        while not stop.is_set() and i < 12:
            image = make_image(rng, repo, f"{prefix}-{i}", (2000, 5000))
            i += 1
            try:
                Pusher(client).push(image)
            except (PushFailed, httpx.HTTPError):
                infos.append(image)
                continue
            acked.append(image)


def depths(bounded: int, full: int) -> list[object]:
    return [
        pytest.param(bounded, id="bounded"),
        pytest.param(full, id="full", marks=pytest.mark.faults_full),
    ]


@pytest.mark.parametrize("depth", depths(1, 4))
def test_postgres_killed_mid_transaction(tmp_path: Path, depth: int) -> None:
    rng = random.Random(f"pg:{depth}")
    tally = Tally()
    with postgres() as pg:
        database = services.create_database(pg.url)
        storage = {k: v for k, v in clients.backend_env().items() if k != "DOCKYARD_DATABASE"}
        node = Node(tmp_path, storage={**storage, "DOCKYARD_DATABASE": database})
        acked: list[Image] = []
        with node.serve() as reg, reg.http() as client:
            repo = reg.create_repo("faults/pg")
            first = make_image(rng, repo, "first")
            Pusher(client).push(first)
            acked.append(first)
            for round_ in range(depth):
                stop, infos = threading.Event(), list[Image]()
                args = (reg, rng, repo, f"p{round_}", stop, acked, infos)
                thread = threading.Thread(target=_push_until_stopped, args=args, daemon=True)
                thread.start()
                time.sleep(1.0)  # pushes in flight: some transaction is open when the kill lands
                pg.kill()
                tally.kills += 1
                tally.points.add("postgres")
                # Down: errors, promptly; the server itself stays up.
                started = time.monotonic()
                r = client.get(f"/v2/{repo}/manifests/{first.tag}", headers={"Accept": OCI_MANIFEST})
                assert r.status_code >= 500, f"{r.status_code} while PostgreSQL is down"
                assert time.monotonic() - started < 60
                assert httpx.get(f"{reg.url}/readyz", timeout=30).status_code == 503
                assert reg.process.poll() is None, "the server died with its database"
                time.sleep(1.0)
                stop.set()
                thread.join(120)
                pg.start()
                deadline = time.monotonic() + 60
                while True:  # recovers by itself, no restart
                    r = client.get(f"/v2/{repo}/manifests/{first.tag}", headers={"Accept": OCI_MANIFEST})
                    if r.status_code == 200:
                        break
                    assert time.monotonic() < deadline, f"not recovered: {r.status_code} {r.text[:200]}"
                    time.sleep(0.5)
                for image in infos:  # outcome unknown: absent or whole, and a retry succeeds
                    absent_or_whole(reg, image)
                    Pusher(client).push(image)
                    acked.append(image)
                check_consistent(node, reg, acked, tally, after_gc=False)
            collect_and_check(node, reg, acked, tally)
    tally.report("postgres")
