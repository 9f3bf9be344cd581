"""skopeo against Dockyard: multi-arch OCI images pushed and pulled unchanged, Docker schema 2
conversion, tags, copies by digest, and pushes to unknown repositories."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.clients import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    OCILayout,
    Registry,
    Skopeo,
    build_oci_layout,
    layout_ref,
    read_layout_blobs,
    sha256_digest,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def layout(tmp_path: Path) -> OCILayout:
    return build_oci_layout(tmp_path / "src-layout", tag="v1", nonce=uuid.uuid4().hex)


def test_multiarch_oci_round_trip(
    registry: Registry, skopeo: Skopeo, repo: str, layout: OCILayout, tmp_path: Path
) -> None:
    dest = f"docker://{registry.host}/{repo}:v1"
    skopeo.copy(f"oci:{layout.path}:v1", dest, "--all", "--preserve-digests")

    # The index is stored byte for byte: same digest through skopeo and over HTTP.
    raw = skopeo.inspect_raw(dest)
    assert sha256_digest(raw) == layout.index.digest, raw.decode(errors="replace")
    assert raw == layout.index.data
    r = registry.manifest(repo, "v1")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == OCI_INDEX
    assert r.headers.get("Docker-Content-Digest") == layout.index.digest
    assert r.content == layout.index.data

    # Each platform manifest is reachable by digest, unchanged.
    for img in layout.images:
        raw = skopeo.inspect_raw(f"docker://{registry.host}/{repo}@{img.manifest.digest}")
        assert raw == img.manifest.data, f"{img.architecture}: {raw!r}"

    # Copy it back out to a new layout: every blob comes back with the same digest.
    out = tmp_path / "out-layout"
    skopeo.copy(dest, f"oci:{out}:v1", "--all", "--preserve-digests")
    assert layout_ref(out, "v1")["digest"] == layout.index.digest
    pulled = read_layout_blobs(out)
    assert set(pulled) == set(layout.blobs), (
        f"missing: {set(layout.blobs) - set(pulled)}; unexpected: {set(pulled) - set(layout.blobs)}"
    )
    for digest, data in layout.blobs.items():
        assert pulled[digest] == data, digest


def test_list_tags_and_copy_by_digest(
    registry: Registry, skopeo: Skopeo, new_repo: Callable[..., str], layout: OCILayout, tmp_path: Path
) -> None:
    repo = new_repo()
    other = new_repo("other")
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://{registry.host}/{repo}:v1", "--all", "--preserve-digests")

    # Copy by digest: the whole index to a new tag in the same repository and into another one.
    by_digest = f"docker://{registry.host}/{repo}@{layout.index.digest}"
    skopeo.copy(by_digest, f"docker://{registry.host}/{repo}:v2", "--all", "--preserve-digests")
    skopeo.copy(by_digest, f"docker://{registry.host}/{other}:copied", "--all", "--preserve-digests")
    assert sorted(skopeo.list_tags(f"docker://{registry.host}/{repo}")) == ["v1", "v2"]
    assert skopeo.list_tags(f"docker://{registry.host}/{other}") == ["copied"]
    for ref in (f"{repo}:v2", f"{other}:copied"):
        raw = skopeo.inspect_raw(f"docker://{registry.host}/{ref}")
        assert sha256_digest(raw) == layout.index.digest, ref

    # A single platform image, pulled by its manifest digest.
    arm = next(img for img in layout.images if img.architecture == "arm64")
    out = tmp_path / "arm64"
    skopeo.copy(
        f"docker://{registry.host}/{repo}@{arm.manifest.digest}", f"oci:{out}:arm", "--preserve-digests"
    )
    assert layout_ref(out, "arm")["digest"] == arm.manifest.digest
    blobs = read_layout_blobs(out)
    assert set(blobs) == {arm.manifest.digest, arm.config.digest, *(layer.digest for layer in arm.layers)}

    # skopeo inspect (not raw) of the index: "Digest" is the index's, the rest the chosen platform's.
    info = skopeo.run(
        "inspect", "--tls-verify=false", f"docker://{registry.host}/{repo}:v1", arch="arm64"
    ).json()
    assert info["Digest"] == layout.index.digest, info
    assert info["Architecture"] == "arm64"
    assert info["Layers"] == [layer.digest for layer in arm.layers]


def test_docker_schema2_round_trip(
    registry: Registry, skopeo: Skopeo, repo: str, layout: OCILayout, tmp_path: Path
) -> None:
    amd = next(img for img in layout.images if img.architecture == "amd64")
    dest = f"docker://{registry.host}/{repo}:v1"
    skopeo.copy(f"oci:{layout.path}:v1", dest, "--format", "v2s2", arch="amd64")

    raw = skopeo.inspect_raw(dest)
    manifest = json.loads(raw)
    assert manifest["mediaType"] == DOCKER_MANIFEST, manifest
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER_GZIP]
    # Only the media types change: the layer (and its gzip) is the same blob.
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in amd.layers]
    digest = sha256_digest(raw)

    # Over HTTP the stored manifest keeps its Docker type and digest.
    r = registry.manifest(repo, "v1", accept=[DOCKER_MANIFEST, OCI_MANIFEST])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == DOCKER_MANIFEST
    assert r.headers.get("Docker-Content-Digest") == digest
    assert r.content == raw
    with registry.http() as http:
        cfg = http.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}")
        assert cfg.status_code == 200, cfg.text
        assert sha256_digest(cfg.content) == manifest["config"]["digest"]
        assert json.loads(cfg.content)["architecture"] == "amd64"

    # Back out unchanged (dir: keeps the manifest as served) ...
    out = tmp_path / "dir-out"
    skopeo.copy(dest, f"dir:{out}", "--preserve-digests")
    assert sha256_digest((out / "manifest.json").read_bytes()) == digest
    for layer in amd.layers:
        assert sha256_digest((out / layer.digest.removeprefix("sha256:")).read_bytes()) == layer.digest

    # ... and converted back to OCI into a layout, with the same layer.
    oci_out = tmp_path / "oci-out"
    skopeo.copy(dest, f"oci:{oci_out}:v1", "--format", "oci")
    desc = layout_ref(oci_out, "v1")
    assert desc["mediaType"] == OCI_MANIFEST
    blobs = read_layout_blobs(oci_out)
    back = json.loads(blobs[desc["digest"]])
    assert [layer["digest"] for layer in back["layers"]] == [layer.digest for layer in amd.layers]


def test_docker_manifest_list(registry: Registry, skopeo: Skopeo, repo: str, layout: OCILayout) -> None:
    dest = f"docker://{registry.host}/{repo}:list"
    skopeo.copy(f"oci:{layout.path}:v1", dest, "--all", "--format", "v2s2")
    raw = skopeo.inspect_raw(dest)
    listing = json.loads(raw)
    assert listing["mediaType"] == DOCKER_MANIFEST_LIST, listing
    archs = sorted(m["platform"]["architecture"] for m in listing["manifests"])
    assert archs == ["amd64", "arm64"]
    for desc in listing["manifests"]:
        assert desc["mediaType"] == DOCKER_MANIFEST
        child = skopeo.inspect_raw(f"docker://{registry.host}/{repo}@{desc['digest']}")
        assert sha256_digest(child) == desc["digest"]
        assert len(child) == desc["size"]
    r = registry.manifest(repo, "list", accept=[DOCKER_MANIFEST_LIST, DOCKER_MANIFEST])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == DOCKER_MANIFEST_LIST
    assert r.headers.get("Docker-Content-Digest") == sha256_digest(raw)


def _mentions_name_unknown(text: str) -> bool:
    return "name unknown" in text.lower().replace("_", " ")


def test_push_to_unknown_repository_fails(registry: Registry, skopeo: Skopeo, layout: OCILayout) -> None:
    repo = f"it/never-created-{uuid.uuid4().hex[:8]}"
    result = skopeo.copy(
        f"oci:{layout.path}:v1",
        f"docker://{registry.host}/{repo}:v1",
        "--all",
        "--preserve-digests",
        check=False,
    )
    assert result.returncode != 0, result.describe()
    assert _mentions_name_unknown(result.stderr), result.describe()

    with registry.http() as http:
        r = http.post(f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 404, (r.status_code, r.text)
        assert [e["code"] for e in r.json()["errors"]] == ["NAME_UNKNOWN"], r.text
        r = http.get(f"/v2/{repo}/tags/list")
        assert r.status_code == 404, (r.status_code, r.text)
        assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN", r.text


def test_push_creates_repository_with_create_on_push(
    registry_create_on_push: Registry, skopeo: Skopeo, layout: OCILayout
) -> None:
    reg = registry_create_on_push
    reg.login(skopeo)
    repo = f"it/created-on-push-{uuid.uuid4().hex[:8]}"
    dest = f"docker://{reg.host}/{repo}:v1"
    skopeo.copy(f"oci:{layout.path}:v1", dest, "--all", "--preserve-digests")
    assert sha256_digest(skopeo.inspect_raw(dest)) == layout.index.digest
    assert skopeo.list_tags(f"docker://{reg.host}/{repo}") == ["v1"]
    assert reg.manifest_digest(repo, "v1") == layout.index.digest
