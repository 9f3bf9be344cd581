"""EIO from fsync under a running server (libfiu: the server runs under `fiu-run -x`, and
`fiu-ctrl` turns random failures on and off in it): requests fail cleanly (an error answer or a
dropped connection, never a crash), nothing half-visible, every acknowledged push intact.

Needs Debian's fiu-utils (installed by `./run test`); skipped without it unless CI is set."""

from __future__ import annotations

import contextlib
import errno
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.faults.harness import (
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

FAULTS = (
    f"enable_random name=posix/io/rw/write,probability=0.03,failinfo={errno.EIO}",
    f"enable_random name=posix/io/sync/fsync,probability=0.2,failinfo={errno.EIO}",
    f"enable_random name=posix/io/sync/fdatasync,probability=0.2,failinfo={errno.EIO}",
)
OFF = (
    "disable name=posix/io/rw/write",
    "disable name=posix/io/sync/fsync",
    "disable name=posix/io/sync/fdatasync",
)


def _fiu() -> tuple[str, str]:
    run, ctrl = shutil.which("fiu-run"), shutil.which("fiu-ctrl")
    if run and ctrl:
        return run, ctrl
    if services.in_ci():
        pytest.fail("fiu-run/fiu-ctrl are missing (apt-get install fiu-utils); CI is set")
    pytest.skip("fiu-run/fiu-ctrl are not installed (apt-get install fiu-utils)")


@contextlib.contextmanager
def fiu_server(node: Node, fiu_run: str) -> Iterator[clients.Registry]:
    """`fiu-run -x python -m dockyard serve` on the node's data (fault control enabled, no fault on)."""
    data_dir = node.workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    reservation = clients.reserve_port()
    port = int(reservation.getsockname()[1])
    log_path = node.workdir / "server-fiu.log"
    env = {k: v for k, v in clients.os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(node.storage)
    cmd = [
        fiu_run,
        "-x",
        sys.executable,
        "-m",
        "dockyard",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    cmd += ["--data-dir", str(data_dir), *node.extra_args]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    reg = clients.Registry(
        url=f"http://127.0.0.1:{port}",
        host=f"127.0.0.1:{port}",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        storage_env=dict(node.storage),
        database_url=node.storage.get("DOCKYARD_DATABASE"),
        process=proc,
    )
    try:
        reservation.close()
        error = clients._wait_healthy(proc, reg, 60)
        assert error is None, f"{error}\n{reg.log_tail()}"
        reg.username, reg.password = clients.server_credentials(reg)
        yield reg
    finally:
        clients.stop_process(proc)


def fiu_ctrl(ctrl: str, pid: int, commands: tuple[str, ...]) -> None:
    for command in commands:
        subprocess.run([ctrl, "-c", command, str(pid)], check=True, capture_output=True, timeout=30)


def depths(bounded: int, full: int) -> list[object]:
    return [
        pytest.param(bounded, id="bounded"),
        pytest.param(full, id="full", marks=pytest.mark.faults_full),
    ]


@pytest.mark.faults_full
@pytest.mark.xfail(
    reason="open finding: the server under fiu-run dies of a silent SIGABRT once fsync fails at random "
    "(a plain Python process under the same faults does not); not yet traced",
    strict=False,
)
@pytest.mark.parametrize("depth", depths(4, 20))
def test_eio_on_fsync(tmp_path: Path, depth: int) -> None:
    fiu_run, ctrl = _fiu()
    rng = random.Random(f"eio:{depth}")
    tally = Tally()
    node = Node(tmp_path)
    acked: list[Image] = []
    infos: list[Image] = []
    with fiu_server(node, fiu_run) as reg, reg.http() as client:
        repo = reg.create_repo("faults/eio")
        first = make_image(rng, repo, "first")
        Pusher(client).push(first)
        acked.append(first)
        fiu_ctrl(ctrl, reg.process.pid, FAULTS)
        try:
            for i in range(depth):
                image = make_image(rng, repo, f"e{i}")
                try:
                    Pusher(client).push(image)
                    acked.append(image)
                except PushFailed as e:
                    assert " 404 " not in str(e) or "UNKNOWN" in str(e), str(e)
                    infos.append(image)
                except httpx.TransportError:
                    infos.append(image)
                assert reg.process.poll() is None, f"the server died of an I/O error\n{reg.log_tail()}"
        finally:
            fiu_ctrl(ctrl, reg.process.pid, OFF)
        tally.points.add("EIO")
        for image in infos:
            absent_or_whole(reg, image)
            Pusher(client).push(image)
            acked.append(image)
        check_consistent(node, reg, acked, tally, after_gc=False)
        collect_and_check(node, reg, acked, tally)
    print(f"EIO: {len(infos)} of {depth} pushes failed and were retried")
    tally.report(f"eio ({len(infos)} failed pushes retried)")
