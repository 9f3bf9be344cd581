"""repositoryUri, repositoryArn and proxyEndpoint, in both address styles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clients import dockyard_server
from tests.integration.ecrtools import ecr_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def aws_style(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    args = ["--uri-style", "aws", "--account-id", "123456789012", "--region", "eu-west-1"]
    with dockyard_server(tmp_path_factory.mktemp("aws-style"), extra_args=args) as reg:
        yield reg


def test_default_style_is_the_address_clients_use(registry: Any) -> None:
    # The server's region (a client of another region is refused: test_accounts_and_regions.py).
    ecr = ecr_client(registry, region="us-east-1")
    name = f"addr/{uuid.uuid4().hex[:8]}"
    repo = ecr.create_repository(repositoryName=name)["repository"]
    # The client used 127.0.0.1: this machine's loopback is named localhost everywhere (addresses.py).
    assert repo["repositoryUri"] == f"{registry.localhost}/{name}"
    account = repo["registryId"]
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:{account}:repository/{name}"
    endpoint = ecr.get_authorization_token()["authorizationData"][0]["proxyEndpoint"]
    assert endpoint == f"http://{registry.localhost}"


def test_aws_style_matches_amazon_ecr(aws_style: Any, tmp_path: Path) -> None:
    ecr = ecr_client(aws_style, region="eu-west-1")
    name = f"addr/{uuid.uuid4().hex[:8]}"
    repo = ecr.create_repository(repositoryName=name)["repository"]
    assert repo["registryId"] == "123456789012"
    assert repo["repositoryUri"] == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{name}"
    assert repo["repositoryArn"] == f"arn:aws:ecr:eu-west-1:123456789012:repository/{name}"
    data = ecr.get_authorization_token()["authorizationData"][0]
    assert data["proxyEndpoint"] == "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
