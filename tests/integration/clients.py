"""Helpers for the integration tests: the server process and wrappers around real clients.

Every wrapper keeps its state (credentials, storage, configuration) in private
directories, runs its subprocesses with timeouts and puts their full output in
assertion messages.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ALL_MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

DEFAULT_TIMEOUT = 180.0


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


# --------------------------------------------------------------------------- subprocesses


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""

    def describe(self) -> str:
        return (
            f"command: {' '.join(self.args)}\n"
            f"exit code: {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-8000:]}\n"
            f"--- stderr ---\n{self.stderr[-8000:]}"
        )

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"output is not JSON ({exc})\n{self.describe()}") from None


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Result:
    """Run a command; with check=True a non-zero exit fails with the command's whole output."""
    argv = [os.fspath(a) for a in args]
    try:
        proc = subprocess.run(
            argv,
            env=dict(env) if env is not None else None,
            capture_output=True,
            timeout=timeout,
            input=input.encode() if input is not None else None,
            stdin=None if input is not None else subprocess.DEVNULL,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        raise AssertionError(
            f"timed out after {timeout}s: {' '.join(argv)}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
        ) from None
    result = Result(
        argv,
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        proc.stdout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"command failed\n{result.describe()}")
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reserve_port() -> socket.socket:
    """A loopback port kept bound (not listening) with SO_REUSEPORT while a server uses it.

    The server (granian) binds with SO_REUSEPORT, so a second server that happened to pick the
    same port would silently share it and answer half the requests. Holding the port bound keeps
    other processes' port-0 binds (and plain binds) off it; the reservation takes no connections.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


# --------------------------------------------------------------------------- the server


@dataclass
class Registry:
    """A running Dockyard server, as the tests see it.

    ``username``/``password`` are None while the server has no authentication; when
    they are set, ``login(tool)`` logs a client in and ``http()`` sends Basic auth.
    """

    url: str
    host: str
    port: int
    data_dir: Path
    log_path: Path
    username: str | None = None
    password: str | None = None
    create_on_push: bool = False
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # Where the server keeps its state, as DOCKYARD_* variables for CLI commands run beside it.
    storage_env: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    process: Any = None  # the server's Popen (its own process group)
    ca_file: Path | None = None  # the CA a TLS server's certificate is checked against
    region: str = "us-east-1"  # the server's --region: requests signed for another are refused

    @property
    def verify(self) -> str | bool:
        """boto3's ``verify``: the server's CA when it serves TLS."""
        return str(self.ca_file) if self.ca_file else True

    @property
    def ssl_context(self) -> ssl.SSLContext | bool:
        """httpx's ``verify``: trusting the server's CA when it serves TLS."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True

    @property
    def localhost(self) -> str:
        """``localhost:PORT``: the name the docker CLI (through podman's service) must use."""
        return f"localhost:{self.port}"

    @property
    def has_credentials(self) -> bool:
        return self.username is not None and self.password is not None

    def create_repo(self, name: str) -> str:
        """CreateRepository through the ECR API (a CLI process per repository costs seconds)."""
        import boto3

        if self.access_key_id is None:
            self.cli("repo", "create", name)
            return name
        boto3.client(
            "ecr",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            verify=self.verify,
        ).create_repository(repositoryName=name)
        return name

    def cli(self, *args: str, check: bool = True) -> Result:
        """`dockyard ARGS` against this server's storage (its data dir, database and blob store)."""
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}, **self.storage_env}
        return run(
            [sys.executable, "-m", "dockyard", *args, "--data-dir", self.data_dir],
            env=env,
            check=check,
            timeout=120,
        )

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only SQL query on the server's metadata database, whichever it is."""
        if self.database_url is None:
            import sqlite3

            with sqlite3.connect(self.data_dir / "dockyard.db") as db:
                return [tuple(r) for r in db.execute(query).fetchall()]
        import asyncio

        import asyncpg

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(
                str(self.database_url).replace("postgresql+asyncpg://", "postgresql://")
            )
            try:
                return [tuple(r) for r in await conn.fetch(query)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def login(self, tool: Any) -> None:
        """Log ``tool`` (a wrapper from this module with a ``login(registry)`` method) in."""
        if not self.has_credentials:
            return
        tool.login(self)

    def http(self, **kwargs: Any) -> httpx.Client:
        auth = (self.username, self.password) if self.has_credentials else None
        return httpx.Client(
            base_url=self.url,
            auth=auth,  # type: ignore[arg-type]
            timeout=60,
            trust_env=False,  # never send loopback requests through a proxy from the environment
            verify=self.ssl_context,
            **kwargs,
        )

    def manifest(
        self, repo: str, reference: str, accept: Sequence[str] = ALL_MANIFEST_TYPES
    ) -> httpx.Response:
        with self.http() as client:
            return client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ", ".join(accept)})

    def manifest_digest(self, repo: str, reference: str) -> str:
        """GET the manifest and return its digest, checked against the bytes served."""
        r = self.manifest(repo, reference)
        assert r.status_code == 200, f"GET /v2/{repo}/manifests/{reference}: {r.status_code} {r.text}"
        digest = sha256_digest(r.content)
        header = r.headers.get("Docker-Content-Digest")
        assert header in (None, digest), f"Docker-Content-Digest {header} but body hashes to {digest}"
        return digest

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


@contextlib.contextmanager
def dockyard_server(
    workdir: Path,
    *,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 45.0,
    attempts: int = 3,
    storage: dict[str, str] | None = None,
    credentials: tuple[str, str] | None = None,
    tls_dir: Path | None = None,
    data_dir: Path | None = None,
) -> Iterator[Registry]:
    """Start ``python -m dockyard serve`` on a free loopback port and stop it afterwards.

    The data dir and the log file live in ``workdir`` and are kept. A start that
    loses the port to another process is retried on a new port. `storage` (DOCKYARD_*
    variables) shares another server's database and blob store (a second node); then
    `credentials` are that cluster's access key, since only a first start prints one.
    The server runs in a process group of its own (`registry.process`), so a test can
    kill the whole node. `tls_dir` (made by `dockyard tls init`) serves HTTPS with its server
    certificate; clients then check it against its ``ca.crt`` (``registry.ca_file``). `data_dir`
    shares another server's data directory (a second node on SQLite and the filesystem).
    """
    data_dir = data_dir or workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        reservation = reserve_port()
        port = int(reservation.getsockname()[1])
        log_path = workdir / f"server-{attempt}.log"
        cmd = [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *extra_args,
        ]
        if tls_dir is not None:
            cmd += [
                "--tls-cert",
                str(tls_dir / "server-cert.pem"),
                "--tls-key",
                str(tls_dir / "server-key.pem"),
            ]
        storage_env = dict(storage) if storage is not None else backend_env()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}, **storage_env}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        registry = Registry(
            url=f"{'https' if tls_dir else 'http'}://127.0.0.1:{port}",
            host=f"127.0.0.1:{port}",
            port=port,
            data_dir=data_dir,
            log_path=log_path,
            create_on_push="--create-on-push" in extra_args,
            storage_env=storage_env,
            database_url=storage_env.get("DOCKYARD_DATABASE"),
            process=proc,
            ca_file=tls_dir / "ca.crt" if tls_dir else None,
            region=_option_value(extra_args, "--region") or "us-east-1",
        )
        try:
            error = _wait_healthy(proc, registry, startup_timeout)
            if error is None:
                if credentials is not None:
                    registry.access_key_id, registry.secret_access_key = credentials
                registry.username, registry.password = server_credentials(registry)
                yield registry
                return
            failures.append(
                f"attempt {attempt}: {' '.join(cmd)}\n{error}\n--- server log ---\n{registry.log_tail()}"
            )
            address_in_use = "already in use" in registry.log_tail().lower()
            if not address_in_use:
                break
        finally:
            stop_process(proc)
            reservation.close()
    raise AssertionError("the Dockyard server did not become healthy\n" + "\n\n".join(failures))


def _option_value(args: Sequence[str], option: str) -> str | None:
    """The value of ``option`` in a command line (``--opt VALUE`` or ``--opt=VALUE``), else None."""
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def backend() -> str:
    """The storage the test servers run on: `sqlite` (SQLite + filesystem, the default) or
    `postgres-s3` (PostgreSQL + an S3 server), from DOCKYARD_TEST_BACKEND."""
    return os.environ.get("DOCKYARD_TEST_BACKEND", "sqlite")


def backend_env() -> dict[str, str]:
    """DOCKYARD_* settings giving one new server its own database and bucket on the backend."""
    if backend() == "sqlite":
        return {}
    if backend() != "postgres-s3":
        raise AssertionError(f"unknown DOCKYARD_TEST_BACKEND {backend()!r}: use sqlite or postgres-s3")
    from tests import services

    pg, s3 = services.shared_postgres(), services.shared_s3()
    bucket = services.create_bucket(s3)
    return {
        "DOCKYARD_DATABASE": services.create_database(pg),
        "DOCKYARD_BLOB_STORE": f"s3://{bucket}?endpoint_url={s3}&region=us-east-1",
        "DOCKYARD_S3_ACCESS_KEY_ID": "test",
        "DOCKYARD_S3_SECRET_ACCESS_KEY": "test",
    }


def server_credentials(registry: Registry) -> tuple[str | None, str | None]:
    """The (username, password) clients log in with; (None, None) while the server has no auth.

    This is the one place to fill in when authentication lands (ECR style: user ``AWS`` and a
    token from GetAuthorizationToken); every fixture and client wrapper takes them from here.
    The server prints its first access key once, on its first start; the tests read it from
    the log and ask for a token the way `aws ecr get-login-password` does.
    """
    import base64
    import re

    import boto3

    if registry.access_key_id is None:
        log = registry.log_path.read_text()
        key = re.search(r"^AWS_ACCESS_KEY_ID=(\S+)$", log, re.M)
        secret = re.search(r"^AWS_SECRET_ACCESS_KEY=(\S+)$", log, re.M)
        assert key and secret, f"the server did not print its first access key:\n{log[-2000:]}"
        registry.access_key_id, registry.secret_access_key = key.group(1), secret.group(1)
    ecr = boto3.client(
        "ecr",
        endpoint_url=registry.url,
        region_name=registry.region,
        aws_access_key_id=registry.access_key_id,
        aws_secret_access_key=registry.secret_access_key,
        verify=registry.verify,
    )
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def _wait_healthy(proc: subprocess.Popen[bytes], registry: Registry, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return f"server exited with code {code} before /healthz answered"
        try:
            r = httpx.get(f"{registry.url}/healthz", timeout=2, trust_env=False, verify=registry.ssl_context)
            if r.status_code == 200:
                return None
            last = f"/healthz answered {r.status_code}: {r.text[:500]}"
        except httpx.HTTPError as exc:
            last = f"/healthz: {exc!r}"
        time.sleep(0.2)
    return f"/healthz not 200 after {timeout}s (last: {last})"


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


# --------------------------------------------------------------------------- skopeo

POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


class Skopeo:
    """skopeo with a private auth file and signature policy; TLS verification off (plain HTTP)."""

    def __init__(self, workdir: Path, binary: str = "skopeo") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.auth_file = workdir / "auth.json"
        self.auth_file.write_text("{}")
        self.policy = workdir / "policy.json"
        self.policy.write_text(json.dumps(POLICY))
        self.env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.auth_file)}

    def run(
        self,
        *args: str | os.PathLike[str],
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        arch: str | None = None,
    ) -> Result:
        """``skopeo [--override-os linux --override-arch ARCH] ARGS``."""
        platform = ["--override-os", "linux", "--override-arch", arch] if arch else []
        argv = [self.binary, "--policy", self.policy, *platform, *args]
        return run(argv, env=self.env, check=check, timeout=timeout)

    def copy(self, src: str, dst: str, *flags: str, check: bool = True, arch: str | None = None) -> Result:
        return self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *flags,
            src,
            dst,
            check=check,
            arch=arch,
        )

    def inspect_raw(self, ref: str) -> bytes:
        # --raw prints the manifest exactly as served (no trailing newline added).
        return self.run("inspect", "--raw", "--tls-verify=false", ref).stdout_bytes

    def list_tags(self, ref: str) -> list[str]:
        data = self.run("list-tags", "--tls-verify=false", ref).json()
        return list(data.get("Tags") or [])

    def login(self, registry: Registry) -> None:
        run(
            [
                self.binary,
                "login",
                "--tls-verify=false",
                "--authfile",
                self.auth_file,
                "-u",
                str(registry.username),
                "--password-stdin",
                registry.host,
            ],
            env=self.env,
            input=str(registry.password),
        )


# --------------------------------------------------------------------------- podman

CONTAINERS_CONF = """\
[engine]
events_logger = "none"
cgroup_manager = "cgroupfs"
"""


def registries_conf(hosts: Sequence[str]) -> str:
    lines = ["unqualified-search-registries = []", ""]
    for host in hosts:
        lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
    return "\n".join(lines)


class Podman:
    """podman with private storage (vfs), auth file, containers.conf and registries.conf."""

    def __init__(
        self,
        workdir: Path,
        insecure_hosts: Sequence[str] = (),
        binary: str = "podman",
        runroot: Path | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.workdir = workdir
        self.root = workdir / "root"
        # podman refuses a runroot longer than 50 characters (pytest's tmp paths are longer).
        self._own_runroot = runroot is None
        self.runroot = runroot or Path(tempfile.mkdtemp(prefix="dy-podman-", dir="/tmp"))
        self.tmpdir = workdir / "tmp"
        for d in (self.root, self.runroot, self.tmpdir):
            d.mkdir(exist_ok=True)
        self.auth_file = workdir / "auth.json"
        self.auth_file.write_text("{}")
        (workdir / "containers.conf").write_text(CONTAINERS_CONF)
        (workdir / "registries.conf").write_text(registries_conf(insecure_hosts))
        (workdir / "policy.json").write_text(json.dumps(POLICY))
        self.env = {
            **os.environ,
            "REGISTRY_AUTH_FILE": str(self.auth_file),
            "CONTAINERS_CONF": str(workdir / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(workdir / "registries.conf"),
            "TMPDIR": str(self.tmpdir),
        }

    @property
    def global_flags(self) -> list[str]:
        return [
            "--storage-driver",
            "vfs",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(self.tmpdir / "libpod"),
        ]

    def run(
        self, *args: str | os.PathLike[str], check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> Result:
        return run([self.binary, *self.global_flags, *args], env=self.env, check=check, timeout=timeout)

    def close(self) -> None:
        if self._own_runroot:
            shutil.rmtree(self.runroot, ignore_errors=True)

    def inspect(self, ref: str) -> dict[str, Any]:
        data = self.run("image", "inspect", ref).json()
        assert isinstance(data, list) and len(data) == 1, f"unexpected inspect output: {data!r}"
        return dict(data[0])

    def exists(self, ref: str) -> bool:
        return self.run("image", "exists", ref, check=False).returncode == 0

    def login(self, registry: Registry) -> None:
        run(
            [
                self.binary,
                *self.global_flags,
                "login",
                "--tls-verify=false",
                "--authfile",
                self.auth_file,
                "-u",
                str(registry.username),
                "--password-stdin",
                registry.host,
            ],
            env=self.env,
            input=str(registry.password),
        )


# --------------------------------------------------------------------------- docker CLI


class DockerCLI:
    """The docker CLI talking to ``podman system service`` (there is no Docker engine here).

    The service gets private storage and a private registries.conf marking the
    registry insecure (plain HTTP); the CLI gets a private DOCKER_CONFIG. Through
    the podman service, log in and push as ``localhost:PORT``.
    """

    def __init__(
        self,
        workdir: Path,
        insecure_hosts: Sequence[str] = (),
        docker: str = "docker",
        podman: str = "podman",
    ) -> None:
        self.docker = docker
        # podman refuses a runroot longer than 50 characters, and a unix socket path is
        # limited to about 100: both go into a short directory under /tmp.
        self.short_dir = Path(tempfile.mkdtemp(prefix="dy-docker-", dir="/tmp"))
        self.podman = Podman(
            workdir / "podman", insecure_hosts=insecure_hosts, binary=podman, runroot=self.short_dir / "run"
        )
        self.socket = self.short_dir / "podman.sock"
        self.config_dir = workdir / "docker-config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "config.json").write_text("{}")
        self.service_log = workdir / "podman-service.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.config_dir),
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CLI_HINTS": "false",
        }
        self.env.pop("DOCKER_CONTEXT", None)
        self.env.pop("DOCKER_TLS_VERIFY", None)
        self.env.pop("DOCKER_CERT_PATH", None)

    def start(self, timeout: float = 60.0) -> None:
        cmd = [
            self.podman.binary,
            *self.podman.global_flags,
            "system",
            "service",
            "--time=0",
            f"unix://{self.socket}",
        ]
        with self.service_log.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.podman.env
            )
        deadline = time.monotonic() + timeout
        last: Result | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.socket.exists():
                last = self.run("version", check=False, timeout=30)
                if last.returncode == 0:
                    return
            time.sleep(0.3)
        detail = last.describe() if last else "(socket never appeared)"
        log = self.service_log.read_text(errors="replace")[-4000:]
        self.stop()
        raise AssertionError(
            f"podman system service did not come up: {' '.join(cmd)}\n{detail}\n--- service log ---\n{log}"
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        shutil.rmtree(self.short_dir, ignore_errors=True)

    def run(
        self, *args: str | os.PathLike[str], check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> Result:
        return run([self.docker, *args], env=self.env, check=check, timeout=timeout)

    def inspect(self, ref: str) -> dict[str, Any]:
        data = self.run("image", "inspect", ref).json()
        assert isinstance(data, list) and len(data) == 1, f"unexpected inspect output: {data!r}"
        return dict(data[0])

    def login(self, registry: Registry) -> None:
        run(
            [self.docker, "login", "-u", str(registry.username), "--password-stdin", registry.localhost],
            env=self.env,
            input=str(registry.password),
        )


# --------------------------------------------------------------------------- oras


def oras_client(registry: Registry, artifact_type: str | None = None) -> Any:
    """An ORAS SDK client for ``registry`` (plain HTTP), logged in when it has credentials.

    The SDK's ``push`` cannot set a manifest's ``artifactType``; the returned client
    adds ``artifact_type`` (an attribute that may be changed between pushes) to every
    manifest it uploads.
    """
    import oras.provider

    class ArtifactTypeRegistry(oras.provider.Registry):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.artifact_type: str | None = None

        def upload_manifest(self, manifest: dict[str, Any], container: Any) -> Any:
            if self.artifact_type:
                manifest = {**manifest, "artifactType": self.artifact_type}
            return super().upload_manifest(manifest, container)

    client = ArtifactTypeRegistry(
        hostname=registry.host,
        insecure=True,
        auth_backend="basic" if registry.has_credentials else "token",
    )
    client.artifact_type = artifact_type
    client.session.trust_env = False  # loopback: no proxy from the environment
    if registry.has_credentials:
        client.auth.set_basic_auth(registry.username, registry.password)
    return client


# --------------------------------------------------------------------------- OCI layouts


def _tar_gz(files: Mapping[str, bytes]) -> tuple[bytes, bytes]:
    """A reproducible tar of ``files`` and its gzip; returns (gzip bytes, tar bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=6, mtime=0), raw


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Blob:
    media_type: str
    data: bytes
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = sha256_digest(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data), **extra}


@dataclass
class PlatformImage:
    os: str
    architecture: str
    manifest: Blob
    config: Blob
    layers: list[Blob]


@dataclass
class OCILayout:
    path: Path
    tag: str
    index: Blob
    images: list[PlatformImage]

    @property
    def blobs(self) -> dict[str, bytes]:
        out = {self.index.digest: self.index.data}
        for img in self.images:
            for b in (img.manifest, img.config, *img.layers):
                out[b.digest] = b.data
        return out


def build_oci_layout(
    path: Path,
    *,
    tag: str = "v1",
    platforms: Sequence[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
    nonce: str = "",
) -> OCILayout:
    """Write a multi-platform OCI image layout: an index of one image per platform.

    Each image has a config and one real gzip'd tar layer; ``nonce`` goes into the
    files so that different tests push different blobs.
    """
    images: list[PlatformImage] = []
    for os_name, arch in platforms:
        files = {
            "etc/dockyard-test": f"{os_name}/{arch} {nonce}\n".encode(),
            "hello.txt": f"hello from {arch}\n".encode(),
        }
        gz, raw = _tar_gz(files)
        layer = Blob(OCI_LAYER_GZIP, gz)
        config = Blob(
            OCI_CONFIG,
            _canonical(
                {
                    "architecture": arch,
                    "os": os_name,
                    "created": "2024-01-01T00:00:00Z",
                    "config": {"Env": ["PATH=/"], "Labels": {"dockyard.test": nonce or "x"}},
                    "rootfs": {"type": "layers", "diff_ids": [sha256_digest(raw)]},
                    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "dockyard tests"}],
                }
            ),
        )
        manifest = Blob(
            OCI_MANIFEST,
            _canonical(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": config.descriptor(),
                    "layers": [layer.descriptor()],
                }
            ),
        )
        images.append(PlatformImage(os_name, arch, manifest, config, [layer]))
    index = Blob(
        OCI_INDEX,
        _canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    img.manifest.descriptor(platform={"architecture": img.architecture, "os": img.os})
                    for img in images
                ],
            }
        ),
    )
    layout = OCILayout(path, tag, index, images)
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for digest, data in layout.blobs.items():
        (blob_dir / digest.removeprefix("sha256:")).write_bytes(data)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (path / "index.json").write_bytes(
        _canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [index.descriptor(annotations={"org.opencontainers.image.ref.name": tag})],
            }
        )
    )
    return layout


def read_layout_blobs(path: Path) -> dict[str, bytes]:
    """All blobs of an OCI layout dir, keyed by digest; each checked against its name."""
    out: dict[str, bytes] = {}
    for f in sorted((path / "blobs" / "sha256").iterdir()):
        data = f.read_bytes()
        digest = sha256_digest(data)
        assert digest == f"sha256:{f.name}", f"blob {f} hashes to {digest}"
        out[digest] = data
    return out


def layout_ref(path: Path, name: str) -> dict[str, Any]:
    """The descriptor that ``index.json`` of the layout at ``path`` gives for ref name ``name``."""
    index = json.loads((path / "index.json").read_text())
    for desc in index.get("manifests", []):
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
            return dict(desc)
    raise AssertionError(f"no ref {name!r} in {path}/index.json: {index}")


def which(name: str) -> str | None:
    return shutil.which(name)


def require_tool(name: str) -> str:
    """The path of ``name``; skips the test when it is absent, fails under CI."""
    path = which(name)
    if path:
        return path
    message = f"{name!r} is not installed (not found on PATH)"
    if env_flag("CI"):
        pytest.fail(f"{message}; CI is set, so every client the integration tests drive must be present")
    pytest.skip(message)


def write_scratch_context(path: Path, files: Mapping[str, bytes], dockerfile: str = "Containerfile") -> Path:
    """A build context with a ``FROM scratch`` + ``COPY`` file (no RUN: no container runtime here)."""
    path.mkdir(parents=True, exist_ok=True)
    lines = ["FROM scratch"]
    for name, data in files.items():
        (path / name).write_bytes(data)
        lines.append(f"COPY {name} /{name}")
    lines.append('LABEL org.opencontainers.image.title="dockyard integration test"')
    (path / dockerfile).write_text("\n".join(lines) + "\n")
    return path
