"""Blob stores and metadata databases under test: every backend runs the same suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    os.environ.setdefault("DOCKYARD_S3_ACCESS_KEY_ID", "test")
    os.environ.setdefault("DOCKYARD_S3_SECRET_ACCESS_KEY", "test")
    with services.s3_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if services.pg_bin() is None and not services.in_ci():
        pytest.skip("PostgreSQL is not installed")
    with services.postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


def blob_store_url(kind: str, tmp_path: Path, s3_endpoint: str | None) -> str:
    if kind == "filesystem":
        return f"file:{tmp_path / 'blobs'}"
    assert s3_endpoint is not None
    bucket = services.create_bucket(s3_endpoint)
    return f"s3://{bucket}/prefix?endpoint_url={s3_endpoint}&region=us-east-1&part_size_mb=5"


@pytest.fixture(params=["filesystem", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A blob store URL of each kind (the S3 one on the session's S3 server)."""
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else None
    return blob_store_url(request.param, tmp_path, endpoint)
