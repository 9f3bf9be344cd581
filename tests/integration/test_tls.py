"""HTTPS served by Dockyard itself, with a CA made by `dockyard tls init`: skopeo, podman and the
aws CLI trusting that CA as its instructions say, and `aws:SecureTransport` in a policy.

One TLS server for the module; a plain-HTTP server on the same data dir for the policy test."""

from __future__ import annotations

import base64
import json
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.clients import (
    Podman,
    Registry,
    Skopeo,
    build_oci_layout,
    dockyard_server,
    require_tool,
    run,
)
from tests.integration.ecrtools import aws_cli, ecr_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tls") / "tls"
    result = run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "tls",
            "init",
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
            out,
        ]
    )
    assert "/etc/docker/certs.d/127.0.0.1:5000/ca.crt" in result.stdout, result.stdout
    assert "/etc/containers/certs.d/127.0.0.1:5000/ca.crt" in result.stdout, result.stdout
    assert f"--ca-bundle {out.resolve() / 'ca.crt'}" in result.stdout, result.stdout
    return out


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory, tls_dir: Path) -> Iterator[Registry]:
    with dockyard_server(tmp_path_factory.mktemp("tls-server"), tls_dir=tls_dir) as reg:
        yield reg


@pytest.fixture(scope="module")
def skopeo_tls(tls_registry: Registry, tls_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    tool = Skopeo(tmp_path_factory.mktemp("skopeo-tls"), binary=require_tool("skopeo"))
    login = [tool.binary, "login", "--authfile", tool.auth_file, "--cert-dir", tls_dir, "-u", "AWS"]
    run([*login, "--password-stdin", tls_registry.host], env=tool.env, input=str(tls_registry.password))
    return tool


def _push_layout(skopeo: Skopeo, registry: Registry, tls_dir: Path, tmp: Path, repo: str) -> None:
    layout = build_oci_layout(tmp / f"layout-{uuid.uuid4().hex[:6]}", tag="v1", nonce=uuid.uuid4().hex)
    skopeo.run(
        "copy", "--dest-cert-dir", tls_dir, f"oci:{layout.path}:v1", f"docker://{registry.host}/{repo}:v1"
    )


def test_tls_init_writes_private_keys_owner_only(tls_dir: Path) -> None:
    for name in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE((tls_dir / name).stat().st_mode) == 0o600, name
    assert {p.name for p in tls_dir.iterdir()} == {
        "ca.crt",
        "ca-key.pem",
        "server-cert.pem",
        "server-key.pem",
    }


def test_skopeo_copies_to_and_from_the_tls_port(
    tls_registry: Registry, skopeo_tls: Skopeo, tls_dir: Path, tmp_path: Path
) -> None:
    repo = tls_registry.create_repo(f"tls/{uuid.uuid4().hex[:8]}")
    ref = f"docker://{tls_registry.host}/{repo}:v1"
    # Without the CA, the certificate is refused: TLS is real, not a plain-HTTP fallback.
    refused = skopeo_tls.run("inspect", "--raw", ref, check=False)
    assert refused.returncode != 0 and "certificate" in refused.stderr, refused.describe()
    _push_layout(skopeo_tls, tls_registry, tls_dir, tmp_path, repo)
    out = tmp_path / "out"
    skopeo_tls.run("copy", "--src-cert-dir", tls_dir, ref, f"oci:{out}:v1")
    assert (out / "index.json").exists()
    assert json.loads(skopeo_tls.run("inspect", "--cert-dir", tls_dir, ref).stdout)["Name"].endswith(repo)


def test_podman_pulls_and_pushes_with_a_certs_d_dir(
    tls_registry: Registry, skopeo_tls: Skopeo, tls_dir: Path, tmp_path: Path
) -> None:
    # A certs.d directory laid out as `dockyard tls init` says: HOST:PORT/ca.crt.
    certs = tmp_path / "certs.d" / tls_registry.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes((tls_dir / "ca.crt").read_bytes())
    repo = tls_registry.create_repo(f"tls/{uuid.uuid4().hex[:8]}")
    copy = tls_registry.create_repo(f"{repo}-copy")
    _push_layout(skopeo_tls, tls_registry, tls_dir, tmp_path, repo)
    podman = Podman(tmp_path / "podman", binary=require_tool("podman"))  # no insecure registries
    login = [
        podman.binary,
        *podman.global_flags,
        "login",
        "--cert-dir",
        certs,
        "--authfile",
        podman.auth_file,
    ]
    try:
        run(
            [*login, "-u", "AWS", "--password-stdin", tls_registry.host],
            env=podman.env,
            input=str(tls_registry.password),
        )
        podman.run("pull", "--cert-dir", certs, "--arch", "amd64", f"{tls_registry.host}/{repo}:v1")
        podman.run("tag", f"{tls_registry.host}/{repo}:v1", f"{tls_registry.host}/{copy}:v1")
        podman.run("push", "--cert-dir", certs, f"{tls_registry.host}/{copy}:v1")
    finally:
        podman.close()
    assert tls_registry.manifest(copy, "v1").status_code == 200


def test_aws_cli_with_ca_bundle(tls_registry: Registry) -> None:
    name = tls_registry.create_repo(f"tls/{uuid.uuid4().hex[:8]}")
    found = aws_cli(tls_registry, "describe-repositories", "--repository-names", name)  # --ca-bundle
    assert found["repositories"][0]["repositoryName"] == name
    token = aws_cli(tls_registry, "get-authorization-token")["authorizationData"][0]
    assert token["proxyEndpoint"] == f"https://{tls_registry.localhost}"
    # The /v2/ challenge names an https realm.
    with httpx.Client(verify=tls_registry.ssl_context, trust_env=False) as client:
        challenge = client.get(f"{tls_registry.url}/v2/").headers["www-authenticate"]
    assert f'realm="https://{tls_registry.host}/"' in challenge


def _user_keys(registry: Registry, name: str, policy: dict[str, Any]) -> tuple[str, str]:
    registry.cli("user", "create", name)
    path = registry.data_dir / f"policy-{name}.json"
    path.write_text(json.dumps(policy))
    registry.cli("iam", "attach-policy", "--user", name, "--policy-file", str(path), "--name", "p")
    out = registry.cli("key", "create", "--user", name).stdout
    values = dict(
        line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith("#")
    )
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def _pull_status(registry: Registry, password: str, repo: str) -> int:
    with httpx.Client(
        base_url=registry.url, auth=("AWS", password), verify=registry.ssl_context, trust_env=False
    ) as c:
        accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
        return c.get(f"/v2/{repo}/manifests/v1", headers={"Accept": accept}).status_code


def test_secure_transport_policy_allows_pulls_only_over_tls(
    tls_registry: Registry,
    skopeo_tls: Skopeo,
    tls_dir: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    repo = tls_registry.create_repo(f"tls/{uuid.uuid4().hex[:8]}")
    _push_layout(skopeo_tls, tls_registry, tls_dir, tmp_path, repo)
    user = f"tls-{uuid.uuid4().hex[:6]}"
    token_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
    }
    akid, secret = _user_keys(tls_registry, user, token_only)
    account = "000000000000"  # the server's default account
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullOverTlsOnly",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        ],
    }
    ecr_client(tls_registry).set_repository_policy(repositoryName=repo, policyText=json.dumps(policy))
    ecr = ecr_client(tls_registry, access_key_id=akid, secret_access_key=secret)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    assert _pull_status(tls_registry, password, repo) == 200
    credentials = (str(tls_registry.access_key_id), str(tls_registry.secret_access_key))
    plain_dir = tmp_path_factory.mktemp("plain-twin")
    with dockyard_server(
        plain_dir, data_dir=tls_registry.data_dir, storage=tls_registry.storage_env, credentials=credentials
    ) as plain:
        assert plain.url.startswith("http://")
        assert _pull_status(plain, password, repo) == 403
        plain_ecr = ecr_client(plain, access_key_id=akid, secret_access_key=secret)
        with pytest.raises(Exception, match="AccessDenied"):
            plain_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["images"]


def test_tls_with_several_workers(
    tls_registry: Registry, tls_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    credentials = (str(tls_registry.access_key_id), str(tls_registry.secret_access_key))
    with dockyard_server(
        tmp_path_factory.mktemp("tls-workers"),
        tls_dir=tls_dir,
        data_dir=tls_registry.data_dir,
        storage=tls_registry.storage_env,
        credentials=credentials,
        extra_args=["--workers", "2"],
    ) as supervised:
        assert supervised.url.startswith("https://")
        found = ecr_client(supervised).describe_repositories()["repositories"]
        assert isinstance(found, list)
        assert supervised.manifest("no/such-repo", "v1").status_code == 404
