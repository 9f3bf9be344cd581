"""Fixtures for the integration tests: a Dockyard server per test session (per xdist worker) and
real clients (skopeo, podman, the docker CLI through podman's service, the ORAS SDK, boto3).

A client whose binary is missing skips its tests, except when the environment variable CI
is set: there a missing client fails them.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.client import BaseClient

from tests.integration import clients
from tests.integration.clients import DockerCLI, Podman, Registry, Skopeo, require_tool
from tests.integration.ecrtools import ecr_client
from tests.integration.ocitools import Oci

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The Dockyard server for this test session (one per xdist worker).

    Repositories must be created before a push: use ``new_repo`` or ``registry.create_repo``.
    """
    workdir = tmp_path_factory.mktemp(f"dockyard-{_worker()}")
    with clients.dockyard_server(workdir) as reg:
        yield reg


@pytest.fixture(scope="module")
def registry_create_on_push(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A second server, started with ``--create-on-push``, for one test module."""
    workdir = tmp_path_factory.mktemp(f"dockyard-cop-{_worker()}")
    with clients.dockyard_server(workdir, extra_args=["--create-on-push"]) as reg:
        yield reg


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "t"


@pytest.fixture
def new_repo(registry: Registry, request: pytest.FixtureRequest) -> Callable[..., str]:
    """A factory: ``new_repo("suffix")`` creates a uniquely named repository on ``registry``."""

    def make(suffix: str = "") -> str:
        name = f"it/{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"
        if suffix:
            name += f"/{_slug(suffix)}"
        return registry.create_repo(name)

    return make


@pytest.fixture
def repo(new_repo: Callable[..., str]) -> str:
    """A fresh repository on ``registry``."""
    return new_repo()


@pytest.fixture
def ecr_server(registry: Registry) -> Registry:
    """The server ``ecr`` and ``raw_ecr`` talk to; a module with a server of its own overrides it."""
    return registry


@pytest.fixture
def ecr(ecr_server: Registry) -> BaseClient:
    """A boto3 ECR client for ``ecr_server`` whose answers are checked against botocore's model."""
    return ecr_client(ecr_server)


@pytest.fixture
def raw_ecr(ecr_server: Registry) -> BaseClient:
    """A boto3 ECR client without botocore's checks: invalid input reaches the server's own."""
    return ecr_client(ecr_server, checked=False)


@pytest.fixture(scope="session")
def oci(registry: Registry) -> Iterator[Oci]:
    """An OCI distribution client (httpx) bound to ``registry``."""
    with Oci(registry) as client:
        yield client


@pytest.fixture(scope="session")
def skopeo(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    binary = require_tool("skopeo")
    tool = Skopeo(tmp_path_factory.mktemp("skopeo"), binary=binary)
    registry.login(tool)
    return tool


@pytest.fixture(scope="session")
def podman(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    binary = require_tool("podman")
    tool = Podman(
        tmp_path_factory.mktemp("podman"), insecure_hosts=[registry.host, registry.localhost], binary=binary
    )
    try:
        registry.login(tool)
        yield tool
    finally:
        tool.close()


@pytest.fixture(scope="session")
def docker_cli(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerCLI]:
    docker = require_tool("docker")
    podman = require_tool("podman")
    tool = DockerCLI(
        tmp_path_factory.mktemp("docker"),
        insecure_hosts=[registry.host, registry.localhost],
        docker=docker,
        podman=podman,
    )
    tool.start()
    try:
        registry.login(tool)
        yield tool
    finally:
        tool.stop()
