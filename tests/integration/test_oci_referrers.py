"""OCI Distribution Spec v1.1 — the referrers API ("Listing Referrers", end-12a/end-12b)."""

from __future__ import annotations

import json

import pytest

from tests.integration import ocitools as t

pytestmark = pytest.mark.integration

SBOM = "application/vnd.example.sbom.v1"
SIG = "application/vnd.example.signature.v1"
SIG_CONFIG = "application/vnd.example.signature.config.v1+json"
BUNDLE = "application/vnd.example.bundle.v1"


def _referrers(oci, repo, dig, **params):
    r = oci.request("GET", f"/v2/{repo}/referrers/{dig}", params=params or None)
    t.expect(r, 200, "GET referrers (end-12a: MUST NOT be 404 when supported)")
    assert r.headers.get("Content-Type") == t.OCI_INDEX, (
        "Content-Type MUST be the OCI index type" + t.describe(r)
    )
    body = json.loads(r.content)
    assert body.get("schemaVersion") == 2, t.describe(r)
    assert body.get("mediaType") == t.OCI_INDEX, t.describe(r)
    assert isinstance(body.get("manifests"), list), t.describe(r)
    return r, body["manifests"]


def _by_digest(descs):
    out = {}
    for d in descs:
        assert d["digest"] not in out, f"duplicate referrer {d['digest']}"
        out[d["digest"]] = d
    return out


@pytest.fixture
def scene(oci):
    """A subject image with four referrers: two SBOMs, one signature without artifactType
    (its config media type is used), and one index with an artifactType."""
    repo = oci.new_repo("referrers")
    subject = t.make_image()
    oci.push_image(repo, subject, "app")
    sbom = t.make_image(
        layers=1,
        artifact_type=SBOM,
        config=t.EMPTY_JSON,
        config_media_type=t.OCI_EMPTY,
        subject=subject.desc(),
        annotations={
            "org.opencontainers.image.created": "2024-01-01T14:42:55Z",
            "org.example.sbom.format": "json",
        },
    )
    sbom2 = t.make_image(
        layers=1,
        artifact_type=SBOM,
        config=t.EMPTY_JSON,
        config_media_type=t.OCI_EMPTY,
        subject=subject.desc(),
        annotations={"org.example.sbom.format": "spdx"},
    )
    sig = t.make_image(
        layers=1,
        config=b'{"sig": true}',
        config_media_type=SIG_CONFIG,
        subject=subject.desc(),
        annotations={"org.example.signature.fingerprint": "abcd"},
    )
    child = t.make_image(layers=1)
    oci.push_image(repo, child)
    bundle = t.make_index([child], artifact_type=BUNDLE, subject=subject.desc(), annotations={"k": "v"})
    for m in (sbom, sbom2, sig, bundle):
        r = oci.push_image(repo, m)
        assert r.headers.get("OCI-Subject") == subject.digest, t.describe(r)
    return {"repo": repo, "subject": subject, "sbom": sbom, "sbom2": sbom2, "sig": sig, "bundle": bundle}


def _expected(img, artifact_type):
    d = {"mediaType": img.media_type, "digest": img.digest, "size": len(img.body)}
    if artifact_type is not None:
        d["artifactType"] = artifact_type
    ann = img.manifest.get("annotations")
    if ann:
        d["annotations"] = ann
    return d


def _assert_desc(got, want):
    for key in ("mediaType", "digest", "size"):
        assert got.get(key) == want[key], f"{key}: got {got}, want {want}"
    if "artifactType" in want:
        assert got.get("artifactType") == want["artifactType"], f"artifactType: got {got}, want {want}"
    else:
        assert "artifactType" not in got or got["artifactType"] in ("", None), (
            f"unexpected artifactType: {got}"
        )
    for k, v in want.get("annotations", {}).items():
        assert (got.get("annotations") or {}).get(k) == v, f"annotation {k}: got {got}, want {want}"


def test_referrers_list(oci, scene):
    repo, subject = scene["repo"], scene["subject"]
    _r, descs = _referrers(oci, repo, subject.digest)
    got = _by_digest(descs)
    want = {
        scene["sbom"].digest: _expected(scene["sbom"], SBOM),
        scene["sbom2"].digest: _expected(scene["sbom2"], SBOM),
        # artifactType missing in the manifest -> the config descriptor's mediaType
        scene["sig"].digest: _expected(scene["sig"], SIG_CONFIG),
        scene["bundle"].digest: _expected(scene["bundle"], BUNDLE),
    }
    assert set(got) == set(want), f"referrers: got {sorted(got)}, want {sorted(want)}"
    for dig, w in want.items():
        _assert_desc(got[dig], w)


def test_referrers_filter_by_artifact_type(oci, scene):
    repo, subject = scene["repo"], scene["subject"]
    r, descs = _referrers(oci, repo, subject.digest, artifactType=SBOM)
    applied = [x.strip() for x in r.headers.get("OCI-Filters-Applied", "").split(",")]
    assert "artifactType" in applied, "OCI-Filters-Applied: artifactType MUST be returned" + t.describe(r)
    got = _by_digest(descs)
    assert set(got) == {scene["sbom"].digest, scene["sbom2"].digest}, t.describe(r)
    for d in descs:
        assert d["artifactType"] == SBOM
    r, descs = _referrers(oci, repo, subject.digest, artifactType=SIG_CONFIG)
    assert [d["digest"] for d in descs] == [scene["sig"].digest], t.describe(r)
    r, descs = _referrers(oci, repo, subject.digest, artifactType="application/vnd.example.none")
    assert descs == [], t.describe(r)
    assert "artifactType" in r.headers.get("OCI-Filters-Applied", ""), t.describe(r)


def test_referrers_without_filter_has_no_filter_header(oci, scene):
    r, _ = _referrers(oci, scene["repo"], scene["subject"].digest)
    assert "OCI-Filters-Applied" not in r.headers, t.describe(r)


def test_referrers_empty_for_manifest_without_referrers(oci):
    repo = oci.new_repo("referrers")
    img = t.make_image()
    oci.push_image(repo, img, "lonely")
    _r, descs = _referrers(oci, repo, img.digest)
    assert descs == []


def test_referrers_empty_for_unknown_digest(oci):
    repo = oci.new_repo("referrers")
    _r, descs = _referrers(oci, repo, t.digest(t.rand_bytes(64)))
    assert descs == []


def test_referrers_removed_when_referrer_deleted(oci, scene):
    repo, subject = scene["repo"], scene["subject"]
    t.expect(oci.request("DELETE", f"/v2/{repo}/manifests/{scene['sbom'].digest}"), 202)
    _r, descs = _referrers(oci, repo, subject.digest)
    got = _by_digest(descs)
    assert scene["sbom"].digest not in got, descs
    assert set(got) == {scene["sbom2"].digest, scene["sig"].digest, scene["bundle"].digest}, descs


def test_referrers_pushed_before_subject(oci):
    repo = oci.new_repo("referrers")
    subject = t.make_image()
    art = t.make_image(layers=1, artifact_type=SBOM, subject=subject.desc())
    r = oci.push_image(repo, art)
    assert r.headers.get("OCI-Subject") == subject.digest, t.describe(r)
    _r, descs = _referrers(oci, repo, subject.digest)
    assert [d["digest"] for d in descs] == [art.digest]
    oci.push_image(repo, subject, "late")
    _r, descs = _referrers(oci, repo, subject.digest)
    assert [d["digest"] for d in descs] == [art.digest]


def test_referrers_are_scoped_to_the_repository(oci, scene):
    other = oci.new_repo("referrers")
    _r, descs = _referrers(oci, other, scene["subject"].digest)
    assert descs == [], "referrers of another repository must not leak"


def test_referrers_of_sha512_subject(oci):
    repo = oci.new_repo("referrers")
    subject = t.make_image(layers=1)
    for b in subject.blobs:
        oci.push_blob(repo, b)
    sdig = t.digest(subject.body, "sha512")
    t.expect(oci.put_manifest(repo, sdig, subject.body, subject.media_type), 201)
    desc = {"mediaType": subject.media_type, "digest": sdig, "size": len(subject.body)}
    art = t.make_image(layers=1, artifact_type=SIG, subject=desc)
    r = oci.push_image(repo, art)
    assert r.headers.get("OCI-Subject") == sdig, t.describe(r)
    _r, descs = _referrers(oci, repo, sdig)
    assert [d["digest"] for d in descs] == [art.digest]


@pytest.mark.parametrize("bad", ["sha256:xyz", "not-a-digest", "md5:d41d8cd98f00b204e9800998ecf8427e"])
def test_referrers_with_invalid_digest_is_400(oci, bad):
    repo = oci.new_repo("referrers")
    r = oci.request("GET", f"/v2/{repo}/referrers/{bad}")
    t.expect(r, 400, "Listing Referrers: a <digest> with invalid syntax MUST be 400")
    t.expect_error(r, 400, "DIGEST_INVALID")


def test_referrers_of_unknown_repository(oci):
    r = oci.request("GET", f"/v2/{t.unique('missing')}/referrers/{t.digest(b'x')}")
    t.expect_error(r, 404, "NAME_UNKNOWN", "referrers of a repository that does not exist")
