"""ECR's layer API (BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart,
CompleteLayerUpload, GetDownloadUrlForLayer) against a running Dockyard, with boto3.

A layer pushed in parts through the API must be readable over /v2/ and through the
expiring URL GetDownloadUrlForLayer hands out; every declared error of these
operations that Dockyard can raise is provoked at least once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from dockyard.core.layer_urls import LayerUrlSigner
from tests.integration.ecrtools import error_code

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def repo(registry: Any) -> str:
    return registry.create_repo(f"it/layers-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def anon() -> Iterator[httpx.Client]:
    """A plain HTTP client: no registry credentials, no proxies from the environment."""
    with httpx.Client(timeout=60, trust_env=False) as client:
        yield client


def push_layer(ecr: Any, repo: str, data: bytes, part: int = 5 * MIB) -> dict[str, Any]:
    upload = ecr.initiate_layer_upload(repositoryName=repo)
    upload_id = upload["uploadId"]
    for first in range(0, len(data), part):
        chunk = data[first : first + part]
        ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=first + len(chunk) - 1,
            layerPartBlob=chunk,
        )
    return dict(
        ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[sha256(data)])
    )


def push_manifest(registry: Any, repo: str, tag: str, config: bytes, layer: bytes, layer_type: str) -> str:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    with registry.http() as client:
        r = client.put(
            f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
    assert r.status_code == 201, r.text
    return sha256(manifest)


def token_claims(url: str) -> dict[str, Any]:
    payload = url.rsplit("/", 1)[1].split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def layer_url_key(registry: Any) -> str:
    rows = registry.sql("SELECT value FROM settings WHERE scope = 'keys' AND name = 'layer-urls'")
    assert rows, "no layer-url signing key in the database"
    return str(rows[0][0])


# ----------------------------------------------------------------------------- the round trip


def test_layer_in_three_parts_readable_over_v2_and_download_url(
    registry: Any, ecr: Any, repo: str, anon: httpx.Client
) -> None:
    layer = os.urandom(10 * MIB + 123_457)
    digest = sha256(layer)

    check = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest])
    assert check["layers"] == []
    assert check["failures"] == [
        {"layerDigest": digest, "failureCode": "MissingLayerDigest", "failureReason": "Could not find layer"}
    ]

    upload = ecr.initiate_layer_upload(repositoryName=repo)
    assert upload["partSize"] == 10 * MIB
    upload_id = upload["uploadId"]
    bounds = [(0, 5 * MIB), (5 * MIB, 10 * MIB), (10 * MIB, len(layer))]
    for first, end in bounds:
        part = ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=end - 1,
            layerPartBlob=layer[first:end],
        )
        assert part["lastByteReceived"] == end - 1
        assert part["uploadId"] == upload_id
        assert part["repositoryName"] == repo
        assert part["registryId"].isdigit()
    done = ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[digest])
    assert done["layerDigest"] == digest
    assert done["uploadId"] == upload_id

    # Not yet in any image: available to check, but no download URL.
    check = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest])
    assert check["failures"] == []
    assert check["layers"] == [
        {
            "layerDigest": digest,
            "layerAvailability": "AVAILABLE",
            "layerSize": len(layer),
            "mediaType": DOCKER_LAYER,
        }
    ]
    with pytest.raises(ClientError) as excinfo:
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
    assert error_code(excinfo) == "LayerInaccessibleException"

    # Readable over /v2/.
    with registry.http() as client:
        r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert sha256(r.content) == digest

    # An image referencing it (config pushed through the API too): the manifest's media type shows.
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    push_layer(ecr, repo, config)
    push_manifest(registry, repo, "v1", config, layer, OCI_LAYER)
    check = ecr.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[digest, sha256(config), digest]
    )
    assert [(x["layerDigest"], x["mediaType"]) for x in check["layers"]] == [
        (digest, OCI_LAYER),
        (sha256(config), OCI_CONFIG),
    ]

    got = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
    assert got["layerDigest"] == digest
    url = got["downloadUrl"]
    assert url.startswith(registry.url + "/layers/")

    r = anon.get(url)
    assert r.status_code == 200, r.text
    assert sha256(r.content) == digest
    assert int(r.headers["content-length"]) == len(layer)
    assert r.headers["accept-ranges"] == "bytes"

    r = anon.head(url)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(layer)

    r = anon.get(url, headers={"Range": "bytes=5242870-5242889"})
    assert r.status_code == 206
    assert r.content == layer[5242870:5242890]
    assert r.headers["content-range"] == f"bytes 5242870-5242889/{len(layer)}"
    r = anon.get(url, headers={"Range": "bytes=-100"})
    assert r.status_code == 206
    assert r.content == layer[-100:]
    r = anon.get(url, headers={"Range": f"bytes={len(layer)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(layer)}"


def test_download_url_refuses_tampered_and_expired_tokens(
    registry: Any, ecr: Any, repo: str, anon: httpx.Client
) -> None:
    layer = os.urandom(4096)
    config = b'{"os":"linux"}'
    push_layer(ecr, repo, layer)
    push_layer(ecr, repo, config)
    push_manifest(registry, repo, "v1", config, layer, DOCKER_LAYER)
    url = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=sha256(layer))["downloadUrl"]
    assert anon.get(url).status_code == 200

    base, token = url.rsplit("/", 1)
    header, payload, signature = token.split(".")
    # A flipped signature character.
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    r = anon.get(f"{base}/{header}.{payload}.{flipped}")
    assert r.status_code == 403
    assert "AccessDenied" in r.text
    # Claims rewritten to another blob, old signature kept.
    claims = token_claims(url)
    claims["dig"] = sha256(config)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert anon.get(f"{base}/{header}.{forged}.{signature}").status_code == 403
    # Garbage.
    assert anon.get(f"{base}/not-a-token").status_code == 403

    # Validly signed but expired (signed with the server's key, issued two TTLs ago).
    signer = LayerUrlSigner.from_secret(layer_url_key(registry))
    expired = signer.issue(claims["acct"], repo, sha256(layer), now=time.time() - 2 * signer.ttl_seconds)
    r = anon.get(f"{base}/{expired}")
    assert r.status_code == 403
    assert "expired" in r.text
    # The same key, fresh: accepted (so the 403 above is the expiry, not the key).
    fresh = signer.issue(claims["acct"], repo, sha256(layer))
    r = anon.get(f"{base}/{fresh}")
    assert r.status_code == 200
    assert sha256(r.content) == sha256(layer)


def test_ecr_upload_of_a_layer_pushed_over_v2_is_already_there(registry: Any, ecr: Any, repo: str) -> None:
    data = os.urandom(2000)
    with registry.http() as client:
        r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201, r.text
    check = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha256(data)])
    assert check["layers"][0]["layerAvailability"] == "AVAILABLE"
    assert check["layers"][0]["layerSize"] == len(data)
    with pytest.raises(ClientError) as excinfo:
        push_layer(ecr, repo, data)
    assert error_code(excinfo) == "LayerAlreadyExistsException"


# ----------------------------------------------------------------------------- declared errors


def test_batch_check_layer_availability_errors(ecr: Any, repo: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.batch_check_layer_availability(repositoryName="it/no-such-repo", layerDigests=[sha256(b"x")])
    assert error_code(excinfo) == "RepositoryNotFoundException"
    assert "does not exist in the registry with id" in excinfo.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as excinfo:
        ecr.batch_check_layer_availability(
            repositoryName=repo, layerDigests=[sha256(str(i).encode()) for i in range(101)]
        )
    assert error_code(excinfo) == "InvalidParameterException"

    check = ecr.batch_check_layer_availability(
        repositoryName=repo, layerDigests=["sha256:abc", "nonsense", "", sha256(b"absent")]
    )
    assert check["layers"] == []
    codes = {f["layerDigest"]: f["failureCode"] for f in check["failures"]}
    assert codes == {
        "sha256:abc": "InvalidLayerDigest",
        "nonsense": "InvalidLayerDigest",
        "": "MissingLayerDigest",
        sha256(b"absent"): "MissingLayerDigest",
    }


def test_initiate_layer_upload_errors(ecr: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.initiate_layer_upload(repositoryName="it/no-such-repo")
    assert error_code(excinfo) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecr.initiate_layer_upload(repositoryName="Not_A-Valid/NAME")
    assert error_code(excinfo) == "InvalidParameterException"


def test_upload_layer_part_errors(ecr: Any, repo: str) -> None:
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]

    def part(first: int, last: int, blob: bytes, uid: str = upload_id, name: str = repo) -> Any:
        return ecr.upload_layer_part(
            repositoryName=name, uploadId=uid, partFirstByte=first, partLastByte=last, layerPartBlob=blob
        )

    with pytest.raises(ClientError) as excinfo:
        part(0, 9, b"0123456789", uid=str(uuid.uuid4()))
    assert error_code(excinfo) == "UploadNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        part(0, 9, b"0123456789", name="it/no-such-repo")
    assert error_code(excinfo) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        part(0, 9, b"0123456789", uid="not-a-uuid")
    assert error_code(excinfo) == "InvalidParameterException"

    # Nothing received yet: the first part must start at 0.
    with pytest.raises(ClientError) as excinfo:
        part(5, 14, b"0123456789")
    assert error_code(excinfo) == "InvalidLayerPartException"
    assert excinfo.value.response["uploadId"] == upload_id
    assert excinfo.value.response["repositoryName"] == repo
    assert "lastValidByteReceived" not in excinfo.value.response

    assert part(0, 9, b"0123456789")["lastByteReceived"] == 9
    # A gap, an overlap, a size that disagrees with the byte range, an inverted range.
    for first, last, blob in [(11, 20, b"x" * 10), (5, 14, b"x" * 10), (10, 30, b"x" * 10), (10, 5, b"x")]:
        with pytest.raises(ClientError) as excinfo:
            part(first, last, blob)
        assert error_code(excinfo) == "InvalidLayerPartException", (first, last)
        assert excinfo.value.response["lastValidByteReceived"] == 9
        assert excinfo.value.response["uploadId"] == upload_id
    assert part(10, 19, b"abcdefghij")["lastByteReceived"] == 19

    # Over ECR's 20 MiB part limit (the model's LayerPartBlob maximum).
    with pytest.raises(ClientError) as excinfo:
        part(20, 20 + 20 * MIB, b"\0" * (20 * MIB + 1))
    assert error_code(excinfo) == "InvalidParameterException"
    assert "20971520" in excinfo.value.response["Error"]["Message"]


def test_complete_layer_upload_errors(ecr: Any, repo: str) -> None:
    def complete(uid: str, digests: list[str], name: str = repo) -> Any:
        return ecr.complete_layer_upload(repositoryName=name, uploadId=uid, layerDigests=digests)

    def upload(*parts: bytes) -> str:
        uid = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        first = 0
        for blob in parts:
            ecr.upload_layer_part(
                repositoryName=repo,
                uploadId=uid,
                partFirstByte=first,
                partLastByte=first + len(blob) - 1,
                layerPartBlob=blob,
            )
            first += len(blob)
        return uid

    with pytest.raises(ClientError) as excinfo:
        complete(str(uuid.uuid4()), [sha256(b"x")])
    assert error_code(excinfo) == "UploadNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        complete(str(uuid.uuid4()), [sha256(b"x")], name="it/no-such-repo")
    assert error_code(excinfo) == "RepositoryNotFoundException"

    empty = upload()
    with pytest.raises(ClientError) as excinfo:
        complete(empty, [sha256(b"")])
    assert error_code(excinfo) == "EmptyUploadException"

    # Two 1 MiB parts: the first is not the last and is under 5 MiB.
    small_a, small_b = os.urandom(MIB), os.urandom(MIB)
    small = upload(small_a, small_b)
    with pytest.raises(ClientError) as excinfo:
        complete(small, [sha256(small_a + small_b)])
    assert error_code(excinfo) == "LayerPartTooSmallException"

    data = os.urandom(3000)
    uid = upload(data)
    with pytest.raises(ClientError) as excinfo:
        complete(uid, ["sha256:abc"])  # fits the model's pattern, but is no sha256 digest
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        complete(uid, ["not a digest"])
    assert error_code(excinfo) == "InvalidParameterException"
    # A malformed digest leaves the upload alone: completing it right works.
    assert complete(uid, [sha256(data)])["layerDigest"] == sha256(data)
    with pytest.raises(ClientError) as excinfo:
        complete(uid, [sha256(data)])
    assert error_code(excinfo) == "UploadNotFoundException"

    # Content that does not match its digest ends the upload (as Distribution cancels it):
    # the client starts a new one.
    wrong = upload(os.urandom(3000))
    with pytest.raises(ClientError) as excinfo:
        complete(wrong, [sha256(b"something else")])
    assert error_code(excinfo) == "InvalidLayerException"
    with pytest.raises(ClientError) as excinfo:
        complete(wrong, [sha256(b"something else")])
    assert error_code(excinfo) == "UploadNotFoundException"

    again = upload(data)
    with pytest.raises(ClientError) as excinfo:
        complete(again, [sha256(data)])
    assert error_code(excinfo) == "LayerAlreadyExistsException"


def test_get_download_url_for_layer_errors(registry: Any, ecr: Any, repo: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.get_download_url_for_layer(repositoryName="it/no-such-repo", layerDigest=sha256(b"x"))
    assert error_code(excinfo) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=sha256(b"never pushed"))
    assert error_code(excinfo) == "LayersNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest="no-digest")
    assert error_code(excinfo) == "InvalidParameterException"

    data = os.urandom(512)
    push_layer(ecr, repo, data)
    with pytest.raises(ClientError) as excinfo:
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=sha256(data))
    assert error_code(excinfo) == "LayerInaccessibleException"

    # Another repository of the account, which does not hold the blob: not found there.
    other = registry.create_repo(f"it/layers-other-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ClientError) as excinfo:
        ecr.get_download_url_for_layer(repositoryName=other, layerDigest=sha256(data))
    assert error_code(excinfo) == "LayersNotFoundException"
