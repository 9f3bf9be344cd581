"""Hostile input at both doors: never a 5xx, a 4xx carries the door's error envelope, and a
refused request changes no state (issue 16, item 8)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.requests import assert_ecr_answer, assert_oci_answer, ecr_call, signed_headers
from tests.fuzz.strategies import (
    MEDIA_TYPES,
    digests,
    ecr_input,
    lifecycle_texts,
    manifest_bodies,
    names,
    policy_texts,
    range_headers,
    sigv4_authorizations,
    tags,
)


def _header(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _unchanged_if_refused(door: Any, before: tuple[int, ...], r: Any) -> None:
    if r.status_code >= 400:
        assert door.state() == before, f"a refused request ({r.status_code}) changed state: {r.text[:300]}"


# ------------------------------------------------------------------------------ /v2/
@fuzz_settings
@given(
    body=manifest_bodies,
    content_type=st.sampled_from(MEDIA_TYPES) | st.text(max_size=30),
    reference=tags | digests,
)
@example(body=b"[" * 5000 + b"]" * 5000, content_type=MEDIA_TYPES[0], reference="latest")
def test_manifest_put(door: Any, body: bytes, content_type: str, reference: str) -> None:
    before = door.state()
    r = door.client.put(
        f"/v2/{door.repo}/manifests/{quote(reference, safe='')}",
        content=body,
        headers={"Authorization": door.basic, "Content-Type": _header(content_type)},
    )
    assert_oci_answer(r)
    _unchanged_if_refused(door, before, r)


@fuzz_settings
@given(
    name=names, reference=tags | digests, kind=st.sampled_from(["manifests", "blobs", "tags", "referrers"])
)
def test_reads_by_name_and_reference(door: Any, name: str, reference: str, kind: str) -> None:
    path = f"/v2/{quote(name, safe='/')}/{kind}/{quote(reference, safe='')}"
    if kind == "tags":
        path = f"/v2/{quote(name, safe='/')}/tags/list"
    for method in ("GET", "HEAD"):
        r = door.client.request(method, path, headers={"Authorization": door.basic})
        assert_oci_answer(r)


@fuzz_settings
@given(reference=digests)
def test_blob_digests(door: Any, reference: str) -> None:
    before = door.state()
    for method in ("GET", "HEAD", "DELETE"):
        r = door.client.request(
            method,
            f"/v2/{door.repo}/blobs/{quote(reference, safe='')}",
            headers={"Authorization": door.basic},
        )
        assert_oci_answer(r, allowed=(405,))
    r = door.client.post(
        f"/v2/{door.repo}/blobs/uploads/",
        params={"digest": reference},
        content=b"bytes that hash to something else",
        headers={"Authorization": door.basic},
    )
    assert_oci_answer(r)
    _unchanged_if_refused(door, before, r)


@fuzz_settings
@given(header=range_headers)
@example(header="bytes=1649-1649")
@example(header="bytes=0-99999999999999999999999")
def test_blob_ranges(door: Any, header: str) -> None:
    r = door.client.get(
        f"/v2/{door.repo}/blobs/{door.blob_digest}",
        headers={"Authorization": door.basic, "Range": _header(header)},
    )
    assert_oci_answer(r, allowed=(416,))
    if r.status_code == 206:
        first, _, last = r.headers["Content-Range"].removeprefix("bytes ").partition("/")[0].partition("-")
        assert r.content == door.blob[int(first) : int(last) + 1]
    elif r.status_code == 200:
        assert r.content == door.blob


@fuzz_settings
@given(content_range=range_headers | st.text("0123456789-/ ", max_size=30), data=st.binary(max_size=50))
@example(content_range="0-99999999999999999999999", data=b"x")
def test_upload_content_range(door: Any, content_range: str, data: bytes) -> None:
    r = door.client.post(f"/v2/{door.repo}/blobs/uploads/", headers={"Authorization": door.basic})
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    try:
        r = door.client.patch(
            location,
            content=data,
            headers={"Authorization": door.basic, "Content-Range": _header(content_range)},
        )
        assert_oci_answer(r, allowed=(416,))
    finally:
        door.client.delete(location, headers={"Authorization": door.basic})


@fuzz_settings
@given(
    authorization=st.text(max_size=120)
    | st.sampled_from(["Basic", "Basic !!!", "Bearer x", "Basic QVdTOg=="])
)
def test_v2_authorization_headers(door: Any, authorization: str) -> None:
    r = door.client.get(f"/v2/{door.repo}/tags/list", headers={"Authorization": _header(authorization)})
    assert_oci_answer(r)
    assert r.status_code in (200, 400, 401, 403), r.status_code


# ------------------------------------------------------------------------------ ECR JSON API
OPERATIONS = (
    "CreateRepository",
    "DescribeRepositories",
    "DescribeImages",
    "ListImages",
    "BatchGetImage",
    "BatchDeleteImage",
    "BatchCheckLayerAvailability",
    "GetDownloadUrlForLayer",
    "InitiateLayerUpload",
    "UploadLayerPart",
    "CompleteLayerUpload",
    "PutImage",
    "PutImageTagMutability",
    "PutImageScanningConfiguration",
    "SetRepositoryPolicy",
    "GetRepositoryPolicy",
    "PutLifecyclePolicy",
    "StartLifecyclePolicyPreview",
    "GetLifecyclePolicyPreview",
    "TagResource",
    "ListTagsForResource",
    "DescribeImageScanFindings",
    "PutRegistryPolicy",
    "DescribeRegistry",
)


def _special(door_repo: str, operation: str) -> dict[str, st.SearchStrategy[Any]]:
    """Valid values often enough to reach past the first check."""
    repo_names = names if operation.startswith("Delete") else st.just(door_repo) | names
    return {
        "repositoryName": repo_names,
        "registryId": st.sampled_from(["000000000000", "123456789012"]) | st.text(max_size=14),
        "policyText": policy_texts,
        "lifecyclePolicyText": lifecycle_texts,
        "imageManifest": manifest_bodies.map(lambda b: b.decode("utf-8", "replace")),
        "layerDigest": digests,
        "imageDigest": digests,
        "imageTag": tags,
        "resourceArn": st.sampled_from([f"arn:aws:ecr:us-east-1:000000000000:repository/{door_repo}"])
        | st.text(max_size=60),
    }


@st.composite
def ecr_requests(draw: Any, repo: str) -> tuple[str, Any]:
    operation = draw(st.sampled_from(OPERATIONS))
    return operation, draw(ecr_input(operation, _special(repo, operation)))


@fuzz_settings
@given(data=st.data())
def test_ecr_bodies_from_botocore_shapes(door: Any, data: Any) -> None:
    operation, params = data.draw(ecr_requests(door.repo))
    before = door.state()
    r = ecr_call(door, operation, params)
    assert_ecr_answer(r)
    _unchanged_if_refused(door, before, r)


@fuzz_settings
@given(
    operation=st.sampled_from(OPERATIONS),
    body=st.binary(max_size=100) | st.text(max_size=100).map(str.encode),
)
@example(operation="DescribeRepositories", body=b"[" * 2000 + b"]" * 2000)
@example(operation="PutImage", body=b'{"repositoryName": "\\ud800"}')
def test_ecr_raw_bodies(door: Any, operation: str, body: bytes) -> None:
    before = door.state()
    r = ecr_call(door, operation, body=body)
    assert_ecr_answer(r)
    _unchanged_if_refused(door, before, r)


@fuzz_settings
@given(text=policy_texts)
def test_repository_policies(door: Any, text: str) -> None:
    before = door.state()
    r = ecr_call(door, "SetRepositoryPolicy", {"repositoryName": door.repo, "policyText": text})
    assert_ecr_answer(r)
    _unchanged_if_refused(door, before, r)
    if r.status_code == 200:  # leave the repository usable for the other tests
        ecr_call(door, "DeleteRepositoryPolicy", {"repositoryName": door.repo})


@fuzz_settings
@given(text=lifecycle_texts)
@example(text="[" * 600 + "]" * 600)
def test_lifecycle_policies(door: Any, text: str) -> None:
    before = door.state()
    for operation in ("PutLifecyclePolicy", "StartLifecyclePolicyPreview"):
        r = ecr_call(door, operation, {"repositoryName": door.repo, "lifecyclePolicyText": text})
        assert_ecr_answer(r)
        if operation == "PutLifecyclePolicy":
            _unchanged_if_refused(door, before, r)
            if r.status_code == 200:
                ecr_call(door, "DeleteLifecyclePolicy", {"repositoryName": door.repo})


@fuzz_settings
@given(
    data=st.data(),
    date=st.none() | st.text(max_size=20) | st.sampled_from(["20000101T000000Z", "99991231T235959Z"]),
)
def test_sigv4_authorization_headers(door: Any, data: Any, date: str | None) -> None:
    body = json.dumps({"repositoryNames": [door.repo]}).encode()
    headers = signed_headers(door, "DescribeRepositories", body)
    authorization = data.draw(sigv4_authorizations(headers["Authorization"]))
    sent: dict[str, Any] = {
        k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-amz-date")
    }
    sent["Authorization"] = _header(authorization)
    sent["X-Amz-Date"] = _header(date) if date is not None else headers["X-Amz-Date"]
    before = door.state()
    r = door.client.post("/", content=body, headers=sent)
    assert_ecr_answer(r)
    if authorization != headers["Authorization"] or date is not None:
        assert r.status_code in (400, 403), f"{r.status_code} {r.text[:300]}"
    assert door.state() == before
