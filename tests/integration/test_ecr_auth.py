"""Identity on both doors: SigV4 on the ECR API, tokens on /v2/, and ECR's getting-started flow."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.integration.clients import DockerCLI, Registry, write_scratch_context
from tests.integration.ecrtools import aws_cli, check_output_shape, ecr_client

pytestmark = pytest.mark.integration
TARGET = "AmazonEC2ContainerRegistry_V20150921."


def signed(
    registry: Registry,
    action: str,
    body: dict[str, Any],
    secret: str | None = None,
    when: dt.datetime | None = None,
) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=registry.url + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": TARGET + action, "Content-Type": "application/x-amz-json-1.1"},
    )
    credentials = Credentials(registry.access_key_id, secret or registry.secret_access_key)
    auth = SigV4Auth(credentials, "ecr", "us-east-1")
    if when is None:
        auth.add_auth(request)
    else:
        naive = when.astimezone(dt.UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=naive):
            auth.add_auth(request)
    return request


def send(registry: Registry, request: AWSRequest) -> httpx.Response:
    prepared = request.prepare()
    return httpx.post(prepared.url, content=prepared.body, headers=dict(prepared.headers), trust_env=False)


def aws_error(response: httpx.Response) -> str:
    return str(response.json().get("__type"))


def test_sigv4_refusals_change_nothing(registry: Registry) -> None:
    name = f"auth-{uuid.uuid4().hex[:8]}"
    body = {"repositoryName": name}
    # No signature at all.
    r = httpx.post(
        registry.url + "/",
        content=json.dumps(body),
        headers={"X-Amz-Target": TARGET + "CreateRepository", "Content-Type": "application/x-amz-json-1.1"},
        trust_env=False,
    )
    assert (r.status_code, aws_error(r)) == (400, "MissingAuthenticationTokenException"), r.text
    # Malformed Authorization header.
    r = httpx.post(
        registry.url + "/",
        content=json.dumps(body),
        headers={
            "X-Amz-Target": TARGET + "CreateRepository",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 garbage",
            "X-Amz-Date": "20260101T000000Z",
        },
        trust_env=False,
    )
    assert r.status_code == 400 and aws_error(r) == "IncompleteSignatureException", r.text
    # Wrong secret.
    r = send(registry, signed(registry, "CreateRepository", body, secret="x" * 40))
    assert aws_error(r) == "InvalidSignatureException", r.text
    # A body changed after signing.
    request = signed(registry, "CreateRepository", body)
    prepared = request.prepare()
    tampered = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    r = httpx.post(
        prepared.url,
        content=json.dumps({"repositoryName": name + "x"}),
        headers=tampered,
        trust_env=False,
    )
    assert aws_error(r) == "InvalidSignatureException", r.text
    # Clock skew beyond 15 minutes.
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    r = send(registry, signed(registry, "CreateRepository", body, when=old))
    assert aws_error(r) == "InvalidSignatureException" and "expired" in r.json()["message"].lower(), r.text
    # An unknown access key.
    request = AWSRequest(
        method="POST",
        url=registry.url + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": TARGET + "CreateRepository", "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials("AKIAUNKNOWNKEY000000", "s" * 40), "ecr", "us-east-1").add_auth(request)
    r = send(registry, request)
    assert aws_error(r) == "UnrecognizedClientException", r.text
    # Nothing was created by any of them; a correctly signed call works.
    ecr = ecr_client(registry)
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(repositoryNames=[name])
    assert excinfo.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    assert send(registry, signed(registry, "CreateRepository", body)).status_code == 200


def test_authorization_token_shape_and_use(registry: Registry) -> None:
    ecr = ecr_client(registry, region="us-east-1")  # the server's region; others are refused
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    lifetime = data["expiresAt"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=11, minutes=55) < lifetime <= dt.timedelta(hours=12), lifetime
    assert data["proxyEndpoint"].endswith(registry.localhost), data["proxyEndpoint"]
    ok = httpx.get(registry.url + "/v2/", auth=("AWS", password), trust_env=False)
    assert ok.status_code == 200
    # Tampered, wrong user, missing.
    tampered = password[:-3] + ("AAA" if not password.endswith("AAA") else "BBB")
    for auth in (("AWS", tampered), ("admin", password), ("AWS", "not-a-token")):
        r = httpx.get(registry.url + "/v2/_catalog", auth=auth, trust_env=False)
        assert r.status_code == 401, (auth[0], r.status_code, r.text)
        assert r.headers["WWW-Authenticate"].startswith('Basic realm="'), r.headers
    r = httpx.get(registry.url + "/v2/", trust_env=False)
    assert r.status_code == 401
    assert 'service="ecr.amazonaws.com"' in r.headers["WWW-Authenticate"]
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_expired_token_is_denied(tmp_path: Path) -> None:
    """A server with a one-minute token lifetime: a token verified after that is refused."""
    import time

    from tests.integration.clients import dockyard_server

    with dockyard_server(tmp_path / "short", extra_args=["--token-ttl", "60"]) as reg:
        ecr = ecr_client(reg)
        token = ecr.get_authorization_token()["authorizationData"][0]
        password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)[1]
        assert httpx.get(reg.url + "/v2/", auth=("AWS", password), trust_env=False).status_code == 200
        wait = token["expiresAt"].timestamp() - time.time() + 1
        time.sleep(max(wait, 0))
        r = httpx.get(reg.url + "/v2/_catalog", auth=("AWS", password), trust_env=False)
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["code"] == "DENIED"
        assert "expired" in r.json()["errors"][0]["message"]


def test_token_of_one_account_is_refused_on_another_accounts_host(registry: Registry) -> None:
    other = "111122223333"
    done = registry.cli("account", "create", other, check=False)
    assert done.returncode == 0 or "already exists" in done.stderr, done.describe()
    r = httpx.get(
        registry.url + "/v2/_catalog",
        auth=(registry.username, registry.password),
        headers={"Host": f"{other}.{registry.host}"},
        trust_env=False,
    )
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["code"] == "DENIED"
    # The same token on its own account's host works.
    r = httpx.get(registry.url + "/v2/_catalog", auth=(registry.username, registry.password), trust_env=False)
    assert r.status_code == 200


def test_keys_from_the_cli_sign_for_their_account(registry: Registry) -> None:
    account = "444455556666"
    registry.cli("account", "create", account, check=False)
    registry.cli("user", "create", "ci", "--account-id", account, check=False)
    # A user may do only what its policies allow.
    registry.cli("iam", "attach-policy", "--user", "ci", "--managed", "FullAccess", "--account-id", account)
    out = registry.cli("key", "create", "--user", "ci", "--account-id", account, "--profile", "ci").stdout
    assert "[ci]" in out
    values = dict(
        line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith("#")
    )
    ecr = ecr_client(
        registry, access_key_id=values["aws_access_key_id"], secret_access_key=values["aws_secret_access_key"]
    )
    created = ecr.create_repository(repositoryName=f"ci-{uuid.uuid4().hex[:6]}")["repository"]
    assert created["registryId"] == account
    assert created["repositoryArn"].startswith(f"arn:aws:ecr:us-east-1:{account}:repository/")
    # On localhost the plain host serves every account, by its credential (an
    # `<account>.localhost:PORT` URI would resolve nowhere).
    assert created["repositoryUri"].startswith(f"{registry.localhost}/")


def test_getting_started_flow_with_the_aws_cli_and_docker(
    registry: Registry, docker_cli: DockerCLI, tmp_path: Path
) -> None:
    """ECR's getting-started guide, verbatim apart from the endpoint."""
    name = f"hello-world-{uuid.uuid4().hex[:6]}"
    region = "us-east-1"  # the server's region (a client of another region is refused)
    created = aws_cli(
        registry,
        "create-repository",
        "--repository-name",
        name,
        "--image-scanning-configuration",
        "scanOnPush=true",
        region=region,
    )["repository"]
    check_output_shape("CreateRepository", created and {"repository": created})
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    password = aws_cli(registry, "get-login-password", region=region, raw=True).strip()
    host = registry.localhost  # docker via the podman service needs localhost for plain HTTP
    login = subprocess.run(
        [docker_cli.docker, "login", "--username", "AWS", "--password-stdin", host],
        input=password,
        capture_output=True,
        text=True,
        env=docker_cli.env,
        timeout=120,
    )
    assert login.returncode == 0, login.stderr
    ctx = write_scratch_context(tmp_path / "ctx", {"hello.txt": b"hello world\n"}, dockerfile="Dockerfile")
    docker_cli.run("build", "-t", f"{name}:latest", ctx)
    docker_cli.run("tag", f"{name}:latest", f"{host}/{name}:latest")
    docker_cli.run("push", f"{host}/{name}:latest")

    images = aws_cli(registry, "describe-images", "--repository-name", name, region=region)["imageDetails"]
    assert [i["imageTags"] for i in images] == [["latest"]]
    digest = images[0]["imageDigest"]
    got = aws_cli(
        registry,
        "batch-get-image",
        "--repository-name",
        name,
        "--image-ids",
        "imageTag=latest",
        region=region,
    )
    assert got["images"][0]["imageId"]["imageDigest"] == digest

    docker_cli.run("rmi", "--force", f"{host}/{name}:latest", f"{name}:latest")
    docker_cli.run("pull", f"{host}/{name}:latest")

    deleted = aws_cli(
        registry,
        "batch-delete-image",
        "--repository-name",
        name,
        "--image-ids",
        "imageTag=latest",
        region=region,
    )
    assert deleted["imageIds"][0]["imageDigest"] == digest
    aws_cli(registry, "delete-repository", "--repository-name", name, "--force", region=region)
    listed = aws_cli(registry, "describe-repositories", region=region)["repositories"]
    assert name not in [r["repositoryName"] for r in listed]
