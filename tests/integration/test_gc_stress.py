"""GC and lifecycle under load: pushers and pullers hammer /v2/ for a bounded time while
`dockyard gc --grace-hours 0` and `dockyard lifecycle run` (a count rule) loop beside them.

Grace 0 lets GC take links a push has uploaded but not yet referenced: the push's manifest
PUT must then fail with MANIFEST_BLOB_UNKNOWN (the pusher re-uploads and retries), never
store a manifest pointing at missing bytes. Afterwards every image reported pushed and not
expired pulls back byte-identical, and after a final quiet GC no blob row lacks a link and
no stored object lacks a blob row. A server of its own, so grace 0 touches no other test."""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration import clients
from tests.integration.clients import Registry
from tests.integration.ecrtools import ecr_client

DURATION = float(os.environ.get("DOCKYARD_STRESS_SECONDS", "25"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
KEEP = 4


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pushed:
    repo: str
    tag: str
    digest: str
    manifest: bytes
    blobs: dict[str, bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir: Path = tmp_path_factory.mktemp("dockyard-gc-stress")
    with clients.dockyard_server(workdir, extra_args=["--lifecycle-interval-minutes", "1440"]) as reg:
        # The scheduler runs each periodic task once at startup; let that lifecycle scan finish
        # before any policy exists, so only this test's `lifecycle run` calls expire images.
        deadline = time.monotonic() + 60
        while not reg.sql("SELECT 1 FROM jobs WHERE kind = 'lifecycle-scan' AND status = 'done'"):
            assert time.monotonic() < deadline, f"the startup lifecycle scan did not finish\n{reg.log_tail()}"
            time.sleep(0.2)
        yield reg


class Load:
    def __init__(self, reg: Registry, repos: list[str]) -> None:
        self.reg = reg
        self.repos = repos
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.pushed: list[Pushed] = []
        self.errors: list[str] = []
        self.retries = 0
        self.pulls = 0

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def push_one(self, client: httpx.Client, rng: random.Random, repo: str, base: bytes, n: int) -> None:
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": rng.getrandbits(64)}).encode()
        layers = [base, rng.randbytes(rng.randint(100, 20000))]
        blobs = {sha(b): b for b in (config, *layers)}
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": sha(x), "size": len(x)} for x in layers],
            }
        ).encode()
        tag = f"t-{threading.get_ident() % 100000}-{n}"
        for _attempt in range(10):
            for digest, data in blobs.items():
                # Like real clients: skip blobs the repository says it has (GC may take them next).
                if client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
                    continue
                r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
                if r.status_code == 202:
                    r = client.put(r.headers["Location"], params={"digest": digest}, content=data)
                if r.status_code != 201:
                    return self.error(f"upload {repo} {digest}: {r.status_code} {r.text[:300]}")
            r = client.put(
                f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
            )
            if r.status_code == 201:
                with self.lock:
                    self.pushed.append(Pushed(repo, tag, sha(body), body, blobs))
                return None
            codes = [e.get("code") for e in r.json().get("errors", [])] if r.status_code == 400 else []
            if "MANIFEST_BLOB_UNKNOWN" not in codes:
                return self.error(f"manifest {repo}:{tag}: {r.status_code} {r.text[:300]}")
            with self.lock:
                self.retries += 1
        return self.error(f"manifest {repo}:{tag}: MANIFEST_BLOB_UNKNOWN after 10 attempts")

    def pusher(self, seed: int) -> None:
        rng = random.Random(seed)
        base = rng.randbytes(4096)  # a layer every image of this pusher shares
        with self.reg.http() as client:
            n = 0
            while not self.stop.is_set():
                self.push_one(client, rng, rng.choice(self.repos), base, n)
                n += 1

    def puller(self, seed: int) -> None:
        rng = random.Random(seed)
        with self.reg.http() as client:
            while not self.stop.is_set():
                with self.lock:
                    image = rng.choice(self.pushed) if self.pushed else None
                if image is None:
                    time.sleep(0.05)
                    continue
                self.pull(client, image, tolerate_expiry=True)
                with self.lock:
                    self.pulls += 1

    def pull(self, client: httpx.Client, image: Pushed, *, tolerate_expiry: bool) -> bool:
        """Pull ``image`` and compare every byte; False when it is gone (expired)."""
        r = client.get(f"/v2/{image.repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST})
        if r.status_code == 404 and tolerate_expiry:
            return False
        if r.status_code != 200 or r.content != image.manifest:
            self.error(f"manifest {image.repo}@{image.digest}: {r.status_code} {r.text[:200]}")
            return False
        for digest, data in image.blobs.items():
            b = client.get(f"/v2/{image.repo}/blobs/{digest}", follow_redirects=True)
            if b.status_code == 200 and b.content == data:
                continue
            again = client.head(
                f"/v2/{image.repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
            )
            if tolerate_expiry and b.status_code == 404 and again.status_code == 404:
                return False  # expired between the manifest and this blob
            self.error(
                f"blob {image.repo} {digest} of {image.digest}: {b.status_code}, bytes equal: "
                f"{b.content == data}"
            )
        return True


def stored_blob_keys(server: Registry) -> tuple[str, set[str]]:
    """Where the server keeps blob bytes, and the storage keys of every blob stored there
    (upload sessions' scratch objects left out): the files under the data dir's store, or
    the objects in the S3 bucket (under its prefix) when the backend is postgres-s3."""
    url = server.storage_env.get("DOCKYARD_BLOB_STORE")
    if clients.backend() == "sqlite":
        assert url is None, url
        root = server.data_dir / "blobs" / "blobs"
        return str(root), {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert url is not None and url.startswith("s3://"), f"postgres-s3 server without an S3 store: {url}"
    import boto3

    from dockyard.store.blobs.s3 import S3Location

    location = S3Location.parse(url)
    s3 = boto3.client(
        "s3",
        endpoint_url=location.endpoint_url,
        region_name=location.region,
        aws_access_key_id=server.storage_env.get("DOCKYARD_S3_ACCESS_KEY_ID"),
        aws_secret_access_key=server.storage_env.get("DOCKYARD_S3_SECRET_ACCESS_KEY"),
    )
    listed: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.prefix):
        listed |= {obj["Key"] for obj in page.get("Contents", [])}
    # Storage keys are the full object keys (prefix included); sessions' tails live under uploads/.
    return f"s3://{location.bucket}/{location.prefix}", {
        key for key in listed if not key.startswith(f"{location.prefix}uploads/")
    }


def test_gc_and_lifecycle_under_load(server: Registry) -> None:
    ecr = ecr_client(server)
    repos = [server.create_repo(f"stress/{name}") for name in ("one", "two")]
    rule = {
        "rulePriority": 1,
        "description": "keep a few",
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": ["t-"],
            "countType": "imageCountMoreThan",
            "countNumber": KEEP,
        },
        "action": {"type": "expire"},
    }
    ecr.put_lifecycle_policy(repositoryName=repos[0], lifecyclePolicyText=json.dumps({"rules": [rule]}))

    load = Load(server, repos)
    threads = [threading.Thread(target=load.pusher, args=(i,), daemon=True) for i in range(3)]
    threads += [threading.Thread(target=load.puller, args=(100 + i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    expired: set[str] = set()
    gc_runs = 0
    deadline = time.monotonic() + DURATION
    try:
        # At least two rounds however slow the machine: GC and lifecycle must overlap the load.
        while time.monotonic() < deadline or gc_runs < 2:
            server.cli("gc", "--grace-hours", "0")
            gc_runs += 1
            out = server.cli("lifecycle", "run").stdout
            expired |= {line.split()[1] for line in out.splitlines() if line.startswith("EXPIRED ")}
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not load.errors, "\n".join(load.errors[:20])
    assert len(load.pushed) > 10 and gc_runs >= 2, (len(load.pushed), gc_runs)
    assert expired, "the count rule expired nothing"

    def check_all() -> None:
        with server.http() as client:
            for image in load.pushed:
                if image.digest not in expired:
                    assert load.pull(client, image, tolerate_expiry=False), "\n".join(load.errors[:20])
                else:
                    r = client.get(
                        f"/v2/{image.repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
                    )
                    assert r.status_code == 404, image
        assert not load.errors, "\n".join(load.errors[:20])

    check_all()
    # A final collection with no traffic: nothing unreferenced is left, in the database or the store.
    server.cli("gc", "--grace-hours", "0")
    check_all()
    assert (
        server.sql(
            "SELECT digest FROM blobs b WHERE NOT EXISTS "
            "(SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)"
        )
        == []
    )
    assert (
        server.sql(
            "SELECT rb.digest FROM repository_blobs rb WHERE NOT EXISTS (SELECT 1 FROM manifest_blobs mb "
            "JOIN manifests m ON m.id = mb.manifest_id WHERE m.repository_id = rb.repository_id "
            "AND mb.digest = rb.digest)"
        )
        == []
    )
    assert server.sql("SELECT storage_key FROM blob_tombstones") == []
    # And the consistency checker agrees: every row's bytes hash right, nothing dangles.
    result = server.cli("fsck", "--full", "--json", check=False)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["clean"] and report["errors"] == 0, result.stdout
    assert report["checked"]["blobs hashed"] == report["checked"]["blobs"] > 0, report["checked"]
    keys = {row[0] for row in server.sql("SELECT storage_key FROM blobs")}
    where, stored = stored_blob_keys(server)
    assert stored, f"nothing listed in {where}"
    assert stored - keys == set(), f"objects no blob row names: {sorted(stored - keys)[:10]}"
    assert keys - stored == set(), f"blob rows without bytes: {sorted(keys - stored)[:10]}"
    print(
        f"{where}: {len(stored)} blobs stored, pushed {len(load.pushed)}, expired {len(expired)}, "
        f"pulls {load.pulls}, "
        f"MANIFEST_BLOB_UNKNOWN retries {load.retries}, gc runs {gc_runs}"
    )
