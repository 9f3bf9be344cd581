"""A full disk with a real server (issue 16, defect 4): its data dir on a small tmpfs, a push that
would eat into the last --min-free-mib gets a retryable 503 UNAVAILABLE with Retry-After, its
session's space is released at once, /readyz and /metrics show the low space, and once space
is freed the same pushes succeed without a restart; `dockyard fsck` then finds it clean."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import clients
from tests.integration.clients import Registry, dockyard_server

MiB = 1024 * 1024


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    if clients.backend() != "sqlite":
        pytest.skip("the blob store is object storage: its space is not the server's volume")
    path = tmp_path / "vol"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_to(path: Path, free_mib: float) -> Path:
    filler = path / f"filler-{uuid.uuid4().hex[:6]}"
    st = os.statvfs(path)
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize - int(free_mib * MiB))
    return filler


def assert_retryable(r: object) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "60"
    assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert "storage is full" in r.json()["errors"][0]["message"]


def test_full_disk_then_space_returns(volume: Path) -> None:
    with dockyard_server(volume / "server", extra_args=["--min-free-mib", "8"]) as node:
        repo = node.create_repo(f"disk/{uuid.uuid4().hex[:8]}")
        chunked, whole = os.urandom(20 * MiB), os.urandom(12 * MiB)
        filler = fill_to(volume, 24)
        with node.http() as http:
            # A chunked push: the PATCH that would cross the floor fails, and its session is over.
            r = http.post(f"/v2/{repo}/blobs/uploads/")
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
            assert_retryable(http.patch(location, content=chunked))
            assert http.get(location).status_code == 404  # BLOB_UPLOAD_UNKNOWN: start again
            # A monolithic push after it fails the same way (the failed one left no bytes behind).
            assert_retryable(
                http.post(
                    f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(whole)}, content=whole * 2
                )
            )
            assert http.get("/readyz").status_code == 200  # the failed pushes released their space

            low = fill_to(volume, 4)
            ready = http.get("/readyz")
            assert ready.status_code == 503 and "low disk space" in ready.text, ready.text
            metrics = http.get("/metrics").text
            assert 'dockyard_storage_free_bytes{volume="blobs"}' in metrics
            assert "dockyard_storage_min_free_bytes 8.388608e+06" in metrics

            low.unlink()
            filler.unlink()  # space returns: the same server takes the same pushes
            assert http.get("/readyz").status_code == 200
            r = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(whole)}, content=whole)
            assert r.status_code == 201, r.text
            r = http.post(f"/v2/{repo}/blobs/uploads/")
            location = r.headers["Location"]
            r = http.patch(location, content=chunked)
            assert r.status_code == 202, r.text
            r = http.put(r.headers["Location"], params={"digest": digest_of(chunked)})
            assert r.status_code == 201, r.text
            config = b'{"architecture": "amd64", "os": "linux"}'
            assert (
                http.post(
                    f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(config)}, content=config
                ).status_code
                == 201
            )
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": digest_of(config),
                        "size": len(config),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": digest_of(b),
                            "size": len(b),
                        }
                        for b in (whole, chunked)
                    ],
                }
            ).encode()
            r = http.put(
                f"/v2/{repo}/manifests/v1",
                content=manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert r.status_code == 201, r.text
            assert http.get(f"/v2/{repo}/blobs/{digest_of(chunked)}").content == chunked
        check_fsck(node)


def check_fsck(node: Registry) -> None:
    result = node.cli("fsck", "--full", "--json", check=False)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["clean"] and not report["findings"], result.stdout
    assert report["checked"]["blobs hashed"] == report["checked"]["blobs"] >= 3
