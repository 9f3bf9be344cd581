"""Accounts and regions as real clients meet them (issue 15, items 4 and 5).

* Development mode serves its account on the plain host: the `repositoryUri` the aws CLI gets
  back is pushable as-is.
* No `repositoryUri` is unreachable: on an IP address, every account's URI is the plain host,
  and a push there lands in the account of the credential.
* A request signed for a region this deployment does not serve is refused as AWS refuses it
  (InvalidSignatureException, "Credential should be scoped to a valid region, not '...'. "),
  and so is a registry token issued in such a region; `--served-region` adds regions.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import Registry, Skopeo, build_oci_layout, dockyard_server, require_tool
from tests.integration.ecrtools import aws_cli, ecr_client

pytestmark = pytest.mark.integration
DEV_ACCOUNT = "123456789012"
WRONG_REGION = "Credential should be scoped to a valid region, not 'us-west-2'. "


def _password(ecr: Any) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]


def _skopeo(workdir: Path, host: str, password: str) -> Skopeo:
    tool = Skopeo(workdir, binary=require_tool("skopeo"))
    tool.run("login", "--tls-verify=false", "-u", "AWS", "-p", password, host)
    return tool


def _shared_storage(reg: Registry) -> dict[str, str]:
    """DOCKYARD_* settings that make another server a second node of ``reg``."""
    if reg.storage_env:
        return dict(reg.storage_env)
    return {
        "DOCKYARD_DATABASE": f"sqlite+aiosqlite:///{(reg.data_dir / 'dockyard.db').resolve()}",
        "DOCKYARD_BLOB_STORE": f"file:{(reg.data_dir / 'blobs').resolve()}",
    }


# ------------------------------------------------------------------------------ development mode
@pytest.fixture(scope="module")
def dev_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("dockyard-dev")
    args = ["--dev-accept-any-credentials", DEV_ACCOUNT]
    with dockyard_server(workdir, extra_args=args, credentials=("AKIAANYKEYATALL00000", "any")) as reg:
        yield reg


def test_dev_mode_repository_uri_is_pushable(dev_registry: Registry, tmp_path: Path) -> None:
    name = f"dev/app-{uuid.uuid4().hex[:6]}"
    created = aws_cli(dev_registry, "create-repository", "--repository-name", name)["repository"]
    assert created["registryId"] == DEV_ACCOUNT
    assert created["repositoryUri"] == f"{dev_registry.localhost}/{name}"
    assert created["repositoryArn"] == f"arn:aws:ecr:us-east-1:{DEV_ACCOUNT}:repository/{name}"
    password = aws_cli(dev_registry, "get-login-password", raw=True).strip()
    skopeo = _skopeo(tmp_path / "skopeo", dev_registry.localhost, password)
    layout = build_oci_layout(tmp_path / "layout", platforms=(("linux", "amd64"),), nonce=name)
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://{created['repositoryUri']}:v1")
    images = aws_cli(dev_registry, "describe-images", "--repository-name", name)["imageDetails"]
    assert [i["imageTags"] for i in images] == [["v1"]]
    assert images[0]["registryId"] == DEV_ACCOUNT


def test_dev_mode_refuses_other_regions(dev_registry: Registry) -> None:
    with pytest.raises(ClientError) as err:
        ecr_client(dev_registry, region="us-west-2").describe_repositories()
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["Error"]["Message"] == WRONG_REGION


def test_dev_account_and_a_different_account_id_refuse_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    args = ["--dev-accept-any-credentials", DEV_ACCOUNT, "--account-id", "000000000000"]
    data = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", "serve", "--data-dir", str(data), "--port", "1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"--dev-accept-any-credentials {DEV_ACCOUNT} and --account-id 000000000000 differ" in proc.stderr
    assert not data.exists()


# ------------------------------------------------------------------------------ accounts on an IP host
def test_another_accounts_repository_uri_on_an_ip_host_is_pushable(
    registry: Registry, tmp_path: Path
) -> None:
    account = "555566667777"
    done = registry.cli("account", "create", account, check=False)
    assert done.returncode == 0 or "already exists" in done.stderr, done.describe()
    out = registry.cli("key", "create", "--account-id", account).stdout
    values = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    ecr = ecr_client(
        registry, access_key_id=values["aws_access_key_id"], secret_access_key=values["aws_secret_access_key"]
    )
    name = f"ip/app-{uuid.uuid4().hex[:6]}"
    created = ecr.create_repository(repositoryName=name)["repository"]
    assert created["registryId"] == account
    assert created["repositoryUri"] == f"{registry.localhost}/{name}"  # not 555566667777.localhost:PORT
    endpoint = ecr.get_authorization_token()["authorizationData"][0]["proxyEndpoint"]
    assert endpoint == f"http://{registry.localhost}"
    skopeo = _skopeo(tmp_path / "skopeo", registry.localhost, _password(ecr))
    layout = build_oci_layout(tmp_path / "layout", platforms=(("linux", "amd64"),), nonce=name)
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://{created['repositoryUri']}:v1")
    images = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert [i["imageTags"] for i in images] == [["v1"]] and images[0]["registryId"] == account
    # The default account's credential on the same plain host sees its own account, not this one.
    with httpx.Client(
        base_url=registry.url, auth=(registry.username, registry.password), trust_env=False
    ) as c:
        assert c.get(f"/v2/{name}/tags/list").status_code == 404


# ------------------------------------------------------------------------------ regions
def test_requests_signed_for_another_region_are_refused(registry: Registry) -> None:
    west = ecr_client(registry, region="us-west-2")
    for call in (west.describe_repositories, west.get_authorization_token):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert err.value.response["Error"]["Message"] == WRONG_REGION
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ecr_client(registry, region="us-east-1").describe_repositories()


def test_served_regions_answer_with_their_own_arns_and_tokens(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second node of the session registry that also serves us-west-2: each region's client
    gets its region's ARNs; a us-west-2 token works there and is refused by the us-east-1-only
    node (same signing key, same data)."""
    workdir = tmp_path_factory.mktemp("dockyard-two-regions")
    credentials = (str(registry.access_key_id), str(registry.secret_access_key))
    with dockyard_server(
        workdir,
        extra_args=["--served-region", "us-west-2"],
        storage=_shared_storage(registry),
        credentials=credentials,
    ) as both:
        east, west = ecr_client(both, region="us-east-1"), ecr_client(both, region="us-west-2")
        name = f"regions/app-{uuid.uuid4().hex[:6]}"
        arn = west.create_repository(repositoryName=name)["repository"]["repositoryArn"]
        assert arn.startswith("arn:aws:ecr:us-west-2:")
        [repo] = east.describe_repositories(repositoryNames=[name])["repositories"]
        assert repo["repositoryArn"].startswith("arn:aws:ecr:us-east-1:")
        with pytest.raises(ClientError) as err:
            ecr_client(both, region="eu-west-1").describe_repositories()
        assert err.value.response["Error"]["Message"].endswith("not 'eu-west-1'. ")

        west_password = _password(west)
        for reg, status in ((both, 200), (registry, 401)):
            r = httpx.get(reg.url + "/v2/_catalog", auth=("AWS", west_password), trust_env=False)
            assert r.status_code == status, (reg.url, r.text)
        refused = httpx.get(registry.url + "/v2/_catalog", auth=("AWS", west_password), trust_env=False)
        assert "issued in us-west-2, which this registry does not serve" in refused.text
        east_password = _password(east)
        r = httpx.get(registry.url + "/v2/_catalog", auth=("AWS", east_password), trust_env=False)
        assert r.status_code == 200, r.text
