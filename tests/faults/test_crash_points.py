"""SIGKILL at every named crash point (dockyard/faults.py), the SQLite way: fail at pass N for
N = 1, 2, 3 … until a run no longer reaches the point (or the depth is reached).

After each kill the server restarts on the same data; the consistency check must be clean, an
interrupted push ("info") must be absent or whole and succeed when retried, and every
acknowledged push must pull back byte-identical. At the end one GC leaves no orphan."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import httpx
import pytest

from dockyard import faults
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
    ecr,
    gc,
    make_image,
    verify_pull,
    wait_startup_lifecycle_scan,
)

SERVER_POINTS = ("blob.after_bytes_written", "blob.after_publish", "manifest.before_commit")
IMAGES_PER_RUN = 2
BOUNDED_DEPTH = 1
FULL_DEPTH = 8


def depths(bounded: int, full: int) -> list[object]:
    return [
        pytest.param(bounded, id="bounded"),
        pytest.param(full, id="full", marks=pytest.mark.faults_full),
    ]


def test_every_crash_point_is_driven() -> None:
    driven = {*SERVER_POINTS, "gc.after_tombstones", "lifecycle.in_batch", "scan.after_layer_analyzed"}
    assert driven == set(faults.POINTS)


def _push_until_killed(
    node: Node, crash_at: str, repo: str, images: list[Image], acked: list[Image]
) -> tuple[Image | None, Pusher, int]:
    """Push `images` on a server primed to die at `crash_at`; the image in flight when it died
    (None if it never did), the pusher (its last session), and the server's exit code."""
    with node.serve(crash_at=crash_at) as reg, reg.http() as client:
        if not acked:
            reg.create_repo(repo)
        pusher = Pusher(client)
        for image in images:
            try:
                pusher.push(image)
            except (httpx.TransportError, PushFailed) as e:
                if reg.process.poll() is None and isinstance(e, PushFailed):
                    raise  # an error from a live server is a bug, not the fault
                return image, pusher, reg.process.wait(30)
            acked.append(image)
        return None, pusher, 0


@pytest.mark.parametrize("point", SERVER_POINTS)
@pytest.mark.parametrize("depth", depths(BOUNDED_DEPTH, FULL_DEPTH))
def test_kill_during_push(tmp_path: Path, point: str, depth: int) -> None:
    rng = random.Random(f"{point}:{depth}")
    node, tally, acked, repo = Node(tmp_path), Tally(), list[Image](), "faults/push"
    for n in range(1, depth + 1):
        images = [make_image(rng, repo, f"t{n}-{i}") for i in range(IMAGES_PER_RUN)]
        info, pusher, code = _push_until_killed(node, f"{point}:{n}", repo, images, acked)
        if info is None:
            break  # the point is not passed n times by these pushes: the sweep is complete
        assert code == -signal.SIGKILL, f"the server exited with {code}, not by the crash point"
        tally.kills += 1
        tally.points.add(point)
        with node.serve() as reg, reg.http() as client:
            if pusher.last_session:  # finishing the interrupted session: done or "start again", never 5xx
                r = client.put(pusher.last_session, params={"digest": pusher.last_digest})
                assert r.status_code < 500, f"{r.status_code} {r.text[:300]}\n{reg.log_tail()}"
            absent_or_whole(reg, info)
            Pusher(client).push(info)  # the client retries
            acked.append(info)
            check_consistent(node, reg, acked, tally, after_gc=False)
            collect_and_check(node, reg, acked, tally)
    assert tally.kills >= 1, f"{point} was never reached"
    tally.report(f"push/{point}")


@pytest.mark.parametrize("depth", depths(1, 3))
def test_kill_during_gc(tmp_path: Path, depth: int) -> None:
    rng = random.Random(f"gc:{depth}")
    node, tally, acked = Node(tmp_path), Tally(), list[Image]()
    with node.serve() as reg, reg.http() as client:
        repo = reg.create_repo("faults/gc")
        for n in range(1, depth + 1):
            keep, drop = make_image(rng, repo, f"keep{n}"), make_image(rng, repo, f"drop{n}")
            Pusher(client).push(keep)
            Pusher(client).push(drop)
            acked.append(keep)
            r = client.delete(f"/v2/{repo}/manifests/{drop.digest}")
            assert r.status_code == 202, r.text
            result = gc(node, reg, crash_at="gc.after_tombstones")
            assert result.returncode == -signal.SIGKILL, result.describe()
            tally.kills += 1
            tally.points.add("gc.after_tombstones")
            check_consistent(node, reg, acked, tally, after_gc=False)
            collect_and_check(node, reg, acked, tally)
            gone = client.get(f"/v2/{repo}/manifests/{drop.digest}", headers={"Accept": OCI_MANIFEST})
            assert gone.status_code == 404
    tally.report("gc")


@pytest.mark.parametrize("depth", depths(1, 3))
def test_kill_during_lifecycle_run(tmp_path: Path, depth: int) -> None:
    rng = random.Random(f"lifecycle:{depth}")
    node, tally, acked = Node(tmp_path), Tally(), list[Image]()
    with node.serve() as reg, reg.http() as client:
        repo = reg.create_repo("faults/lifecycle")
        wait_startup_lifecycle_scan(reg)
        rule = {
            "rulePriority": 1,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"},
        }
        ecr(reg).put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=json.dumps({"rules": [rule]}))
        for n in range(1, depth + 1):
            images = [make_image(rng, repo, f"r{n}-{i}", (500, 900)) for i in range(3)]
            for image in images:
                Pusher(client).push(image)
            result = node.cli(reg, "lifecycle", "run", repo, crash_at="lifecycle.in_batch")
            assert result.returncode == -signal.SIGKILL, result.describe()
            tally.kills += 1
            tally.points.add("lifecycle.in_batch")
            # The batch's transaction died with the process: every image is still whole.
            check_consistent(node, reg, [*acked, *images], tally, after_gc=False)
            result = node.cli(reg, "lifecycle", "run", repo)
            assert result.returncode == 0, result.describe()
            expired = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("EXPIRED")}
            assert images[-1].digest not in expired
            acked = [i for i in [*acked, *images] if i.digest not in expired]
            assert len([i for i in acked if i.repo == repo]) == 1
            check_consistent(node, reg, acked, tally, after_gc=False)
        collect_and_check(node, reg, acked, tally)
    tally.report("lifecycle")


@pytest.mark.parametrize("depth", depths(1, 3))
def test_kill_during_scan(tmp_path: Path, depth: int) -> None:
    rng = random.Random(f"scan:{depth}")
    node, tally, acked = Node(tmp_path), Tally(), list[Image]()
    with node.serve() as reg, reg.http() as client:
        repo = reg.create_repo("faults/scan")
        for n in range(1, depth + 1):
            image = make_image(rng, repo, f"s{n}")
            Pusher(client).push(image)
            acked.append(image)
            result = node.cli(reg, "scan", f"{repo}:{image.tag}", crash_at="scan.after_layer_analyzed")
            assert result.returncode == -signal.SIGKILL, result.describe()
            tally.kills += 1
            tally.points.add("scan.after_layer_analyzed")
            check_consistent(node, reg, acked, tally, after_gc=False)
            result = node.cli(reg, "scan", f"{repo}:{image.tag}", "--json")
            assert result.returncode == 0, result.describe()
            verify_pull(reg, image)
        collect_and_check(node, reg, acked, tally)
    tally.report("scan")
