"""Clients against an authenticating Dockyard: ECR-style `login -u AWS -p <token>` is required, and
a wrong token or no login is refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.clients import DockerCLI, Podman, Registry, Skopeo, build_oci_layout, sha256_digest

pytestmark = pytest.mark.integration


@pytest.fixture
def authenticating(registry: Registry) -> Registry:
    if not registry.has_credentials:
        pytest.skip("this server runs without authentication")
    return registry


def _refused(text: str) -> bool:
    text = text.lower()
    words = ("unauthorized", "authentication required", "401", "invalid username/password")
    return any(w in text for w in words)


def test_skopeo_needs_login(
    authenticating: Registry,
    skopeo: Skopeo,
    repo: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    reg = authenticating
    layout = build_oci_layout(tmp_path / "layout", nonce=uuid.uuid4().hex)
    dest = f"docker://{reg.host}/{repo}:v1"

    anonymous = Skopeo(tmp_path_factory.mktemp("skopeo-anon"), binary=skopeo.binary)
    result = anonymous.copy(f"oci:{layout.path}:v1", dest, "--all", "--preserve-digests", check=False)
    assert result.returncode != 0, result.describe()
    assert _refused(result.stderr), result.describe()

    wrong = anonymous.run(
        "login", "--tls-verify=false", "-u", "AWS", "-p", "not-a-token", reg.host, check=False
    )
    assert wrong.returncode != 0, wrong.describe()

    # The logged-in client (the session fixture) can push, and the anonymous one still cannot read.
    skopeo.copy(f"oci:{layout.path}:v1", dest, "--all", "--preserve-digests")
    assert sha256_digest(skopeo.inspect_raw(dest)) == layout.index.digest
    result = anonymous.run("inspect", "--raw", "--tls-verify=false", dest, check=False)
    assert result.returncode != 0 and _refused(result.stderr), result.describe()


def test_podman_login_logout(
    authenticating: Registry, podman: Podman, repo: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    reg = authenticating
    other = Podman(tmp_path_factory.mktemp("podman-auth"), insecure_hosts=[reg.host], binary=podman.binary)
    try:
        wrong = other.run(
            "login", "--tls-verify=false", "-u", "AWS", "-p", "not-a-token", reg.host, check=False
        )
        assert wrong.returncode != 0, wrong.describe()
        reg.login(other)
        listed = other.run("search", "--tls-verify=false", "--list-tags", f"{reg.host}/{repo}", check=False)
        assert listed.returncode == 0, listed.describe()
        other.run("logout", reg.host)
        after = other.run("search", "--tls-verify=false", "--list-tags", f"{reg.host}/{repo}", check=False)
        assert after.returncode != 0, after.describe()
    finally:
        other.close()


def test_docker_login_rejects_a_wrong_token(authenticating: Registry, docker_cli: DockerCLI) -> None:
    result = docker_cli.run(
        "login", "-u", "AWS", "-p", "not-a-token", f"localhost:{authenticating.port}", check=False
    )
    assert result.returncode != 0, result.describe()
