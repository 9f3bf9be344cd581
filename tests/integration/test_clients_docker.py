"""The docker CLI against Dockyard, through ``podman system service`` (no Docker engine here).

The registry is addressed as ``localhost:PORT``: through the podman service, the docker CLI only
falls back to plain HTTP for ``localhost``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.clients import DockerCLI, Registry, sha256_digest, write_scratch_context

pytestmark = pytest.mark.integration


def test_build_tag_push_pull(registry: Registry, docker_cli: DockerCLI, repo: str, tmp_path: Path) -> None:
    nonce = uuid.uuid4().hex
    ctx = write_scratch_context(
        tmp_path / "ctx", {"greeting.txt": f"hi {nonce}\n".encode()}, dockerfile="Dockerfile"
    )
    local = f"dockyard-it-{nonce[:12]}:latest"
    docker_cli.run("build", "-t", local, ctx)
    image_id = docker_cli.inspect(local)["Id"]

    image = f"{registry.localhost}/{repo}"
    docker_cli.run("tag", local, f"{image}:v1")
    docker_cli.run("tag", local, f"{image}:v2")
    push = docker_cli.run("push", f"{image}:v1")
    docker_cli.run("push", f"{image}:v2")

    # The registry (asked over HTTP on 127.0.0.1) has the manifest; its digest is the one to find.
    digest = registry.manifest_digest(repo, "v1")
    assert registry.manifest_digest(repo, "v2") == digest
    if "digest:" in push.stdout:
        assert digest in push.stdout, push.describe()
    manifest = registry.manifest(repo, digest).json()
    # The image ID is the config digest (the API may give it with or without "sha256:").
    assert manifest["config"]["digest"].removeprefix("sha256:") == image_id.removeprefix("sha256:")
    with registry.http() as http:
        for desc in manifest["layers"]:
            blob = http.get(f"/v2/{repo}/blobs/{desc['digest']}")
            assert blob.status_code == 200, (desc, blob.status_code)
            assert sha256_digest(blob.content) == desc["digest"]
        tags = http.get(f"/v2/{repo}/tags/list")
        assert tags.status_code == 200, tags.text
        assert sorted(tags.json()["tags"]) == ["v1", "v2"]

    docker_cli.run("rmi", "--force", local, f"{image}:v1", f"{image}:v2")
    assert docker_cli.run("image", "inspect", f"{image}:v1", check=False).returncode != 0

    docker_cli.run("pull", f"{image}:v1")
    pulled = docker_cli.inspect(f"{image}:v1")
    assert pulled["Id"].removeprefix("sha256:") == image_id.removeprefix("sha256:")
    assert f"{image}@{digest}" in (pulled.get("RepoDigests") or []), pulled.get("RepoDigests")

    docker_cli.run("rmi", "--force", f"{image}:v1")
    docker_cli.run("pull", f"{image}@{digest}")
    by_digest = docker_cli.inspect(f"{image}@{digest}")
    assert by_digest["Id"].removeprefix("sha256:") == image_id.removeprefix("sha256:")
    assert f"{image}@{digest}" in (by_digest.get("RepoDigests") or []), by_digest.get("RepoDigests")
    docker_cli.run("rmi", "--force", image_id)
