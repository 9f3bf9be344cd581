"""OCI Distribution Spec v1.1 — base endpoint (end-1), routing and the error envelope."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.integration import ocitools as t

pytestmark = pytest.mark.integration


def test_v2_base_returns_200_with_api_version(oci):
    r = oci.request("GET", "/v2/")
    t.expect(r, 200, "GET /v2/ (spec: Determining Support, end-1)")
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0", t.describe(r)


def test_v2_base_head(oci):
    r = oci.request("HEAD", "/v2/")
    t.expect(r, 200, "HEAD /v2/")
    assert r.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/v3/",
        "/nope",
        "/v2/definitely-not-an-endpoint",
        "/v2/some-repo/tagz/list",
        "/v2/some-repo/manifests",
        "/v2/some-repo/blobz/sha256:" + "a" * 64,
        "/v2/_catalogue",
    ],
)
def test_unknown_routes_are_404(oci, path):
    r = oci.request("GET", path)
    t.expect(r, 404, f"GET {path} is not an endpoint of the spec")
    if r.headers.get("Content-Type", "").startswith("application/json"):
        # Error Codes: a JSON 4xx body MUST be the envelope with a code from the spec's table
        t.assert_envelope(r, f"404 body for {path}")


def test_unknown_route_under_existing_repo_is_404(oci):
    repo = oci.new_repo("base")
    for path in (f"/v2/{repo}/nothing-here", f"/v2/{repo}/tags/listing", f"/v2/{repo}/tags"):
        r = oci.request("GET", path)
        t.expect(r, 404, f"GET {path}")


def test_error_envelope_for_unknown_manifest(oci):
    repo = oci.new_repo("base")
    r = oci.get_manifest(repo, "no-such-tag")
    t.expect_error(r, 404, "MANIFEST_UNKNOWN", "GET unknown tag")
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", t.describe(r)
    body = json.loads(r.content)
    assert set(body) == {"errors"}, t.describe(r)
    for err in body["errors"]:
        assert set(err) <= {"code", "message", "detail"}, t.describe(r)


def test_unknown_repository_is_name_unknown(oci):
    name = t.unique("never-created")
    t.expect_error(oci.request("GET", f"/v2/{name}/tags/list"), 404, "NAME_UNKNOWN", "tags of unknown repo")
    t.expect_error(
        oci.get_manifest(name, "latest"), 404, "NAME_UNKNOWN", "manifest of unknown repo (Pushing Manifests)"
    )
    t.expect_error(
        oci.get_blob(name, t.digest(b"x")), 404, ("NAME_UNKNOWN",), "blob of unknown repo (Pulling blobs)"
    )


def test_push_to_unknown_repository_is_name_unknown(oci):
    name = t.unique("never-created")
    r = oci.request("POST", f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
    t.expect_error(r, 404, "NAME_UNKNOWN", "POST upload to unknown repo (end-4a failure 404)")
    data = b"hello"
    r = oci.request("POST", f"/v2/{name}/blobs/uploads/", params={"digest": t.digest(data)}, content=data)
    t.expect_error(r, 404, "NAME_UNKNOWN", "monolithic POST to unknown repo")
    img = t.make_image(layers=0)
    r = oci.put_manifest(name, "latest", img.body, img.media_type)
    t.expect_error(r, 404, "NAME_UNKNOWN", "manifest PUT to unknown repo (end-7a failure 404)")


def test_nested_repository_name_push_and_pull(oci):
    repo = f"{t.unique('team')}/sub.dir/app_x"
    oci.registry.create_repo(repo)
    img = t.make_image()
    r = oci.push_image(repo, img, "v1")
    t.expect(r, 201)
    got = t.expect(oci.get_manifest(repo, "v1"), 200, "pull nested repo manifest")
    assert got.content == img.body
    for b in img.blobs:
        oci.assert_blob(repo, b)
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert tags == {"name": repo, "tags": ["v1"]}, tags


def test_authentication_is_required_when_configured(oci):
    if oci.auth is None:
        pytest.skip("registry fixture has no credentials configured")
    with httpx.Client(base_url=oci.url, timeout=30, trust_env=False) as anon:
        r = anon.get("/v2/")
        t.expect(r, 401, "GET /v2/ without credentials (end-1 failure 401)")
        assert "WWW-Authenticate" in r.headers, t.describe(r)
        r = anon.get(f"/v2/{t.unique('x')}/tags/list")
        t.expect_error(r, 401, "UNAUTHORIZED", "anonymous tag list")
    with httpx.Client(
        base_url=oci.url, timeout=30, auth=(oci.auth[0], uuid.uuid4().hex), trust_env=False
    ) as bad:
        t.expect(bad.get("/v2/"), 401, "GET /v2/ with a wrong password")
