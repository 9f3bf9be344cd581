"""The access log line, the request metrics' labels and the registry gauges, on the real app."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from dockyard.app import running
from dockyard.config import Settings
from dockyard.logs import (
    EMBEDDED_EXPLAINED,
    EMBEDDED_WARNING,
    EmbeddedServerNotice,
    JsonFormatter,
    TextFormatter,
    granian_log_config,
)
from dockyard.observability import ObservabilityMiddleware, render_process_metrics

ACCOUNT = "000000000000"
# Development mode accepts any signature; the credential scope still names the region.
AUTH = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/ecr/aws4_request, Signature=x"
TARGET = "AmazonEC2ContainerRegistry_V20150921."


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    logger = logging.getLogger("dockyard.access")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def requests_total(door: str, operation: str, status: str) -> float:
    labels = {"door": door, "operation": operation, "status": status}
    return REGISTRY.get_sample_value("dockyard_http_requests_total", labels) or 0.0


def serve(tmp_path: Path, calls: list[tuple[str, str, dict[str, str], bytes]]) -> tuple[list[Any], bytes]:
    """Send ``calls`` (method, path, headers, body) to the app, then scrape /metrics."""

    async def main() -> tuple[list[Any], bytes]:
        settings = Settings(data_dir=tmp_path, dev_accept_any_credentials=ACCOUNT)
        async with running(settings) as app:
            transport = httpx.ASGITransport(app=ObservabilityMiddleware(app))
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost:5000") as client:
                responses = [
                    await client.request(method, path, headers=headers, content=body)
                    for method, path, headers, body in calls
                ]
                metrics = (await client.get("/metrics")).content
        return responses, metrics

    return asyncio.run(main())


def ecr_call(action: str, params: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    headers = {
        "x-amz-target": TARGET + action,
        "content-type": "application/x-amz-json-1.1",
        "authorization": AUTH,
    }
    return ("POST", "/", headers, json.dumps(params).encode())


def test_one_access_line_per_request_with_who_what_and_where(
    tmp_path: Path, access_records: list[logging.LogRecord]
) -> None:
    responses, _ = serve(
        tmp_path,
        [
            ecr_call("CreateRepository", {"repositoryName": "team/app"}),
            ("GET", "/v2/team/app/manifests/latest", {}, b""),
            ("GET", "/nowhere", {}, b""),
            ecr_call("DescribeImages", {"repositoryName": "missing"}),
        ],
    )
    created, manifest, nowhere, missing = responses
    assert created.status_code == 200, created.text
    assert manifest.status_code == 404  # in development mode every caller is the account's root
    assert nowhere.status_code == 404
    ecr, oci, other, failed, scrape = access_records
    assert [r.getMessage().rsplit(" ", 1)[0] for r in access_records] == [
        "POST / 200",
        "GET /v2/team/app/manifests/latest 404",
        "GET /nowhere 404",
        "POST / 400",
        "GET /metrics 200",
    ]
    expected = {
        "door": "ecr",
        "action": "CreateRepository",
        "repository": "team/app",
        "principal": f"arn:aws:iam::{ACCOUNT}:root",
        "status": 200,
        "method": "POST",
        "path": "/",
    }
    assert {key: getattr(ecr, key) for key in expected} == expected
    # The ECR response's request id is the one logged.
    assert ecr.request_id == created.headers["x-amzn-RequestId"]
    assert oci.door == "oci" and oci.action == "manifest_get" and oci.repository == "team/app"
    assert oci.principal == f"arn:aws:iam::{ACCOUNT}:root"
    assert other.action == "unmatched" and other.repository is None and other.principal is None
    assert missing.status_code == 400
    assert failed.action == "DescribeImages" and failed.repository == "missing"
    assert failed.error == "RepositoryNotFoundException" and ecr.error is None
    assert scrape.action == "metrics"
    assert len({r.request_id for r in access_records}) == 5
    assert all(isinstance(r.duration_ms, float) and r.duration_ms >= 0 for r in access_records)


def test_metric_labels_name_operations_never_repositories(tmp_path: Path) -> None:
    before = {
        "put": requests_total("ecr", "CreateRepository", "200"),
        "blob": requests_total("oci", "blob_head", "404"),
        "patch": requests_total("oci", "upload_patch", "404"),
        "unmatched": requests_total("other", "unmatched", "404"),
    }
    digest = "sha256:" + "0" * 64
    _, metrics = serve(
        tmp_path,
        [
            ecr_call("CreateRepository", {"repositoryName": "secret-project"}),
            ("HEAD", f"/v2/secret-project/blobs/{digest}", {}, b""),
            ("PATCH", "/v2/secret-project/blobs/uploads/0b5e6c1a-0000-4000-8000-000000000000", {}, b"x"),
            ("GET", "/secret-project", {}, b""),
        ],
    )
    assert requests_total("ecr", "CreateRepository", "200") == before["put"] + 1
    assert requests_total("oci", "blob_head", "404") == before["blob"] + 1
    assert requests_total("oci", "upload_patch", "404") == before["patch"] + 1
    assert requests_total("other", "unmatched", "404") == before["unmatched"] + 1
    text = metrics.decode()
    assert "secret-project" not in text
    assert 'dockyard_http_request_seconds_count{door="ecr",operation="CreateRepository"}' in text
    # The registry gauges, read from the database at the scrape.
    gauges = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("dockyard_") and " " in line
    }
    assert gauges["dockyard_repositories"] == 1
    assert gauges["dockyard_images"] == 0
    assert gauges["dockyard_storage_bytes"] == 0
    assert 'dockyard_jobs{status="queued"}' in gauges
    assert "dockyard_job_queue_oldest_seconds" in gauges


def test_process_metrics_are_summed_from_the_multiprocess_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two "processes" wrote counter files; the scrape adds them up.
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    for pid in (101, 102):
        mm = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        key = mmap_key(
            "dockyard_http_requests_total",
            "dockyard_http_requests_total",
            ["door", "operation", "status"],
            ["oci", "blob_get", "200"],
            "HTTP requests",
        )
        mm.write_value(key, 3.0, 0.0)
        mm.close()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = render_process_metrics().decode()
    assert 'dockyard_http_requests_total{door="oci",operation="blob_get",status="200"} 6.0' in text


def _record(msg: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("dockyard.access", logging.INFO, __file__, 1, msg, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_request_fields() -> None:
    record = _record(
        "GET /v2/ 200 1.0ms", request_id="r-1", action="base", status=200, duration_ms=1.0, principal=None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "info" and line["logger"] == "dockyard.access"
    assert line["message"] == "GET /v2/ 200 1.0ms"
    assert line["request_id"] == "r-1" and line["action"] == "base" and line["status"] == 200
    assert "principal" not in line  # absent, not null
    # A line without request fields has none.
    assert set(json.loads(JsonFormatter().format(_record("hello")))) == {"time", "level", "logger", "message"}


def test_text_lines_add_the_fields_the_message_lacks() -> None:
    record = _record("GET /v2/x/blobs/d 200 1.0ms", request_id="r-1", action="blob_get", status=200)
    line = TextFormatter().format(record)
    assert line.endswith("INFO dockyard.access: GET /v2/x/blobs/d 200 1.0ms request_id=r-1 action=blob_get")


def test_granian_lines_use_the_same_format_and_its_warning_is_explained() -> None:
    handler_config = granian_log_config(json_logs=True)
    logging.config.dictConfig(handler_config)
    handler = logging.getLogger("_granian").handlers[0]
    assert isinstance(handler.formatter, JsonFormatter)
    record = logging.LogRecord("_granian", logging.WARNING, __file__, 1, EMBEDDED_WARNING, (), None)
    assert EmbeddedServerNotice().filter(record)
    assert record.getMessage() == EMBEDDED_EXPLAINED and record.levelname == "INFO"
    assert isinstance(logging.getLogger("granian.access").handlers[0].formatter, JsonFormatter)
    logging.config.dictConfig(granian_log_config(json_logs=False))
    assert isinstance(logging.getLogger("_granian").handlers[0].formatter, TextFormatter)


def test_each_server_start_counts_from_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dockyard import serving

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with serving.metrics_directory() as fresh:
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(fresh) and not any(fresh.iterdir())
    assert not fresh.exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"old counts")
    (given / "README").write_text("not a metrics file: kept")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with serving.metrics_directory() as path:
        assert path == given and [f.name for f in given.iterdir()] == ["README"]
    assert given.exists()


def test_request_ids_are_unique_uuids_without_a_syscall_each() -> None:
    import uuid

    from dockyard.observability import new_request_id

    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)
