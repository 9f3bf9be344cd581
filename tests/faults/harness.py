"""The fault suite's harness: a Dockyard node that can be killed and restarted on the same data, a
pusher that records what the registry acknowledged (Jepsen style: an interrupted push is an
"info" operation, allowed to be present or absent, never half-present), and the consistency
check run after every fault.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.integration import clients
from tests.integration.clients import Registry

ROOT = Path(__file__).resolve().parents[2]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# The clock GC sees: two hours ahead, so the orphan sweep's one-hour floor has passed for all.
GC_ARGS = ("gc", "--grace-hours", "0", "--dev-clock-offset-seconds", "7200")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------ images
@dataclass
class Image:
    repo: str
    tag: str
    manifest: bytes
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return sha(self.manifest)


def layer_tar(rng: random.Random, size: int) -> bytes:
    """A real tar layer (the scanner analyses it), with `size` random bytes in one file."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = rng.randbytes(size)
        info = tarfile.TarInfo(f"data/{rng.getrandbits(32):08x}.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_image(
    rng: random.Random, repo: str, tag: str, layer_sizes: tuple[int, ...] = (3000, 70000)
) -> Image:
    layers = [layer_tar(rng, n) for n in layer_sizes]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
            "n": rng.getrandbits(64),
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha(b), "size": len(b)} for b in layers],
        }
    ).encode()
    return Image(repo, tag, manifest, {sha(b): b for b in (config, *layers)})


@dataclass
class Pusher:
    """Pushes images over /v2/, alternating monolithic and chunked uploads; remembers the last
    chunked session's URL, so a test can try to finish it after a crash."""

    client: httpx.Client
    last_session: str | None = None
    last_digest: str | None = None

    def push_blob(self, repo: str, data: bytes, chunked: bool) -> None:
        digest = sha(data)
        if not chunked:
            r = self.client.post(
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": digest},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            _expect(r, 201)
            return
        r = self.client.post(f"/v2/{repo}/blobs/uploads/")
        _expect(r, 202)
        location = self.last_session = r.headers["Location"]
        self.last_digest = digest
        half = len(data) // 2
        for start, part in ((0, data[:half]), (half, data[half:])):
            r = self.client.patch(
                location,
                content=part,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(part) - 1}",
                },
            )
            _expect(r, 202)
            location = self.last_session = r.headers["Location"]
        r = self.client.put(location, params={"digest": digest})
        _expect(r, 201)

    def push(self, image: Image) -> None:
        for i, data in enumerate(image.blobs.values()):
            self.push_blob(image.repo, data, chunked=i % 2 == 1)
        r = self.client.put(
            f"/v2/{image.repo}/manifests/{image.tag}",
            content=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        _expect(r, 201)


class PushFailed(AssertionError):
    pass


def _expect(r: httpx.Response, status: int) -> None:
    if r.status_code != status:
        raise PushFailed(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")


def verify_pull(reg: Registry, image: Image) -> int:
    """The image pulls back byte-identical by tag and digest; returns the objects verified."""
    with reg.http() as client:
        for ref in (image.tag, image.digest):
            r = client.get(f"/v2/{image.repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200, f"{image.repo}:{ref} lost: {r.status_code} {r.text[:200]}"
            assert r.content == image.manifest, f"{image.repo}:{ref} serves other bytes"
        for digest, data in image.blobs.items():
            r = client.get(f"/v2/{image.repo}/blobs/{digest}")
            assert r.status_code == 200, f"blob {digest} of {image.repo} lost: {r.status_code}"
            assert r.content == data, f"blob {digest} of {image.repo} corrupt"
    return 1 + len(image.blobs)


def absent_or_whole(reg: Registry, image: Image) -> bool:
    """An "info" push (outcome unknown): either absent, or complete. True when present."""
    with reg.http() as client:
        r = client.get(f"/v2/{image.repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST})
    if r.status_code == 404:
        return False
    assert r.status_code == 200, f"{image.repo}@{image.digest}: {r.status_code} {r.text[:200]}"
    verify_pull(reg, image)
    return True


# ------------------------------------------------------------------------------------ a node
@dataclass
class Node:
    """One Dockyard server's state (data dir, database, bucket), started and killed at will."""

    workdir: Path
    storage: dict[str, str] = field(default_factory=clients.backend_env)
    credentials: tuple[str, str] | None = None
    extra_args: tuple[str, ...] = ("--lifecycle-interval-minutes", "1440", "--gc-interval-hours", "1000")
    kills: int = 0

    @contextlib.contextmanager
    def serve(self, crash_at: str | None = None, env: dict[str, str] | None = None) -> Iterator[Registry]:
        """The server, with `DOCKYARD_CRASH_AT=crash_at` when given (it then may die mid-request)."""
        extra = {"DOCKYARD_CRASH_AT": crash_at} if crash_at else {}
        with clients.dockyard_server(
            self.workdir,
            extra_args=self.extra_args,
            storage={**self.storage, **extra, **(env or {})},
            credentials=self.credentials,
        ) as reg:
            reg.storage_env = dict(self.storage)  # CLI commands run beside it without the crash point
            if self.credentials is None:
                assert reg.access_key_id and reg.secret_access_key
                self.credentials = (reg.access_key_id, reg.secret_access_key)
            yield reg

    def cli(self, reg: Registry, *args: str, crash_at: str | None = None) -> clients.Result:
        """`dockyard ARGS` on this node's storage; with `crash_at`, it may die at that point."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(self.storage)
        if crash_at:
            env["DOCKYARD_CRASH_AT"] = crash_at
        return clients.run(
            [sys.executable, "-m", "dockyard", *args, "--data-dir", str(reg.data_dir)],
            env=env,
            check=False,
            timeout=180,
        )


def store_consistency(node: Node, reg: Registry) -> dict[str, Any]:
    """The store-level consistency report (tests/faults/store_check.py). Switch to `dockyard fsck`
    (exit code 0 = clean) when it lands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(node.storage)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    out = subprocess.run(
        [sys.executable, "-m", "tests.faults.store_check", str(reg.data_dir)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, f"store check failed:\n{out.stderr[-3000:]}"
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@dataclass
class Tally:
    """What a scenario did, for the report: kills, crash points reached, objects verified."""

    kills: int = 0
    points: set[str] = field(default_factory=set)
    verified: int = 0
    lost: int = 0
    orphans_after_gc: int = 0

    def report(self, name: str) -> None:
        """Print the counts, and append them to $FAULTS_REPORT when set (`./run faults` sums them)."""
        line = (
            f"FAULTS {clients.backend()} {name}: kills={self.kills} crash_points={len(self.points)} "
            f"objects_verified={self.verified} lost={self.lost} orphans_after_gc={self.orphans_after_gc}"
        )
        print(line)
        path = os.environ.get("FAULTS_REPORT")
        if path:
            with open(path, "a") as out:
                out.write(line + "\n")


def check_consistent(node: Node, reg: Registry, acked: list[Image], tally: Tally, *, after_gc: bool) -> None:
    """Consistent after the fault: every blob row's bytes exist and hash right, no manifest names
    a missing blob, every acknowledged push pulls back byte-identical; `after_gc`: no orphan."""
    report = store_consistency(node, reg)
    assert not report["bad_blobs"], f"blob rows without their bytes: {report['bad_blobs'][:5]}"
    assert not report["dangling_references"], f"manifests name missing blobs: {report['dangling_references']}"
    tally.verified += report["blobs"]
    for image in acked:
        try:
            tally.verified += verify_pull(reg, image)
        except AssertionError:
            tally.lost += 1
            raise
    if after_gc:
        tally.orphans_after_gc += len(report["orphans"])
        assert not report["orphans"], f"orphans left after GC: {report['orphans'][:5]}"


def wait_startup_lifecycle_scan(reg: Registry) -> None:
    """The scheduler runs each periodic task once at startup: let that lifecycle scan finish
    before a policy exists, so only the test's own `lifecycle run` expires images."""
    deadline = time.monotonic() + 60
    while not reg.sql("SELECT 1 FROM jobs WHERE kind = 'lifecycle-scan' AND status = 'done'"):
        assert time.monotonic() < deadline, f"the startup lifecycle scan did not finish\n{reg.log_tail()}"
        time.sleep(0.2)


def gc(node: Node, reg: Registry, crash_at: str | None = None) -> clients.Result:
    return node.cli(reg, *GC_ARGS, crash_at=crash_at)


def collect_and_check(node: Node, reg: Registry, acked: list[Image], tally: Tally) -> None:
    """One GC run, then the consistency check with no orphan allowed."""
    result = gc(node, reg)
    assert result.returncode == 0, result.describe()
    check_consistent(node, reg, acked, tally, after_gc=True)


def ecr(reg: Registry) -> Any:
    import boto3

    return boto3.client(
        "ecr",
        endpoint_url=reg.url,
        region_name="us-east-1",
        aws_access_key_id=reg.access_key_id,
        aws_secret_access_key=reg.secret_access_key,
    )
