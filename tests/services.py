"""Real backing services for tests: a private PostgreSQL cluster and an S3 server (moto).

Both bind to loopback on free ports and live in temporary directories; nothing is
shared with the machine's own services.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster; yields a SQLAlchemy URL of its admin database."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    import tempfile

    # A directory of its own under /tmp, which the `postgres` user can reach (test tmp dirs are 0700).
    workdir = Path(tempfile.mkdtemp(prefix="dy-pg-"))
    os.chmod(workdir, 0o755)
    data, sock = workdir / "pgdata", workdir / "pgsock"
    sock.mkdir(exist_ok=True)
    prefix: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the `postgres` user Debian's package creates.
        user = pwd.getpwnam("postgres")
        for path in (workdir, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(workdir / "pg.log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(server_url: str) -> str:
    """A fresh, empty database on the server; returns its URL."""
    import asyncio

    import asyncpg

    name = f"dockyard_{uuid.uuid4().hex[:12]}"
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"

    async def create() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{server_url}/{name}"


@contextlib.contextmanager
def s3_server(workdir: Path) -> Iterator[str]:
    """moto's server mode on a free loopback port; yields its endpoint URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    log = open(workdir / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"moto server did not start:\n{(workdir / 'moto.log').read_text()}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def create_bucket(endpoint_url: str) -> str:
    import boto3

    name = f"dockyard-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=name)
    return name


# One PostgreSQL server and one S3 server per test process, started on first use.
_shared: dict[str, str] = {}
_stack = contextlib.ExitStack()


def _shared_dir() -> Path:
    import atexit
    import tempfile

    if "dir" not in _shared:
        _shared["dir"] = tempfile.mkdtemp(prefix="dockyard-services-")
        atexit.register(_stack.close)
        atexit.register(shutil.rmtree, _shared["dir"], True)
    return Path(_shared["dir"])


def shared_postgres() -> str:
    if "pg" not in _shared:
        _shared["pg"] = _stack.enter_context(postgres_server(_shared_dir() / "pg"))
    return _shared["pg"]


def shared_s3() -> str:
    if "s3" not in _shared:
        _shared["s3"] = _stack.enter_context(s3_server(_shared_dir() / "s3"))
    return _shared["s3"]
