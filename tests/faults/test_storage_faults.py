"""Storage that fails under a running server: a full disk under the blob store (a small tmpfs),
and an S3 server answering 500/503 or stalling for a fraction of requests (a fault proxy).

Pushes fail cleanly (an error answer with the door's envelope, never a hang) or succeed through
retries; nothing is ever half-visible; every acknowledged push pulls back byte-identical; once
space returns (or S3 heals) pushes succeed without a restart; one GC leaves no orphan."""

from __future__ import annotations

import contextlib
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.faults.fault_proxy import FaultProxy
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
    gc,
    make_image,
)
from tests.integration import clients


def depths(bounded: int, full: int) -> list[object]:
    return [
        pytest.param(bounded, id="bounded"),
        pytest.param(full, id="full", marks=pytest.mark.faults_full),
    ]


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (root only); skips the test where mounting is not permitted,
    except under CI, where it fails."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs for the full-disk test (needs root): {done.stderr.strip()}"
        if services.in_ci():
            pytest.fail(f"{reason}; CI is set, so the full-disk test must run")
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize("depth", depths(1, 3))
def test_full_blob_store(tmp_path: Path, depth: int) -> None:
    rng = random.Random(f"enospc:{depth}")
    tally = Tally()
    with tmpfs(tmp_path / "blobs", "6m") as blobs:
        storage = {k: v for k, v in clients.backend_env().items() if k == "DOCKYARD_DATABASE"}
        # No free-space floor: this drives the store into ENOSPC itself (the floor has its own
        # test, tests/integration/test_disk_full.py).
        node = Node(
            tmp_path / "node",
            storage={**storage, "DOCKYARD_BLOB_STORE": f"file:{blobs}"},
            extra_args=(*Node.extra_args, "--min-free-mib", "0"),
        )
        acked: list[Image] = []
        with node.serve() as reg, reg.http() as client:
            repo = reg.create_repo("faults/full")
            pusher = Pusher(client)
            for round_ in range(depth):
                refused: Image | None = None
                for i in range(12):  # 1.4 MiB an image: the 6 MiB disk fills within a few
                    image = make_image(rng, repo, f"r{round_}-{i}", (700_000, 700_000))
                    try:
                        pusher.push(image)
                    except PushFailed as e:
                        assert " 503 " in str(e), f"a full disk must answer 503 UNAVAILABLE: {e}"
                        refused = image
                        break
                    acked.append(image)
                assert refused is not None, "the disk never filled"
                tally.points.add("ENOSPC")
                absent_or_whole(reg, refused)
                check_consistent(node, reg, acked, tally, after_gc=False)
                # Space returns: delete all but the newest acknowledged image, collect, push again.
                for image in acked[:-1]:
                    r = client.delete(f"/v2/{repo}/manifests/{image.digest}")
                    assert r.status_code == 202, r.text
                    gone = client.get(
                        f"/v2/{repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
                    )
                    assert gone.status_code == 404
                acked = acked[-1:]
                result = gc(node, reg)
                assert result.returncode == 0, result.describe()
                pusher.push(refused)  # no restart needed
                acked.append(refused)
                check_consistent(node, reg, acked, tally, after_gc=False)
            collect_and_check(node, reg, acked, tally)
    tally.report("enospc")


@pytest.mark.parametrize("depth", depths(4, 20))
def test_s3_errors_and_stalls(tmp_path: Path, depth: int) -> None:
    rng = random.Random(f"s3:{depth}")
    tally = Tally()
    s3 = services.shared_s3()
    bucket = services.create_bucket(s3)
    proxy = FaultProxy(s3, seed=depth)
    with proxy.running():
        storage = {k: v for k, v in clients.backend_env().items() if k == "DOCKYARD_DATABASE"}
        storage.update(
            {
                "DOCKYARD_BLOB_STORE": f"s3://{bucket}?endpoint_url={proxy.url}&region=us-east-1",
                "DOCKYARD_S3_ACCESS_KEY_ID": "test",
                "DOCKYARD_S3_SECRET_ACCESS_KEY": "test",
            }
        )
        node = Node(tmp_path, storage=storage)
        acked: list[Image] = []
        failures = 0
        with node.serve() as reg, reg.http() as client:
            repo = reg.create_repo("faults/s3")
            proxy.error_rate, proxy.stall_rate = 0.2, 0.05
            for i in range(depth):
                image = make_image(rng, repo, f"s{i}")
                for _attempt in range(4):
                    try:
                        Pusher(client).push(image)
                        acked.append(image)
                        break
                    except PushFailed as e:  # a clean failure: an error answer; the client retries
                        failures += 1
                        assert any(f" {s} " in str(e) for s in (500, 502, 503, 404, 400)), str(e)
                        assert reg.process.poll() is None
                else:
                    raise AssertionError(f"{image.tag} never pushed through the failing S3")
            proxy.error_rate = proxy.stall_rate = 0.0
            tally.points.add("s3")
            check_consistent(node, reg, acked, tally, after_gc=False)
            collect_and_check(node, reg, acked, tally)
    print(f"fault proxy: {proxy.counts}, failed pushes retried: {failures}")
    tally.report(f"s3 (proxy {proxy.counts['errors']} errors, {proxy.counts['stalls']} stalls)")
