"""OCI Distribution Spec v1.1 — pushing, pulling and deleting manifests.

Spec sections: "Pulling manifests", "Checking if content exists", "Pushing Manifests",
"Pushing Manifests with Subject", "Deleting tags", "Deleting Manifests"; endpoints end-3, end-7, end-9.
"""

from __future__ import annotations

import json

import pytest

from tests.integration import ocitools as t

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(oci):
    return oci.new_repo("manifests")


def _check_pull(oci, repo, ref, img, accept=t.ACCEPT_ALL_MANIFESTS):
    r = oci.get_manifest(repo, ref, accept)
    t.expect(r, 200, f"GET manifest {ref} (end-3)")
    assert r.content == img.body, (
        "the registry MUST store the manifest in the exact byte representation" + t.describe(r)
    )
    assert r.headers.get("Content-Type") == img.media_type, (
        "Content-Type must be the pushed type" + t.describe(r)
    )
    assert r.headers.get("Docker-Content-Digest") == img.digest, t.describe(r)
    assert r.headers.get("Content-Length") == str(len(img.body)), t.describe(r)
    h = oci.head_manifest(repo, ref, accept)
    t.expect(h, 200, f"HEAD manifest {ref}")
    assert h.headers.get("Docker-Content-Digest") == img.digest, t.describe(h)
    assert h.headers.get("Content-Length") == str(len(img.body)), t.describe(h)
    assert h.headers.get("Content-Type") == img.media_type, t.describe(h)
    assert h.content == b""


# ------------------------------------------------------------------------------------------------
# Push and pull
# ------------------------------------------------------------------------------------------------


def test_push_oci_manifest_by_tag_and_pull(oci, repo):
    img = t.make_image()
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, "v1.0", img.body, t.OCI_MANIFEST)
    t.expect(r, 201, "PUT manifest by tag (end-7a)")
    assert r.headers.get("Location"), "201 MUST carry Location" + t.describe(r)
    assert r.headers.get("Docker-Content-Digest") == img.digest, t.describe(r)
    loc = t.expect(oci.request("GET", r.headers["Location"], headers={"Accept": t.OCI_MANIFEST}), 200)
    assert loc.content == img.body, "Location must be a pullable manifest URL"
    _check_pull(oci, repo, "v1.0", img)
    _check_pull(oci, repo, img.digest, img)


@pytest.mark.parametrize(
    "accept",
    [
        t.OCI_MANIFEST,
        f"{t.DOCKER_MANIFEST}, {t.OCI_MANIFEST}",
        f"{t.DOCKER_MANIFEST};q=0.9, {t.OCI_INDEX};q=0.5, {t.OCI_MANIFEST};q=0.8",
        "*/*",
        t.ACCEPT_ALL_MANIFESTS,
    ],
)
def test_accept_negotiation_returns_stored_type(oci, repo, accept):
    img = t.make_image(layers=1)
    oci.push_image(repo, img, "neg")
    _check_pull(oci, repo, "neg", img, accept)
    _check_pull(oci, repo, img.digest, img, accept)


def test_push_by_digest(oci, repo):
    img = t.make_image()
    r = oci.push_image(repo, img)
    assert r.headers.get("Docker-Content-Digest") == img.digest, t.describe(r)
    assert r.headers.get("Location"), t.describe(r)
    _check_pull(oci, repo, img.digest, img)
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert tags["tags"] == [], f"pushing by digest must not create a tag: {tags}"


def test_push_sha512_digest_reference(oci, repo):
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    dig = t.digest(img.body, "sha512")
    r = oci.put_manifest(repo, dig, img.body, img.media_type)
    t.expect(r, 201, "PUT manifest by sha512 digest")
    assert r.headers.get("Docker-Content-Digest") == dig, (
        "Docker-Content-Digest MUST equal the client provided digest (Pushing Manifests)" + t.describe(r)
    )
    g = t.expect(oci.get_manifest(repo, dig), 200, "GET manifest by sha512 digest")
    assert g.content == img.body


def test_push_by_digest_with_tag_parameters(oci, repo):
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, img.digest, img.body, img.media_type, params=[("tag", "a1"), ("tag", "b2")])
    t.expect(r, 201, "PUT by digest with ?tag= (end-7b)")
    oci_tags = [x.strip() for v in r.headers.get_list("OCI-Tag") for x in v.split(",") if x.strip()]
    if not oci_tags:
        pytest.skip("registry does not support ?tag= on manifest PUT (MAY)")
    assert sorted(oci_tags) == ["a1", "b2"], t.describe(r)
    for tag in oci_tags:
        _check_pull(oci, repo, tag, img)


def test_repush_same_manifest_is_idempotent(oci, repo):
    img = t.make_image()
    oci.push_image(repo, img, "same")
    r = oci.put_manifest(repo, "same", img.body, img.media_type)
    t.expect(r, 201, "re-PUT identical manifest")
    r = oci.put_manifest(repo, img.digest, img.body, img.media_type)
    t.expect(r, 201, "re-PUT identical manifest by digest")
    _check_pull(oci, repo, "same", img)


def test_retag_moves_tag(oci, repo):
    one, two = t.make_image(), t.make_image()
    oci.push_image(repo, one, "moving")
    oci.push_image(repo, two, "moving")
    _check_pull(oci, repo, "moving", two)
    _check_pull(oci, repo, one.digest, one)


def test_docker_schema2_manifest(oci, repo):
    img = t.make_image(docker=True)
    r = oci.push_image(repo, img, "docker")
    assert r.headers.get("Docker-Content-Digest") == img.digest, t.describe(r)
    _check_pull(oci, repo, "docker", img, f"{t.DOCKER_MANIFEST}, {t.DOCKER_LIST}")
    _check_pull(oci, repo, img.digest, img)


def test_docker_manifest_list(oci, repo):
    amd, arm = t.make_image(docker=True), t.make_image(docker=True)
    oci.push_image(repo, amd)
    oci.push_image(repo, arm)
    lst = t.make_index([amd, arm], docker=True)
    r = oci.put_manifest(repo, "multi", lst.body, t.DOCKER_LIST)
    t.expect(r, 201, "PUT docker manifest list")
    _check_pull(oci, repo, "multi", lst, f"{t.DOCKER_LIST}, {t.DOCKER_MANIFEST}")
    _check_pull(oci, repo, lst.digest, lst)


def test_oci_index(oci, repo):
    children = [t.make_image(), t.make_image(), t.make_image()]
    for c in children:
        oci.push_image(repo, c)
    idx = t.make_index(children, annotations={"org.opencontainers.image.ref.name": "multi"})
    r = oci.put_manifest(repo, "index", idx.body, t.OCI_INDEX)
    t.expect(r, 201, "PUT OCI image index")
    assert r.headers.get("Docker-Content-Digest") == idx.digest, t.describe(r)
    _check_pull(oci, repo, "index", idx, f"{t.OCI_INDEX}, {t.OCI_MANIFEST}")
    for c in children:
        _check_pull(oci, repo, c.digest, c)


def test_artifact_manifest_with_empty_config(oci, repo):
    assert t.digest(t.EMPTY_JSON) == t.EMPTY_JSON_DIGEST
    payload = b'{"sbom": "spdx"}'
    manifest = {
        "schemaVersion": 2,
        "mediaType": t.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1+json",
        "config": dict(t.EMPTY_DESCRIPTOR),
        "layers": [t.descriptor("application/spdx+json", payload)],
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    art = t.Image(manifest, [t.EMPTY_JSON, payload])
    r = oci.push_image(repo, art, "sbom")
    assert r.headers.get("Docker-Content-Digest") == art.digest, t.describe(r)
    _check_pull(oci, repo, "sbom", art)
    oci.assert_blob(repo, t.EMPTY_JSON, t.EMPTY_JSON_DIGEST)


def test_artifact_with_empty_layers_list(oci, repo):
    manifest = {
        "schemaVersion": 2,
        "mediaType": t.OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing",
        "config": dict(t.EMPTY_DESCRIPTOR),
        "layers": [dict(t.EMPTY_DESCRIPTOR)],
    }
    art = t.Image(manifest, [t.EMPTY_JSON])
    oci.push_image(repo, art, "empty")
    _check_pull(oci, repo, "empty", art)


def test_manifest_just_under_4mib_is_accepted(oci, repo):
    """Spec: registries SHOULD expect to support manifest pushes of at least 4 megabytes."""
    img = t.make_image(layers=1)
    base = len(img.body)
    img.manifest["annotations"] = {"pad": ""}
    target = 4 * 1024 * 1024 - 1024
    img.manifest["annotations"]["pad"] = "x" * (target - base - 40)
    assert 4 * 1024 * 1024 - 2048 < len(img.body) <= 4 * 1024 * 1024, len(img.body)
    r = oci.push_image(repo, img, "big")
    assert r.headers.get("Docker-Content-Digest") == img.digest
    g = t.expect(oci.get_manifest(repo, "big"), 200)
    assert g.content == img.body


def test_manifest_over_4mib_is_413(oci, repo):
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    img.manifest["annotations"] = {"pad": "x" * (4 * 1024 * 1024 + 4096)}
    r = oci.put_manifest(repo, "toobig", img.body, img.media_type)
    t.expect(r, 413, "manifest over the 4 MiB limit (Pushing Manifests: SHOULD respond 413)")
    if r.content:
        t.assert_envelope(r, "413 body")
    t.expect(oci.get_manifest(repo, "toobig"), 404, "rejected manifest must not be tagged")


# ------------------------------------------------------------------------------------------------
# Validation failures
# ------------------------------------------------------------------------------------------------


def test_missing_layer_is_manifest_blob_unknown(oci, repo):
    img = t.make_image(layers=2)
    for b in img.blobs[:-1]:  # the last layer is never pushed
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, "missing-layer", img.body, img.media_type)
    t.expect_error(
        r,
        400,
        "MANIFEST_BLOB_UNKNOWN",
        "manifest referencing a missing layer (Push: MUST be MANIFEST_BLOB_UNKNOWN)",
    )
    t.expect(oci.get_manifest(repo, "missing-layer"), 404)
    t.expect(oci.get_manifest(repo, img.digest), 404)


def test_missing_config_is_manifest_blob_unknown(oci, repo):
    img = t.make_image(layers=1)
    for b in img.blobs[1:]:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, "missing-config", img.body, img.media_type)
    t.expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN", "manifest referencing a missing config")


def test_layer_only_in_other_repository_is_manifest_blob_unknown(oci, repo):
    other = oci.new_repo("manifests")
    img = t.make_image(layers=1)
    oci.push_blob(repo, img.blobs[0])
    oci.push_blob(other, img.blobs[1])
    r = oci.put_manifest(repo, "foreign-layer", img.body, img.media_type)
    t.expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN", "layer exists only in another repository")


def test_index_with_missing_child_is_rejected(oci, repo):
    present, absent = t.make_image(), t.make_image()
    oci.push_image(repo, present)
    idx = t.make_index([present, absent])
    r = oci.put_manifest(repo, "broken-index", idx.body, t.OCI_INDEX)
    # Spec (Push): a registry MAY reject descriptors referencing unknown content, and then it
    # MUST use MANIFEST_BLOB_UNKNOWN.  Dockyard rejects, like CNCF Distribution and ECR.
    t.expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN", "index referencing a missing child manifest")


def test_subject_may_reference_missing_manifest(oci, repo):
    missing = t.make_image()
    art = t.make_image(layers=1, artifact_type="application/vnd.example.sig", subject=missing.desc())
    for b in art.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, art.digest, art.body, art.media_type)
    t.expect(r, 201, "Push: a registry MUST accept a subject that does not exist (yet)")
    assert r.headers.get("OCI-Subject") == missing.digest, t.describe(r)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'"a string"',
        b"null",
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"',
        b"\xff\xfe\x00garbage",
    ],
    ids=["broken", "empty", "array", "string", "null", "truncated", "binary"],
)
def test_malformed_manifest_is_manifest_invalid(oci, repo, body):
    r = oci.put_manifest(repo, "bad", body, t.OCI_MANIFEST)
    t.expect_error(r, 400, "MANIFEST_INVALID", "malformed manifest body")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda m: m.pop("config"), id="no-config"),
        pytest.param(lambda m: m.update(schemaVersion=1), id="schema-version-1"),
        pytest.param(lambda m: m.pop("schemaVersion"), id="no-schema-version"),
        pytest.param(lambda m: m.update(layers="nope"), id="layers-not-a-list"),
        pytest.param(lambda m: m["layers"][0].update(digest="sha256:xyz"), id="bad-layer-digest"),
        pytest.param(lambda m: m["layers"][0].pop("digest"), id="layer-without-digest"),
        pytest.param(lambda m: m["config"].update(size=-1), id="negative-size"),
    ],
)
def test_structurally_invalid_manifest(oci, repo, mutate):
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    mutate(img.manifest)
    r = oci.put_manifest(repo, "invalid", img.body, t.OCI_MANIFEST)
    t.expect_error(r, 400, ("MANIFEST_INVALID", "DIGEST_INVALID"), "structurally invalid manifest")


@pytest.mark.parametrize(
    ("content_type", "body_type"),
    [
        (t.OCI_INDEX, t.OCI_MANIFEST),
        (t.DOCKER_MANIFEST, t.OCI_MANIFEST),
        (t.OCI_MANIFEST, t.DOCKER_MANIFEST),
    ],
)
def test_content_type_media_type_mismatch(oci, repo, content_type, body_type):
    img = t.make_image(layers=1, docker=body_type == t.DOCKER_MANIFEST)
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, "mismatch", img.body, content_type)
    t.expect_error(r, 400, "MANIFEST_INVALID", f"Content-Type {content_type} but mediaType {body_type}")


def test_content_type_parameters_are_ignored(oci, repo):
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, "params", img.body, f"{t.OCI_MANIFEST}; charset=utf-8")
    t.expect(r, 201, "registry SHOULD ignore parameters on Content-Type")
    g = t.expect(oci.get_manifest(repo, "params"), 200)
    assert g.headers.get("Content-Type") == t.OCI_MANIFEST, "no parameters on Content-Type" + t.describe(g)


def test_put_by_digest_with_different_body_is_digest_invalid(oci, repo):
    img, other = t.make_image(layers=1), t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, other.digest, img.body, img.media_type)
    t.expect_error(r, 400, "DIGEST_INVALID", "PUT by digest whose body hashes differently")
    t.expect(oci.get_manifest(repo, other.digest), 404)
    t.expect(oci.get_manifest(repo, img.digest), 404)


def test_put_by_malformed_digest_reference(oci, repo):
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    # as in the OCI conformance suite ("sha256:baddigeststring")
    r = oci.put_manifest(repo, "sha256:baddigeststring", img.body, img.media_type)
    t.expect(r, 400, "PUT manifest to sha256:baddigeststring")
    t.assert_envelope(r)
    assert set(t.error_codes(r)) & {"DIGEST_INVALID", "MANIFEST_INVALID", "TAG_INVALID"}, t.describe(r)
    g = oci.get_manifest(repo, "sha256:baddigeststring")
    t.expect(g, (400, 404), "GET manifest sha256:baddigeststring (conformance: 404 or 400)")


# ------------------------------------------------------------------------------------------------
# Not found
# ------------------------------------------------------------------------------------------------


def test_unknown_manifest(oci, repo):
    t.expect_error(oci.get_manifest(repo, "nope"), 404, "MANIFEST_UNKNOWN", "unknown tag")
    dig = t.digest(t.rand_bytes(32))
    t.expect_error(oci.get_manifest(repo, dig), 404, "MANIFEST_UNKNOWN", "unknown digest")
    h = oci.head_manifest(repo, dig)
    t.expect(h, 404, "HEAD unknown digest")
    assert h.content == b""


def test_manifest_is_scoped_to_its_repository(oci, repo):
    other = oci.new_repo("manifests")
    img = t.make_image()
    oci.push_image(repo, img, "mine")
    t.expect_error(oci.get_manifest(other, img.digest), 404, "MANIFEST_UNKNOWN", "manifest of another repo")
    t.expect_error(oci.get_manifest(other, "mine"), 404, "MANIFEST_UNKNOWN", "tag of another repo")


# ------------------------------------------------------------------------------------------------
# Delete
# ------------------------------------------------------------------------------------------------


def test_delete_manifest_by_digest(oci, repo):
    img = t.make_image()
    oci.push_image(repo, img, "doomed")
    r = oci.request("DELETE", f"/v2/{repo}/manifests/{img.digest}")
    t.expect(r, 202, "DELETE manifest by digest (end-9)")
    t.expect_error(oci.get_manifest(repo, img.digest), 404, "MANIFEST_UNKNOWN", "GET after delete")
    t.expect(oci.head_manifest(repo, img.digest), 404, "HEAD after delete")
    t.expect_error(
        oci.get_manifest(repo, "doomed"),
        404,
        "MANIFEST_UNKNOWN",
        "tags pointing to a deleted manifest MUST 404",
    )
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert "doomed" not in (tags.get("tags") or []), tags
    t.expect_error(
        oci.request("DELETE", f"/v2/{repo}/manifests/{img.digest}"), 404, "MANIFEST_UNKNOWN", "second delete"
    )


def test_delete_manifest_by_tag(oci, repo):
    img = t.make_image()
    oci.push_image(repo, img, "t1")
    t.expect(oci.put_manifest(repo, "t2", img.body, img.media_type), 201)
    r = oci.request("DELETE", f"/v2/{repo}/manifests/t1")
    t.expect(r, 202, "DELETE by tag (Deleting tags: 202; Dockyard deletes the tag)")
    t.expect_error(oci.get_manifest(repo, "t1"), 404, "MANIFEST_UNKNOWN", "deleted tag")
    _check_pull(oci, repo, img.digest, img)
    _check_pull(oci, repo, "t2", img)
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert tags["tags"] == ["t2"], tags


def test_delete_unknown_manifest(oci, repo):
    dig = t.digest(t.rand_bytes(20))
    t.expect_error(
        oci.request("DELETE", f"/v2/{repo}/manifests/{dig}"), 404, "MANIFEST_UNKNOWN", "unknown digest"
    )
    t.expect_error(
        oci.request("DELETE", f"/v2/{repo}/manifests/nosuchtag"), 404, "MANIFEST_UNKNOWN", "unknown tag"
    )


def test_delete_manifest_in_unknown_repository(oci):
    name = t.unique("missing")
    r = oci.request("DELETE", f"/v2/{name}/manifests/{t.digest(b'x')}")
    t.expect_error(r, 404, "NAME_UNKNOWN", "Deleting Manifests: repository does not exist MUST 404")


def test_deleted_manifest_can_be_pushed_again(oci, repo):
    img = t.make_image()
    oci.push_image(repo, img, "again")
    t.expect(oci.request("DELETE", f"/v2/{repo}/manifests/{img.digest}"), 202)
    r = oci.put_manifest(repo, "again", img.body, img.media_type)
    t.expect(r, 201, "re-push after delete (blobs are still there)")
    _check_pull(oci, repo, "again", img)


# ------------------------------------------------------------------------------------------------
# Subject
# ------------------------------------------------------------------------------------------------


def test_manifest_with_subject_returns_oci_subject(oci, repo):
    base = t.make_image()
    oci.push_image(repo, base, "base")
    sig = t.make_image(layers=1, artifact_type="application/vnd.example.signature.v1", subject=base.desc())
    for b in sig.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, sig.digest, sig.body, sig.media_type)
    t.expect(r, 201, "PUT manifest with subject")
    assert r.headers.get("OCI-Subject") == base.digest, (
        "Pushing Manifests with Subject: MUST respond with OCI-Subject" + t.describe(r)
    )
    _check_pull(oci, repo, sig.digest, sig)


def test_manifest_without_subject_has_no_oci_subject(oci, repo):
    img = t.make_image()
    r = oci.push_image(repo, img, "plain")
    assert "OCI-Subject" not in r.headers, t.describe(r)


def test_index_with_subject_returns_oci_subject(oci, repo):
    base, child = t.make_image(), t.make_image()
    oci.push_image(repo, base, "base")
    oci.push_image(repo, child)
    idx = t.make_index([child], artifact_type="application/vnd.example.bundle", subject=base.desc())
    r = oci.put_manifest(repo, idx.digest, idx.body, t.OCI_INDEX)
    t.expect(r, 201, "PUT index with subject")
    assert r.headers.get("OCI-Subject") == base.digest, t.describe(r)


def test_manifest_json_roundtrip_is_byte_exact(oci, repo):
    img = t.make_image(layers=1)
    # unusual but valid JSON formatting: key order, whitespace, unicode escapes
    body = (
        json.dumps(img.manifest, indent="\t", ensure_ascii=True).replace(": ", " :  ").encode() + b"\r\n  \n"
    )
    json.loads(body)
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.put_manifest(repo, "exact", body, img.media_type)
    t.expect(r, 201)
    assert r.headers.get("Docker-Content-Digest") == t.digest(body), t.describe(r)
    g = t.expect(oci.get_manifest(repo, "exact"), 200)
    assert g.content == body, "the registry MUST store the manifest in the exact byte representation"
