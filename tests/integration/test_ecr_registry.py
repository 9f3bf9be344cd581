"""Registry-level ECR actions: DescribeRegistry, GetAccountSetting, PutAccountSetting, and
BLOB_MOUNTING as /v2/ cross-repository mounts see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.ecrtools import aws_cli, expect_error
from tests.integration.ocitools import digest

DEFAULTS = {
    "BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE",
    "REGISTRY_POLICY_SCOPE": "V2",
    "BLOB_MOUNTING": "DISABLED",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server of this module's own, started with ECR's account setting defaults.

    Account settings are account-wide: changing them on the shared server would change
    what other tests (cross-repository mounts) see.
    """
    from tests.integration.clients import dockyard_server

    with dockyard_server(
        tmp_path_factory.mktemp("ecr-registry"), extra_args=["--blob-mounting-default", "DISABLED"]
    ) as reg:
        yield reg


@pytest.fixture
def ecr(ecr: Any) -> Iterator[Any]:
    """The shared client; afterwards this module's server is left as ECR starts an account."""
    yield ecr
    ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
    ecr.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V2")


def test_describe_registry(registry: Any, ecr: Any) -> None:
    out = ecr.describe_registry()
    repo = ecr.create_repository(repositoryName=f"it-ecr/registry-{uuid.uuid4().hex[:8]}")["repository"]
    assert out["registryId"] == repo["registryId"]
    assert out["replicationConfiguration"] == {"rules": []}
    assert aws_cli(registry, "describe-registry")["registryId"] == repo["registryId"]


def test_account_setting_defaults(ecr: Any) -> None:
    for name, value in DEFAULTS.items():
        out = ecr.get_account_setting(name=name)
        assert (out["name"], out["value"]) == (name, value)


def test_put_and_get_account_settings(registry: Any, ecr: Any) -> None:
    out = ecr.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V1")
    assert (out["name"], out["value"]) == ("REGISTRY_POLICY_SCOPE", "V1")
    assert ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V1"
    ecr.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V2")
    assert ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V2"
    ecr.put_account_setting(name="BASIC_SCAN_TYPE_VERSION", value="AWS_NATIVE")
    assert ecr.get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"] == "AWS_NATIVE"

    put = aws_cli(registry, "put-account-setting", "--name", "BLOB_MOUNTING", "--value", "ENABLED")
    assert put == {"name": "BLOB_MOUNTING", "value": "ENABLED"}
    assert aws_cli(registry, "get-account-setting", "--name", "BLOB_MOUNTING")["value"] == "ENABLED"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOT_A_SETTING", "ENABLED"),
        ("BLOB_MOUNTING", "enabled"),
        ("BLOB_MOUNTING", "V2"),
        ("REGISTRY_POLICY_SCOPE", "V3"),
        ("BASIC_SCAN_TYPE_VERSION", "CLAIR"),  # unsupported since 2025-10-01
        ("blob_mounting", "ENABLED"),
    ],
)
def test_put_account_setting_refuses_unknown_names_and_values(ecr: Any, name: str, value: str) -> None:
    message = expect_error("ValidationException", ecr.put_account_setting, name=name, value=value)
    assert "failed to satisfy constraint" in message


def test_get_account_setting_of_an_unknown_name(ecr: Any) -> None:
    expect_error("ValidationException", ecr.get_account_setting, name="NOT_A_SETTING")


def _repo(ecr: Any) -> str:
    name = f"it-ecr/mount-{uuid.uuid4().hex[:10]}"
    ecr.create_repository(repositoryName=name)
    return name


def test_blob_mounting_follows_the_account_setting(registry: Any, ecr: Any) -> None:
    source, target = _repo(ecr), _repo(ecr)
    data = f"mountable {uuid.uuid4()}".encode()
    dig = digest(data)
    with registry.http() as http:
        r = http.post(f"/v2/{source}/blobs/uploads/", params={"digest": dig}, content=data)
        assert r.status_code == 201, r.text

        # DISABLED (the default): the mount request starts an ordinary upload instead.
        assert ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
        r = http.post(f"/v2/{target}/blobs/uploads/", params={"mount": dig, "from": source})
        assert r.status_code == 202, r.text
        assert "/blobs/uploads/" in r.headers["Location"]
        assert http.head(f"/v2/{target}/blobs/{dig}").status_code == 404

        ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
        r = http.post(f"/v2/{target}/blobs/uploads/", params={"mount": dig, "from": source})
        assert r.status_code == 201, r.text
        assert r.headers["Location"].endswith(f"/v2/{target}/blobs/{dig}")
        assert http.head(f"/v2/{target}/blobs/{dig}").status_code == 200

        # Turning it off again keeps what was mounted, and stops new mounts.
        ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
        third = _repo(ecr)
        r = http.post(f"/v2/{third}/blobs/uploads/", params={"mount": dig, "from": source})
        assert r.status_code == 202, r.text
        assert http.head(f"/v2/{target}/blobs/{dig}").status_code == 200
        assert http.head(f"/v2/{third}/blobs/{dig}").status_code == 404
