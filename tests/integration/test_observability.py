"""Logs and metrics of a real server with two worker processes (one server start).

`/metrics` must add up every worker's counts whichever worker answers the scrape, label them by
operation (never by repository), and show the registry gauges; `--json-logs` must make every log
line, Dockyard's and Granian's, one JSON object with the request fields.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.clients import Registry, Skopeo, build_oci_layout, dockyard_server, require_tool
from tests.integration.ecrtools import ecr_client

pytestmark = pytest.mark.integration

ECR_CALLS = 8


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prometheus")
    (path / "counter_999999.db").write_bytes(b"stale: from an earlier run")
    return path


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, metrics_dir: Path) -> Iterator[Registry]:
    old = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        with dockyard_server(
            tmp_path_factory.mktemp("observability"), extra_args=["--workers", "2", "--json-logs"]
        ) as reg:
            yield reg
    finally:
        if old is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = old


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_and_logs_cover_every_worker(
    two_workers: Registry, metrics_dir: Path, tmp_path: Path
) -> None:
    registry = two_workers
    assert not (metrics_dir / "counter_999999.db").exists(), "a given directory is emptied at start"
    name = f"metrics/{uuid.uuid4().hex[:8]}"
    registry.create_repo(name)
    skopeo = Skopeo(tmp_path / "skopeo", binary=require_tool("skopeo"))
    registry.login(skopeo)
    layout = build_oci_layout(tmp_path / "layout", nonce=uuid.uuid4().hex)
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://{registry.host}/{name}:v1", "--all", "--preserve-digests")
    for _ in range(ECR_CALLS):  # a new client (connection) each time: the calls spread over workers
        ecr_client(registry).describe_repositories(repositoryNames=[name])

    # Every scrape, whichever worker takes it, reports the sums over both.
    for _ in range(4):
        text = httpx.get(f"{registry.url}/metrics", timeout=30, trust_env=False).text
        got = samples(text)
        describe = 'dockyard_http_requests_total{door="ecr",operation="DescribeRepositories",status="200"}'
        assert got.get(describe) == ECR_CALLS, text
        puts = 'dockyard_http_requests_total{door="oci",operation="manifest_put",status="201"}'
        assert got.get(puts) == 3, text  # the index and its two images
        assert any(k.startswith('dockyard_http_requests_total{door="oci",operation="upload_') for k in got)
        assert name not in text and "metrics/" not in text
        assert got["dockyard_images"] == 3 and got["dockyard_repositories"] == 1, text
        assert got["dockyard_storage_bytes"] > 0 and got["dockyard_blobs"] == 4, text
        assert 'dockyard_jobs{status="queued"}' in got and "dockyard_job_queue_oldest_seconds" in got
    pids = {int(m.group(1)) for f in metrics_dir.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))}
    assert len(pids) >= 2, sorted(f.name for f in metrics_dir.iterdir())

    # --json-logs: every log line is JSON, Granian's and Dockyard's, with one access line per request.
    lines = registry.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    plain = [line for line in lines if line.strip() and not line.startswith("{")]
    assert all(not re.match(r"^\[?(INFO|WARNING|ERROR)", line) for line in plain), plain
    assert any(e["logger"].startswith("_granian") for e in entries), lines[:20]
    access = [e for e in entries if e["logger"] == "dockyard.access"]
    ecr = [e for e in access if e.get("action") == "DescribeRepositories"]
    assert len(ecr) == ECR_CALLS
    assert "repository" not in ecr[0]  # DescribeRepositories names repositories in a list
    assert ecr[0]["principal"] == "arn:aws:iam::000000000000:root"
    assert ecr[0]["status"] == 200 and ecr[0]["duration_ms"] >= 0 and ecr[0]["request_id"]
    manifest_puts = [e for e in access if e.get("action") == "manifest_put"]
    assert len(manifest_puts) == 3 and {e["repository"] for e in manifest_puts} == {name}
