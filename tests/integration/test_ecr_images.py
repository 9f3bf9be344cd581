"""The ECR image actions through real clients (boto3, the aws CLI), over the same core as /v2/.

DescribeImages, ListImages, BatchGetImage, PutImage, BatchDeleteImage, ListImageReferrers:
every declared error and every batch failure code is provoked and checked by name, tokens
are tampered with, and what one door writes the other reads at once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.clients import Registry
from tests.integration.ecrtools import aws_cli, error_code, error_message
from tests.integration.ocitools import push_blob, put_manifest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ALL_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST]
ACCOUNT_RE = r"\d{12}"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    """Builds images and pushes their blobs (and optionally manifests) through /v2/."""

    def __init__(self, registry: Registry, repo: str) -> None:
        self.registry = registry
        self.repo = repo

    def blob(self, data: bytes) -> dict[str, Any]:
        return {"digest": push_blob(self.registry, self.repo, data), "size": len(data)}

    def image(
        self,
        layers: list[bytes] | None = None,
        *,
        docker: bool = False,
        subject: dict[str, Any] | None = None,
        artifact_type: str | None = None,
        push_blobs: bool = True,
        with_media_type: bool = True,
    ) -> bytes:
        """An image manifest (OCI or Docker schema 2) over fresh blobs."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": uuid.uuid4().hex}).encode()
        layers = layers if layers is not None else [uuid.uuid4().bytes * 8]
        blobs = [config, *layers]
        if push_blobs:
            for data in blobs:
                self.blob(data)
        doc: dict[str, Any] = {"schemaVersion": 2}
        if with_media_type:
            doc["mediaType"] = DOCKER_MANIFEST if docker else OCI_MANIFEST
        if artifact_type:
            doc["artifactType"] = artifact_type
        doc["config"] = {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": sha(config),
            "size": len(config),
        }
        doc["layers"] = [
            {"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": sha(data), "size": len(data)}
            for data in layers
        ]
        if subject is not None:
            doc["subject"] = subject
        return json.dumps(doc).encode()

    def index(self, children: list[tuple[bytes, str]], *, docker: bool = False) -> bytes:
        doc = {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST if docker else OCI_INDEX,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                    "digest": sha(body),
                    "size": len(body),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for body, arch in children
            ],
        }
        return json.dumps(doc).encode()

    def put(self, body: bytes, ref: str, media_type: str | None = None) -> str:
        media_type = media_type or json.loads(body).get("mediaType") or OCI_MANIFEST
        return put_manifest(self.registry, self.repo, ref, body, media_type)

    def get(self, ref: str) -> Any:
        with self.registry.http() as client:
            return client.get(f"/v2/{self.repo}/manifests/{ref}", headers={"Accept": ", ".join(ALL_TYPES)})


@pytest.fixture
def push(registry: Registry, repo: str) -> Pusher:
    return Pusher(registry, repo)


def create_repo(registry: Registry, name: str, *extra: str) -> str:
    """`dockyard repo create` against the server's own storage (its database may be PostgreSQL)."""
    registry.cli("repo", "create", name, *extra)
    return name


def missing_repo() -> str:
    return f"it/missing-{uuid.uuid4().hex[:8]}"


# ==================================================================== cross-door consistency
def test_image_pushed_over_v2_is_described_at_once(ecr: Any, push: Pusher, repo: str) -> None:
    body = push.image([b"a" * 100, b"b" * 23])
    digest = push.put(body, "v1")
    details = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert len(details) == 1
    d = details[0]
    assert d["imageDigest"] == digest == sha(body)
    assert d["imageTags"] == ["v1"]
    assert d["repositoryName"] == repo
    assert d["registryId"] == ecr.describe_images(repositoryName=repo)["imageDetails"][0]["registryId"]
    assert d["imageSizeInBytes"] == 123  # the layers, as ECR counts
    assert d["imageManifestMediaType"] == OCI_MANIFEST
    assert d["artifactMediaType"] == OCI_CONFIG
    assert d["imageStatus"] == "ACTIVE"
    assert "lastRecordedPullTime" not in d
    assert "subjectManifestDigest" not in d
    assert d["imagePushedAt"].year >= 2024

    # A pull through the API records the pull time.
    got = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert got["images"][0]["imageManifest"].encode() == body
    pulled = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}])["imageDetails"][0]
    assert pulled["lastRecordedPullTime"] >= d["imagePushedAt"]


def test_put_image_is_pullable_over_v2(ecr: Any, push: Pusher, repo: str) -> None:
    body = push.image(docker=True)
    out = ecr.put_image(repositoryName=repo, imageManifest=body.decode(), imageTag="api")["image"]
    assert out["imageId"] == {"imageDigest": sha(body), "imageTag": "api"}
    assert out["imageManifestMediaType"] == DOCKER_MANIFEST
    assert out["imageManifest"] == body.decode()
    for ref in ("api", sha(body)):
        r = push.get(ref)
        assert r.status_code == 200, r.text
        assert r.content == body
        assert r.headers["Docker-Content-Digest"] == sha(body)
        assert r.headers["Content-Type"] == DOCKER_MANIFEST
    with push.registry.http() as client:
        assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["api"]


def test_delete_over_v2_and_api_agree(ecr: Any, raw_ecr: Any, push: Pusher, repo: str) -> None:
    body = push.image()
    digest = push.put(body, "gone")
    out = raw_ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "gone"}])
    assert out["imageIds"] == [{"imageDigest": digest, "imageTag": "gone"}]
    assert push.get(digest).status_code == 404  # the last tag took the image with it
    body2 = push.image()
    digest2 = push.put(body2, "kept")
    with push.registry.http() as client:
        assert client.delete(f"/v2/{repo}/manifests/{digest2}").status_code == 202
    assert raw_ecr.list_images(repositoryName=repo)["imageIds"] == []


# ==================================================================== PutImage
def test_put_image_errors(ecr: Any, push: Pusher, repo: str) -> None:
    body = push.image()
    text = body.decode()
    ecr.put_image(repositoryName=repo, imageManifest=text, imageTag="one")

    # Same digest and tag again: ImageAlreadyExistsException, with ECR's text.
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=text, imageTag="one")
    assert error_code(exc) == "ImageAlreadyExistsException"
    assert error_message(exc).startswith(f"Image with digest '{sha(body)}' and tag 'one' already exists")
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=text)
    assert error_code(exc) == "ImageAlreadyExistsException"
    assert "and tag 'null'" in error_message(exc)
    # A new tag for the same digest is a change.
    out = ecr.put_image(repositoryName=repo, imageManifest=text, imageTag="two", imageDigest=sha(body))
    assert out["image"]["imageId"] == {"imageDigest": sha(body), "imageTag": "two"}

    # imageDigest must match what the server computes.
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=text, imageTag="x", imageDigest=sha(b"other"))
    assert error_code(exc) == "ImageDigestDoesNotMatchException"
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=text, imageDigest="sha256:nothex")
    assert error_code(exc) == "InvalidParameterException"

    # Blobs missing from the repository: LayersNotFoundException naming them.
    absent = push.image(push_blobs=False)
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=absent.decode(), imageTag="nolayers")
    assert error_code(exc) == "LayersNotFoundException"
    for layer in json.loads(absent)["layers"]:
        assert layer["digest"] in error_message(exc)

    # An index over a manifest the repository lacks: ReferencedImagesNotFoundException.
    ghost = push.image()
    index = push.index([(ghost, "amd64")])
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=index.decode(), imageTag="idx")
    assert error_code(exc) == "ReferencedImagesNotFoundException"
    assert sha(ghost) in error_message(exc)

    # No mediaType in the manifest and none given: InvalidParameterException; given: accepted.
    bare = push.image(with_media_type=False)
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=repo, imageManifest=bare.decode(), imageTag="bare")
    assert error_code(exc) == "InvalidParameterException"
    out = ecr.put_image(
        repositoryName=repo, imageManifest=bare.decode(), imageTag="bare", imageManifestMediaType=OCI_MANIFEST
    )
    assert out["image"]["imageManifestMediaType"] == OCI_MANIFEST
    assert push.get("bare").content == bare

    # A mediaType that contradicts the manifest, a bad tag, bad JSON: InvalidParameterException.
    for kwargs in (
        {"imageManifest": text, "imageTag": "t", "imageManifestMediaType": DOCKER_MANIFEST},
        {"imageManifest": text, "imageTag": "-bad"},
        {"imageManifest": "{not json", "imageTag": "t"},
    ):
        with pytest.raises(ClientError) as exc:
            ecr.put_image(repositoryName=repo, **kwargs)
        assert error_code(exc) == "InvalidParameterException", kwargs

    # No create-on-push for the API.
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=missing_repo(), imageManifest=text, imageTag="x")
    assert error_code(exc) == "RepositoryNotFoundException"
    assert "does not exist in the registry with id" in error_message(exc)


def test_put_image_manifest_too_large(registry: Registry, repo: str) -> None:
    client = boto3.client(
        "ecr",
        endpoint_url=registry.url,
        region_name="us-east-1",
        aws_access_key_id=registry.access_key_id,
        aws_secret_access_key=registry.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    huge = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "pad": "x" * (4 * 1024 * 1024)})
    with pytest.raises(ClientError) as exc:
        client.put_image(repositoryName=repo, imageManifest=huge, imageTag="big")
    assert error_code(exc) == "InvalidParameterException"
    assert "imageManifest" in error_message(exc)


def test_put_image_immutable_tag(ecr: Any, registry: Registry, new_repo: Callable[..., str]) -> None:
    name = create_repo(registry, f"it/immutable-{uuid.uuid4().hex[:8]}", "--tag-mutability", "IMMUTABLE")
    push = Pusher(registry, name)
    first, second = push.image(), push.image()
    ecr.put_image(repositoryName=name, imageManifest=first.decode(), imageTag="release")
    with pytest.raises(ClientError) as exc:
        ecr.put_image(repositoryName=name, imageManifest=second.decode(), imageTag="release")
    assert error_code(exc) == "ImageTagAlreadyExistsException"
    assert error_message(exc) == (
        f"The image tag 'release' already exists in the '{name}' repository and cannot be overwritten "
        "because the repository is immutable."
    )
    # The refused push left nothing behind.
    assert [d["imageDigest"] for d in ecr.describe_images(repositoryName=name)["imageDetails"]] == [
        sha(first)
    ]
    # On a mutable repository the tag moves.
    mutable = new_repo()
    push2 = Pusher(registry, mutable)
    a, b = push2.image(), push2.image()
    ecr.put_image(repositoryName=mutable, imageManifest=a.decode(), imageTag="latest")
    ecr.put_image(repositoryName=mutable, imageManifest=b.decode(), imageTag="latest")
    assert push2.get("latest").content == b


# ==================================================================== ListImages
def test_list_images_filters_and_pages(
    ecr: Any, raw_ecr: Any, registry: Registry, push: Pusher, repo: str
) -> None:
    assert raw_ecr.list_images(repositoryName=repo)["imageIds"] == []
    tagged = push.image()
    d_tagged = push.put(tagged, "a")
    push.put(tagged, "b")
    untagged_body = push.image()
    d_untagged = push.put(untagged_body, sha(untagged_body))  # pushed by digest: no tag
    ecr.put_image(repositoryName=repo, imageManifest=push.image().decode(), imageTag="c")
    everything = ecr.list_images(repositoryName=repo)["imageIds"]
    assert {"imageDigest": d_tagged, "imageTag": "a"} in everything
    assert {"imageDigest": d_tagged, "imageTag": "b"} in everything
    assert {"imageDigest": d_untagged} in everything
    assert len(everything) == 4
    untagged = ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert untagged == [{"imageDigest": d_untagged}]
    only_tagged = ecr.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageIds"]
    assert all("imageTag" in i for i in only_tagged) and len(only_tagged) == 3
    assert raw_ecr.list_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})["imageIds"] == []

    # Pages of one, by hand and with boto3's paginator.
    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {"repositoryName": repo, "maxResults": 1}
        if token:
            kwargs["nextToken"] = token
        page = ecr.list_images(**kwargs)
        assert len(page["imageIds"]) == 1
        seen += page["imageIds"]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == everything
    paged = [
        i
        for page in ecr.get_paginator("list_images").paginate(
            repositoryName=repo, PaginationConfig={"PageSize": 2}
        )
        for i in page["imageIds"]
    ]
    assert paged == everything

    # The aws CLI pages by itself.
    cli = aws_cli(registry, "list-images", "--repository-name", repo, "--page-size", "1")
    assert cli["imageIds"] == everything
    cli = aws_cli(registry, "list-images", "--repository-name", repo, "--filter", "tagStatus=UNTAGGED")
    assert cli["imageIds"] == [{"imageDigest": d_untagged}]

    first = ecr.list_images(repositoryName=repo, maxResults=1)["nextToken"]
    for bad in (first[:-4] + "AAAA", first + "x", "garbage", first.replace(".", "", 1)):
        with pytest.raises(ClientError) as exc:
            ecr.list_images(repositoryName=repo, nextToken=bad)
        assert error_code(exc) == "InvalidParameterException"
        assert "Invalid NextToken" in error_message(exc)
    # A token is bound to its listing: another filter, another repository, another operation.
    with pytest.raises(ClientError) as exc:
        ecr.list_images(repositoryName=repo, nextToken=first, filter={"tagStatus": "TAGGED"})
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=repo, nextToken=first)
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecr.list_images(repositoryName=missing_repo())
    assert error_code(exc) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecr.list_images(repositoryName=repo, maxResults=1001)
    assert error_code(exc) == "InvalidParameterException"


# ==================================================================== DescribeImages
def test_describe_images_ids_filters_pages(ecr: Any, registry: Registry, push: Pusher, repo: str) -> None:
    a, b, c = push.image(), push.image(), push.image()
    da, db, dc = push.put(a, "a"), push.put(b, "b"), push.put(c, "c1")
    push.put(c, "c2")
    ecr.put_image(repositoryName=repo, imageManifest=push.image().decode(), imageTag="b")  # b is untagged now

    by_ids = ecr.describe_images(
        repositoryName=repo, imageIds=[{"imageTag": "a"}, {"imageDigest": dc}, {"imageTag": "c2"}]
    )["imageDetails"]
    assert [d["imageDigest"] for d in by_ids] == [da, dc]  # each image once
    assert by_ids[1]["imageTags"] == ["c1", "c2"]

    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "a"}, {"imageTag": "nope"}])
    assert error_code(exc) == "ImageNotFoundException"
    assert error_message(exc).startswith(
        "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist"
    )
    assert f"within the repository with name '{repo}'" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": da, "imageTag": "c1"}])
    assert error_code(exc) == "ImageNotFoundException"
    for bad in ({}, {"imageDigest": "nodigest"}, {"imageTag": "..bad"}):
        with pytest.raises(ClientError) as exc:
            ecr.describe_images(repositoryName=repo, imageIds=[bad])
        assert error_code(exc) == "InvalidParameterException", bad
    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "a"}], maxResults=5)
    assert error_code(exc) == "InvalidParameterException"

    untagged = ecr.describe_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageDetails"]
    assert [d["imageDigest"] for d in untagged] == [db]
    assert "imageTags" not in untagged[0]
    tagged = ecr.describe_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageDetails"]
    assert db not in {d["imageDigest"] for d in tagged} and len(tagged) == 3
    assert ecr.describe_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})["imageDetails"] == []

    everything = [d["imageDigest"] for d in ecr.describe_images(repositoryName=repo)["imageDetails"]]
    assert len(everything) == 4
    paged = [
        d["imageDigest"]
        for page in ecr.get_paginator("describe_images").paginate(
            repositoryName=repo, PaginationConfig={"PageSize": 1}
        )
        for d in page["imageDetails"]
    ]
    assert paged == everything
    cli = aws_cli(registry, "describe-images", "--repository-name", repo, "--page-size", "3")
    assert [d["imageDigest"] for d in cli["imageDetails"]] == everything
    cli = aws_cli(registry, "describe-images", "--repository-name", repo, "--image-ids", "imageTag=a")
    assert cli["imageDetails"][0]["imageTags"] == ["a"]
    proc = aws_cli(
        registry, "describe-images", "--repository-name", repo, "--image-ids", "imageTag=zzz", check=False
    )
    assert proc.returncode != 0 and "ImageNotFoundException" in proc.stderr

    token = ecr.describe_images(repositoryName=repo, maxResults=2)["nextToken"]
    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=repo, nextToken=token[::-1])
    assert error_code(exc) == "InvalidParameterException"
    other = push.registry.create_repo(f"it/other-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=other, nextToken=token)
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecr.describe_images(repositoryName=missing_repo())
    assert error_code(exc) == "RepositoryNotFoundException"


def test_describe_index_and_referrer(ecr: Any, push: Pusher, repo: str) -> None:
    small, large = push.image([b"s" * 10]), push.image([b"l" * 1000, b"m" * 24])
    push.put(small, sha(small))
    push.put(large, sha(large))
    index = push.index([(small, "arm64"), (large, "amd64")])
    d_index = push.put(index, "multi")
    sig = push.image(
        [b"sig"],
        subject={"mediaType": OCI_MANIFEST, "digest": sha(large), "size": len(large)},
        artifact_type="application/vnd.example.sig",
    )
    d_sig = push.put(sig, sha(sig))
    details = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName=repo)["imageDetails"]}
    assert details[d_index]["imageSizeInBytes"] == 1024  # an index counts as its largest child
    assert details[d_index]["imageManifestMediaType"] == OCI_INDEX
    assert "artifactMediaType" not in details[d_index]
    assert details[d_sig]["subjectManifestDigest"] == sha(large)
    assert details[d_sig]["imageSizeInBytes"] == 3


# ==================================================================== BatchGetImage
def test_batch_get_image_failures(ecr: Any, registry: Registry, push: Pusher, repo: str) -> None:
    one, two = push.image(), push.image()
    d1, d2 = push.put(one, "one"), push.put(two, "two")
    out = ecr.batch_get_image(
        repositoryName=repo,
        imageIds=[
            {"imageTag": "one"},
            {"imageDigest": d2},
            {"imageDigest": d1, "imageTag": "one"},
            {},
            {"imageDigest": "sha256:xyz"},
            {"imageTag": "-nope"},
            {"imageTag": "missing"},
            {"imageDigest": sha(b"missing")},
            {"imageDigest": d1, "imageTag": "two"},
        ],
    )
    images = out["images"]
    assert [i["imageId"] for i in images] == [
        {"imageDigest": d1, "imageTag": "one"},
        {"imageDigest": d2},
        {"imageDigest": d1, "imageTag": "one"},
    ]
    assert images[0]["imageManifest"].encode() == one
    assert images[1]["imageManifestMediaType"] == OCI_MANIFEST
    codes = {json.dumps(f["imageId"], sort_keys=True): f["failureCode"] for f in out["failures"]}
    assert codes == {
        "{}": "MissingDigestAndTag",
        json.dumps({"imageDigest": "sha256:xyz"}): "InvalidImageDigest",
        json.dumps({"imageTag": "-nope"}): "InvalidImageTag",
        json.dumps({"imageTag": "missing"}): "ImageNotFound",
        json.dumps({"imageDigest": sha(b"missing")}): "ImageNotFound",
        json.dumps({"imageDigest": d1, "imageTag": "two"}, sort_keys=True): "ImageTagDoesNotMatchDigest",
    }
    reasons = {f["failureCode"]: f["failureReason"] for f in out["failures"]}
    assert reasons["ImageNotFound"] == "Requested image not found"
    assert reasons["MissingDigestAndTag"] == "Invalid request parameters: both tag and digest cannot be null"

    cli = aws_cli(
        registry, "batch-get-image", "--repository-name", repo, "--image-ids", "imageTag=one", "imageTag=zzz"
    )
    assert cli["images"][0]["imageId"] == {"imageDigest": d1, "imageTag": "one"}
    assert cli["failures"][0]["failureCode"] == "ImageNotFound"

    with pytest.raises(ClientError) as exc:
        ecr.batch_get_image(repositoryName=missing_repo(), imageIds=[{"imageTag": "x"}])
    assert error_code(exc) == "RepositoryNotFoundException"
    unvalidated = boto3.client(
        "ecr",
        endpoint_url=registry.url,
        region_name="us-east-1",
        aws_access_key_id=registry.access_key_id,
        aws_secret_access_key=registry.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        unvalidated.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": f"t{i}"} for i in range(101)])
    assert error_code(exc) == "InvalidParameterException"
    assert "imageIds" in error_message(exc)


def test_batch_get_image_media_types(ecr: Any, push: Pusher, repo: str) -> None:
    oci = push.image()
    d_oci = push.put(oci, "oci")
    # Accepted: as stored.
    out = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "oci"}], acceptedMediaTypes=[OCI_MANIFEST]
    )
    assert out["images"][0]["imageManifest"].encode() == oci
    # Not accepted, by digest: never converted.
    out = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageDigest": d_oci}], acceptedMediaTypes=[DOCKER_MANIFEST]
    )
    assert out["images"] == []
    assert out["failures"][0]["failureCode"] == "ImageNotFound"
    assert out["failures"][0]["imageId"] == {"imageDigest": d_oci}
    # Not accepted, by tag: OCI converted to Docker schema 2.
    out = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "oci"}], acceptedMediaTypes=[DOCKER_MANIFEST]
    )
    image = out["images"][0]
    assert image["imageManifestMediaType"] == DOCKER_MANIFEST
    converted = json.loads(image["imageManifest"])
    assert converted["mediaType"] == DOCKER_MANIFEST
    assert converted["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in converted["layers"]] == [DOCKER_LAYER]
    assert converted["config"]["digest"] == json.loads(oci)["config"]["digest"]
    # Nothing acceptable at all: failure.
    out = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "oci"}], acceptedMediaTypes=["application/x-nothing"]
    )
    assert out["failures"][0]["failureCode"] == "ImageNotFound"

    # An index asked for by tag by a client that takes only image manifests: the linux/amd64 image.
    arm, amd = push.image(), push.image()
    push.put(arm, sha(arm))
    push.put(amd, sha(amd))
    push.put(push.index([(arm, "arm64"), (amd, "amd64")]), "multi")
    out = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "multi"}], acceptedMediaTypes=[OCI_MANIFEST]
    )
    assert out["images"][0]["imageId"] == {"imageDigest": sha(amd), "imageTag": "multi"}
    assert out["images"][0]["imageManifest"].encode() == amd
    out = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "multi"}], acceptedMediaTypes=ALL_TYPES
    )
    assert out["images"][0]["imageManifestMediaType"] == OCI_INDEX


# ==================================================================== BatchDeleteImage
def test_batch_delete_image(ecr: Any, raw_ecr: Any, registry: Registry, push: Pusher, repo: str) -> None:
    img = push.image()
    digest = push.put(img, "t1")
    push.put(img, "t2")
    push.put(img, "t3")
    # By tag: untag only, while other tags remain.
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "t1"}])
    assert out["imageIds"] == [{"imageDigest": digest, "imageTag": "t1"}]
    assert out["failures"] == []
    assert push.get(digest).status_code == 200
    assert push.get("t1").status_code == 404
    # By digest: the image and all its tags.
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": digest}])
    assert sorted(i["imageTag"] for i in out["imageIds"]) == ["t2", "t3"]
    assert push.get(digest).status_code == 404
    assert push.get("t2").status_code == 404

    # Failures, each by name.
    other = push.image()
    d_other = push.put(other, "o1")
    out = raw_ecr.batch_delete_image(
        repositoryName=repo,
        imageIds=[
            {},
            {"imageDigest": "bad"},
            {"imageTag": "+bad"},
            {"imageTag": "nope"},
            {"imageDigest": digest},
            {"imageDigest": d_other, "imageTag": "o2"},
        ],
    )
    assert out["imageIds"] == []
    assert [f["failureCode"] for f in out["failures"]] == [
        "MissingDigestAndTag",
        "InvalidImageDigest",
        "InvalidImageTag",
        "ImageNotFound",
        "ImageNotFound",
        "ImageNotFound",
    ]
    push.put(other, "o2")
    push.put(push.image(), "elsewhere")
    out = raw_ecr.batch_delete_image(
        repositoryName=repo, imageIds=[{"imageDigest": d_other, "imageTag": "elsewhere"}]
    )
    assert [f["failureCode"] for f in out["failures"]] == ["ImageTagDoesNotMatchDigest"]
    # Digest and tag that agree: the image goes.
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": d_other, "imageTag": "o2"}])
    assert {i["imageTag"] for i in out["imageIds"]} == {"o1", "o2"}

    # The aws CLI.
    cli = aws_cli(
        registry, "batch-delete-image", "--repository-name", repo, "--image-ids", "imageTag=elsewhere"
    )
    assert cli["imageIds"][0]["imageTag"] == "elsewhere"
    assert cli["failures"] == []
    with pytest.raises(ClientError) as exc:
        ecr.batch_delete_image(repositoryName=missing_repo(), imageIds=[{"imageTag": "x"}])
    assert error_code(exc) == "RepositoryNotFoundException"


def test_batch_delete_index_children(ecr: Any, raw_ecr: Any, push: Pusher, repo: str) -> None:
    arm, amd = push.image(), push.image()
    d_arm = push.put(arm, "arm-only")
    d_amd = push.put(amd, sha(amd))
    d_index = push.put(push.index([(arm, "arm64"), (amd, "amd64")]), "multi")
    out = raw_ecr.batch_delete_image(
        repositoryName=repo, imageIds=[{"imageDigest": d_amd}, {"imageTag": "arm-only"}]
    )
    assert out["imageIds"] == []
    assert [f["failureCode"] for f in out["failures"]] == ["ImageReferencedByManifestList"] * 2
    assert d_amd in out["failures"][0]["failureReason"]
    assert push.get("arm-only").status_code == 200  # the refused untag kept the tag
    # Index first, then its children, in one batch.
    out = ecr.batch_delete_image(
        repositoryName=repo,
        imageIds=[{"imageDigest": d_index}, {"imageDigest": d_amd}, {"imageDigest": d_arm}],
    )
    assert out["failures"] == []
    assert {i["imageDigest"] for i in out["imageIds"]} == {d_index, d_amd, d_arm}
    assert raw_ecr.list_images(repositoryName=repo)["imageIds"] == []


# ==================================================================== ListImageReferrers
def test_list_image_referrers_default_page_is_twenty(ecr: Any, push: Pusher, repo: str) -> None:
    # botocore: "If this parameter is not used, then ListImageReferrers returns up to 20 results".
    subject = push.image()
    d_subject = push.put(subject, "app")
    desc = {"mediaType": OCI_MANIFEST, "digest": d_subject, "size": len(subject)}
    for i in range(21):
        body = push.image([f"sig{i}".encode()], subject=desc, artifact_type="application/vnd.example.sig")
        push.put(body, sha(body))
    first = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": d_subject})
    assert len(first["referrers"]) == 20 and first["nextToken"]
    rest = ecr.list_image_referrers(
        repositoryName=repo, subjectId={"imageDigest": d_subject}, nextToken=first["nextToken"]
    )
    assert len(rest["referrers"]) == 1 and "nextToken" not in rest


def test_list_image_referrers(ecr: Any, raw_ecr: Any, push: Pusher, repo: str) -> None:
    subject = push.image()
    d_subject = push.put(subject, "app")
    desc = {"mediaType": OCI_MANIFEST, "digest": d_subject, "size": len(subject)}
    sigs = []
    for i in range(3):
        body = push.image([f"sig{i}".encode()], subject=desc, artifact_type="application/vnd.example.sig")
        sigs.append(push.put(body, sha(body)))
    sbom = push.image([b"sbom"], subject=desc, artifact_type="application/vnd.example.sbom")
    d_sbom = push.put(sbom, sha(sbom))

    out = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": d_subject})
    refs = out["referrers"]
    assert sorted(r["digest"] for r in refs) == sorted([*sigs, d_sbom])
    assert all(r["artifactStatus"] == "ACTIVE" and r["mediaType"] == OCI_MANIFEST for r in refs)
    with push.registry.http() as client:
        v2 = client.get(f"/v2/{repo}/referrers/{d_subject}").json()["manifests"]
    assert {(r["digest"], r["size"], r["artifactType"]) for r in refs} == {
        (m["digest"], m["size"], m["artifactType"]) for m in v2
    }

    only = ecr.list_image_referrers(
        repositoryName=repo,
        subjectId={"imageDigest": d_subject},
        filter={"artifactTypes": ["application/vnd.example.sbom"]},
    )["referrers"]
    assert [r["digest"] for r in only] == [d_sbom]
    archived = ecr.list_image_referrers(
        repositoryName=repo, subjectId={"imageDigest": d_subject}, filter={"artifactStatus": "ARCHIVED"}
    )
    assert archived["referrers"] == []

    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {
            "repositoryName": repo,
            "subjectId": {"imageDigest": d_subject},
            "maxResults": 1,
        }
        if token:
            kwargs["nextToken"] = token
        page = ecr.list_image_referrers(**kwargs)
        seen += [r["digest"] for r in page["referrers"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [r["digest"] for r in refs]

    first = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": d_subject}, maxResults=1)
    with pytest.raises(ClientError) as exc:
        ecr.list_image_referrers(
            repositoryName=repo, subjectId={"imageDigest": sigs[0]}, nextToken=first["nextToken"]
        )
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecr.list_image_referrers(
            repositoryName=repo, subjectId={"imageDigest": d_subject}, nextToken=first["nextToken"][5:]
        )
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecr.list_image_referrers(repositoryName=missing_repo(), subjectId={"imageDigest": d_subject})
    assert error_code(exc) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": "nope"})
    assert error_code(exc) == "InvalidParameterException"
    unvalidated = boto3.client(
        "ecr",
        endpoint_url=push.registry.url,
        region_name="us-east-1",
        aws_access_key_id=push.registry.access_key_id,
        aws_secret_access_key=push.registry.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        unvalidated.list_image_referrers(
            repositoryName=repo, subjectId={"imageDigest": d_subject}, maxResults=51
        )
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        unvalidated.list_image_referrers(
            repositoryName=repo,
            subjectId={"imageDigest": d_subject},
            filter={"artifactTypes": [f"a/t{i}" for i in range(6)]},
        )
    assert error_code(exc) == "ValidationException"
    # No referrers: an empty list.
    none = raw_ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": sigs[0]})
    assert none["referrers"] == []
