"""The ORAS Python SDK against Dockyard: artifacts with an artifactType, referrers (``subject``) and the
referrers API with its artifactType filter."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import oras.oci
import pytest

from tests.integration.clients import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Registry, oras_client, sha256_digest

pytestmark = pytest.mark.integration

ARTIFACT_TYPE = "application/vnd.dockyard.test.artifact.v1"
SIGNATURE_TYPE = "application/vnd.dockyard.test.signature.v1"
SBOM_CONFIG_TYPE = "application/vnd.dockyard.test.sbom.config.v1+json"
FILE_TYPE = "application/vnd.dockyard.test.file.v1"


def _upload_blob(http: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256_digest(data)
    start = http.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, (start.status_code, start.text)
    location = start.headers["Location"]
    put = http.put(
        location,
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 201, (put.status_code, put.text)
    return digest


def _put_manifest(
    http: httpx.Client, repo: str, reference: str | None, manifest: dict[str, Any]
) -> httpx.Response:
    body = json.dumps(manifest, separators=(",", ":")).encode()
    ref = reference or sha256_digest(body)
    return http.put(f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": OCI_MANIFEST})


def _push_artifact(registry: Registry, repo: str, tmp_path: Path) -> tuple[dict[str, Any], bytes]:
    """Push an artifact with the SDK; return its manifest descriptor and the file's content."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    payload = f"artifact payload {uuid.uuid4().hex}\n".encode()
    (tmp_path / "payload.txt").write_bytes(payload)
    (tmp_path / "empty.json").write_bytes(b"{}")
    client = oras_client(registry, artifact_type=ARTIFACT_TYPE)
    resp = client.push(
        target=f"{registry.host}/{repo}:artifact",
        files=[f"{tmp_path / 'payload.txt'}:{FILE_TYPE}"],
        manifest_config=f"{tmp_path / 'empty.json'}:{OCI_EMPTY}",
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201, (resp.status_code, resp.text)
    r = registry.manifest(repo, "artifact", accept=[OCI_MANIFEST])
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == OCI_EMPTY
    digest = sha256_digest(r.content)
    assert resp.headers.get("Docker-Content-Digest") in (None, digest)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(r.content)}, payload


def test_push_and_pull_artifact(registry: Registry, repo: str, tmp_path: Path) -> None:
    subject, payload = _push_artifact(registry, repo, tmp_path / "push")
    out = tmp_path / "pull"
    out.mkdir()
    files = oras_client(registry).pull(target=f"{registry.host}/{repo}:artifact", outdir=str(out))
    assert [Path(f).name for f in files] == ["payload.txt"]
    assert (out / "payload.txt").read_bytes() == payload
    # Referrers of an artifact nobody refers to: an empty index, not a 404.
    with registry.http() as http:
        r = http.get(f"/v2/{repo}/referrers/{subject['digest']}")
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"].split(";")[0] == OCI_INDEX
        assert r.json()["manifests"] == []


def test_referrers(registry: Registry, repo: str, tmp_path: Path) -> None:
    subject, _ = _push_artifact(registry, repo, tmp_path)

    # A signature-like referrer pushed with the SDK: artifactType set, subject = the artifact.
    sig_file = tmp_path / "sig.txt"
    sig_file.write_bytes(f"signature {uuid.uuid4().hex}".encode())
    client = oras_client(registry, artifact_type=SIGNATURE_TYPE)
    resp = client.push(
        target=f"{registry.host}/{repo}:signature",
        files=[f"{sig_file}:{FILE_TYPE}"],
        manifest_config=f"{tmp_path / 'empty.json'}:{OCI_EMPTY}",
        manifest_annotations={"org.dockyard.test.kind": "signature"},
        subject=oras.oci.Subject(**subject),
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201, (resp.status_code, resp.text)
    # A registry that processed the subject says so.
    assert resp.headers.get("OCI-Subject") == subject["digest"], dict(resp.headers)
    sig = registry.manifest(repo, "signature", accept=[OCI_MANIFEST])
    assert sig.json()["subject"] == subject
    sig_desc = {"digest": sha256_digest(sig.content), "size": len(sig.content)}

    with registry.http() as http:
        # An SBOM-like referrer pushed untagged, by digest, without artifactType: the
        # referrers API must report its config media type as its artifactType.
        config_data = b'{"sbom":true}'
        layer_data = f"sbom {uuid.uuid4().hex}".encode()
        config = _upload_blob(http, repo, config_data)
        layer = _upload_blob(http, repo, layer_data)
        sbom = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": SBOM_CONFIG_TYPE, "digest": config, "size": len(config_data)},
            "layers": [{"mediaType": FILE_TYPE, "digest": layer, "size": len(layer_data)}],
            "subject": subject,
            "annotations": {"org.dockyard.test.kind": "sbom"},
        }
        put = _put_manifest(http, repo, None, sbom)
        assert put.status_code == 201, (put.status_code, put.text)
        assert put.headers.get("OCI-Subject") == subject["digest"], dict(put.headers)
        sbom_body = json.dumps(sbom, separators=(",", ":")).encode()
        sbom_desc = {"digest": sha256_digest(sbom_body), "size": len(sbom_body)}

        r = http.get(f"/v2/{repo}/referrers/{subject['digest']}")
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"].split(";")[0] == OCI_INDEX
        index = r.json()
        assert index["schemaVersion"] == 2
        assert index["mediaType"] == OCI_INDEX
        by_digest = {m["digest"]: m for m in index["manifests"]}
        assert set(by_digest) == {sig_desc["digest"], sbom_desc["digest"]}, index
        assert by_digest[sig_desc["digest"]] == {
            "mediaType": OCI_MANIFEST,
            "digest": sig_desc["digest"],
            "size": sig_desc["size"],
            "artifactType": SIGNATURE_TYPE,
            "annotations": {"org.dockyard.test.kind": "signature"},
        }
        assert by_digest[sbom_desc["digest"]] == {
            "mediaType": OCI_MANIFEST,
            "digest": sbom_desc["digest"],
            "size": sbom_desc["size"],
            "artifactType": SBOM_CONFIG_TYPE,
            "annotations": {"org.dockyard.test.kind": "sbom"},
        }

        # Filtering by artifactType, which the registry must say it applied.
        r = http.get(f"/v2/{repo}/referrers/{subject['digest']}", params={"artifactType": SIGNATURE_TYPE})
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers.get("OCI-Filters-Applied") == "artifactType", dict(r.headers)
        assert [m["digest"] for m in r.json()["manifests"]] == [sig_desc["digest"]]

        r = http.get(f"/v2/{repo}/referrers/{subject['digest']}", params={"artifactType": SBOM_CONFIG_TYPE})
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers.get("OCI-Filters-Applied") == "artifactType", dict(r.headers)
        assert [m["digest"] for m in r.json()["manifests"]] == [sbom_desc["digest"]]

        r = http.get(
            f"/v2/{repo}/referrers/{subject['digest']}", params={"artifactType": "application/x-none"}
        )
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json()["manifests"] == []

        # Deleting a referrer removes it from the list.
        d = http.delete(f"/v2/{repo}/manifests/{sbom_desc['digest']}")
        assert d.status_code == 202, (d.status_code, d.text)
        r = http.get(f"/v2/{repo}/referrers/{subject['digest']}")
        assert [m["digest"] for m in r.json()["manifests"]] == [sig_desc["digest"]]


def test_referrers_of_unknown_digest(registry: Registry, repo: str) -> None:
    with registry.http() as http:
        r = http.get(f"/v2/{repo}/referrers/{sha256_digest(uuid.uuid4().bytes)}")
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        r = http.get(f"/v2/{repo}/referrers/sha256:not-a-digest")
        assert r.status_code == 400, (r.status_code, r.text)
