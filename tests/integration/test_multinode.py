"""Several stateless nodes on one PostgreSQL database and one S3 bucket.

No sticky sessions: an upload started on one node continues on another, a node
killed with SIGKILL loses nothing, and its background job is finished elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import services
from tests.integration.clients import Registry, Skopeo, build_oci_layout, dockyard_server, require_tool
from tests.integration.ecrtools import ecr_client

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
NODE_ARGS = ["--job-lease-seconds", "4"]


def shared_storage() -> dict[str, str]:
    pg, s3 = services.shared_postgres(), services.shared_s3()
    return {
        "DOCKYARD_DATABASE": services.create_database(pg),
        "DOCKYARD_BLOB_STORE": f"s3://{services.create_bucket(s3)}?endpoint_url={s3}&region=us-east-1",
        "DOCKYARD_S3_ACCESS_KEY_ID": "test",
        "DOCKYARD_S3_SECRET_ACCESS_KEY": "test",
    }


class Cluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.storage = shared_storage()
        self.credentials: tuple[str, str] | None = None
        self._contexts: list[Any] = []

    def node(self, name: str) -> Registry:
        ctx = dockyard_server(
            self.workdir / name, extra_args=NODE_ARGS, storage=self.storage, credentials=self.credentials
        )
        node = ctx.__enter__()
        self._contexts.append(ctx)
        if self.credentials is None:
            assert node.access_key_id and node.secret_access_key
            self.credentials = (node.access_key_id, node.secret_access_key)
        return node

    def close(self) -> None:
        for ctx in reversed(self._contexts):
            ctx.__exit__(None, None, None)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.close()


def kill_node(node: Registry) -> None:
    """SIGKILL the whole node (supervisor and workers), as a crash would."""
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait(10)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def start_upload(node: Registry, repo: str) -> str:
    with node.http() as http:
        r = http.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return str(r.headers["Location"])


def patch(node: Registry, location: str, chunk: bytes, start: int) -> httpx.Response:
    with node.http() as http:
        return http.patch(
            location,
            content=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(chunk) - 1}",
            },
        )


def get_blob(node: Registry, repo: str, digest: str) -> bytes:
    with node.http() as http:
        r = http.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
    assert r.status_code == 200, r.text
    return r.content


def test_push_through_one_node_pull_through_another(cluster: Cluster, tmp_path: Path) -> None:
    a, b = cluster.node("a"), cluster.node("b")
    repo = f"multi/{uuid.uuid4().hex[:8]}"
    a.create_repo(repo)
    skopeo_bin = require_tool("skopeo")
    layout = build_oci_layout(tmp_path / "layout", tag="v1", nonce=uuid.uuid4().hex)
    push = Skopeo(tmp_path / "skopeo-a", binary=skopeo_bin)
    a.login(push)
    push.copy(f"oci:{layout.path}:v1", f"docker://{a.host}/{repo}:v1", "--all", "--preserve-digests")
    pull = Skopeo(tmp_path / "skopeo-b", binary=skopeo_bin)
    b.login(pull)
    out = tmp_path / "out"
    pull.copy(f"docker://{b.host}/{repo}:v1", f"oci:{out}:v1", "--all", "--preserve-digests")
    assert a.manifest_digest(repo, "v1") == b.manifest_digest(repo, "v1")
    for blob in (out / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_repository_policy_set_through_one_node_applies_on_another_before_the_ttl(cluster: Cluster) -> None:
    from dockyard.auth.policy_store import POLICY_CACHE_SECONDS

    a, b = cluster.node("a"), cluster.node("b")
    repo = f"multi/{uuid.uuid4().hex[:8]}"
    a.create_repo(repo)
    missing = digest_of(uuid.uuid4().bytes)

    def head_on_b() -> int:
        with b.http() as http:
            return http.head(f"/v2/{repo}/blobs/{missing}").status_code

    cached_at = time.monotonic()
    assert head_on_b() == 404  # allowed (the blob is unknown); B now holds its copy of "no policy"
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:BatchCheckLayerAvailability"}],
    }
    ecr_client(a).set_repository_policy(repositoryName=repo, policyText=json.dumps(deny))
    # A bumped the policies' generation: B drops its copy at its next check (once a second),
    # well before the copy would expire.
    while head_on_b() != 403:
        assert time.monotonic() - cached_at < POLICY_CACHE_SECONDS, "node B still answers from its copy"
        time.sleep(0.1)


def test_chunked_upload_alternating_between_nodes(cluster: Cluster) -> None:
    a, b = cluster.node("a"), cluster.node("b")
    repo = f"multi/{uuid.uuid4().hex[:8]}"
    a.create_repo(repo)
    data = os.urandom(23 * MiB + 123)
    chunks = [data[i : i + 3 * MiB] for i in range(0, len(data), 3 * MiB)]  # below S3's part size
    location = start_upload(a, repo)
    offset = 0
    for i, chunk in enumerate(chunks):
        node = (a, b)[i % 2]
        r = patch(node, location, chunk, offset)
        assert r.status_code == 202, (i, r.text)
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        location = r.headers["Location"]
    digest = digest_of(data)
    with b.http() as http:
        r = http.put(location, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert get_blob(a, repo, digest) == data
    assert get_blob(b, repo, digest) == data


def test_same_blob_pushed_concurrently_through_both_nodes(cluster: Cluster) -> None:
    a, b = cluster.node("a"), cluster.node("b")
    repo = f"multi/{uuid.uuid4().hex[:8]}"
    a.create_repo(repo)
    data = os.urandom(12 * MiB)
    digest = digest_of(data)
    results: list[int] = []

    def push(node: Registry) -> None:
        with node.http() as http:
            r = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
        results.append(r.status_code)

    threads = [threading.Thread(target=push, args=(n,)) for n in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [201] * 4, results
    assert get_blob(b, repo, digest) == data
    rows = a.sql(f"SELECT count(*) FROM blobs WHERE digest = '{digest}'")
    assert rows[0][0] == 1


def test_node_killed_mid_upload_loses_nothing(cluster: Cluster) -> None:
    a, b = cluster.node("a"), cluster.node("b")
    repo = f"multi/{uuid.uuid4().hex[:8]}"
    a.create_repo(repo)
    first, second = os.urandom(6 * MiB), os.urandom(20 * MiB)
    location = start_upload(a, repo)
    assert patch(a, location, first, 0).status_code == 202

    def slow_body() -> Iterator[bytes]:
        for i in range(0, len(second), MiB):
            yield second[i : i + MiB]
            time.sleep(0.2)

    def doomed_patch() -> None:
        try:
            with a.http() as http:
                http.patch(
                    location,
                    content=slow_body(),
                    headers={"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"},
                )
        except httpx.HTTPError:
            pass  # the node died under it

    t = threading.Thread(target=doomed_patch)
    t.start()
    time.sleep(1.5)  # a few MiB of the second chunk are in flight on node A
    kill_node(a)
    t.join(60)
    with b.http() as http:
        status = http.get(location)
    assert status.status_code == 204, status.text
    assert status.headers["Range"] == f"0-{len(first) - 1}", "only the completed chunk counts"
    r = patch(b, location, second, len(first))
    assert r.status_code == 202, r.text
    digest = digest_of(first + second)
    with b.http() as http:
        done = http.put(r.headers["Location"], params={"digest": digest})
    assert done.status_code == 201, done.text
    assert get_blob(b, repo, digest) == first + second


def test_killed_nodes_job_is_finished_by_another(cluster: Cluster) -> None:
    a = cluster.node("a")
    repo = f"multi/{uuid.uuid4().hex[:8]}"
    a.create_repo(repo)
    blobs = [os.urandom(16 * MiB) for _ in range(12)]
    with a.http() as http:
        for data in blobs:
            r = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(data)}, content=data)
            assert r.status_code == 201, r.text
    a.cli("scrub", "--background", "--max-mib-per-second", "24")  # about 8 s of work
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = a.sql("SELECT status, locked_by FROM jobs WHERE kind = 'scrub'")
        if rows and rows[0][0] == "running":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"node A never started the scrub job: {rows}")
    kill_node(a)
    b = cluster.node("b")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        rows = a.sql("SELECT status, attempts, locked_by, result FROM jobs WHERE kind = 'scrub'")
        if rows[0][0] == "done":
            break
        time.sleep(0.5)
    status, attempts, _locked_by, result = rows[0]
    assert status == "done", rows
    assert attempts == 2, "node A's attempt, then node B's"
    import json

    result = json.loads(result) if isinstance(result, str) else result
    assert result["checked"] == len(blobs) and result["corrupt"] == [], result
    del b


def test_blob_downloads_redirect_to_presigned_urls(tmp_path: Path) -> None:
    """With `redirect=true`, blob GETs answer 307 to the object store, as ECR does."""
    storage = shared_storage()
    storage["DOCKYARD_BLOB_STORE"] += "&redirect=true"
    with dockyard_server(tmp_path / "r", storage=storage) as node:
        repo = f"redirect/{uuid.uuid4().hex[:8]}"
        node.create_repo(repo)
        data = os.urandom(2 * MiB)
        digest = digest_of(data)
        with node.http() as http:
            assert (
                http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data).status_code
                == 201
            )
            r = http.get(f"/v2/{repo}/blobs/{digest}")
            assert r.status_code == 307, r.text
            assert r.headers["Docker-Content-Digest"] == digest
            target = r.headers["Location"]
        assert "X-Amz-Signature=" in target and target.startswith(services.shared_s3())
        fetched = httpx.get(target, trust_env=False)  # no registry credentials: the URL is the grant
        assert fetched.status_code == 200 and fetched.content == data
