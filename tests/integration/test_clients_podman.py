"""podman against Dockyard: build (FROM scratch + COPY), push, remove, pull back, pull by digest."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.clients import (
    ALL_MANIFEST_TYPES,
    Podman,
    Registry,
    sha256_digest,
    write_scratch_context,
)

pytestmark = pytest.mark.integration


def _push(podman: Podman, ref: str, tmp_path: Path, *flags: str) -> str:
    digest_file = tmp_path / f"digest-{uuid.uuid4().hex[:8]}"
    podman.run("push", "--tls-verify=false", "--digestfile", digest_file, *flags, ref)
    digest = digest_file.read_text().strip()
    assert digest.startswith("sha256:") and len(digest) == 71, digest
    return digest


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_build_push_pull(registry: Registry, podman: Podman, repo: str, tmp_path: Path, fmt: str) -> None:
    nonce = uuid.uuid4().hex
    ctx = write_scratch_context(
        tmp_path / "ctx",
        {"hello.txt": f"hello {nonce}\n".encode(), "data.bin": bytes(range(256)) * 64},
    )
    image = f"{registry.host}/{repo}"
    podman.run("build", "--format", "oci" if fmt == "oci" else "docker", "-t", f"{image}:v1", ctx)
    built = podman.inspect(f"{image}:v1")
    image_id = built["Id"]

    digest = _push(podman, f"{image}:v1", tmp_path, "--format", fmt)
    # The registry serves the manifest podman pushed, under the digest podman reports.
    assert registry.manifest_digest(repo, "v1") == digest
    with registry.http() as http:
        head = http.head(f"/v2/{repo}/manifests/{digest}", headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)})
        assert head.status_code == 200, head
        assert head.headers.get("Docker-Content-Digest") == digest
        manifest = registry.manifest(repo, digest).json()
        for desc in [manifest["config"], *manifest["layers"]]:
            blob = http.get(f"/v2/{repo}/blobs/{desc['digest']}")
            assert blob.status_code == 200, (desc, blob.status_code)
            assert sha256_digest(blob.content) == desc["digest"]
            assert len(blob.content) == desc["size"]
    # The image ID is the config digest, so it survives the push.
    assert manifest["config"]["digest"] == f"sha256:{image_id}"

    podman.run("rmi", "--force", f"{image}:v1")
    assert not podman.exists(f"{image}:v1")

    podman.run("pull", "--tls-verify=false", f"{image}:v1")
    pulled = podman.inspect(f"{image}:v1")
    assert pulled["Id"] == image_id
    assert pulled["Digest"] == digest
    assert f"{image}@{digest}" in pulled["RepoDigests"], pulled["RepoDigests"]

    # A second tag of the same image: the registry lists both and serves the same manifest.
    podman.run("tag", f"{image}:v1", f"{image}:v2")
    digest2 = _push(podman, f"{image}:v2", tmp_path, "--format", fmt)
    assert registry.manifest_digest(repo, "v2") == digest2
    with registry.http() as http:
        tags = http.get(f"/v2/{repo}/tags/list")
        assert tags.status_code == 200, tags.text
        assert tags.json() == {"name": repo, "tags": ["v1", "v2"]}

    # Pull by digest, with nothing of the image left locally.
    podman.run("rmi", "--force", image_id)
    assert not podman.exists(image_id)
    podman.run("pull", "--tls-verify=false", f"{image}@{digest2}")
    by_digest = podman.inspect(f"{image}@{digest2}")
    assert by_digest["Id"] == image_id
    assert by_digest["Digest"] == digest2
    podman.run("rmi", "--force", image_id)


def test_pull_unknown_tag_fails(registry: Registry, podman: Podman, repo: str) -> None:
    result = podman.run("pull", "--tls-verify=false", f"{registry.host}/{repo}:does-not-exist", check=False)
    assert result.returncode != 0, result.describe()
    text = result.stderr.lower().replace("_", " ")
    assert "manifest unknown" in text or "not found" in text, result.describe()
