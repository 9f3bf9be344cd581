"""Both doors delete through one function with one rule set: an index child is refused by the
/v2/ DELETE (409 DENIED) and by BatchDeleteImage (ImageReferencedByManifestList) alike, stays
pullable after both attempts, and goes once its index is gone."""

from __future__ import annotations

from typing import Any

import pytest
from ecrtools import ecr_client

try:
    from . import ocitools as t
except ImportError:
    import ocitools as t

pytestmark = pytest.mark.integration
oci = t.oci_fixture


def _pushed_index(oci: Any, repo: str) -> tuple[Any, Any, Any]:
    """Two images and an index of both, tagged `multi`; the first child is tagged `amd`."""
    amd, arm = t.make_image(), t.make_image()
    oci.push_image(repo, amd, "amd")
    oci.push_image(repo, arm)
    index = t.make_index([amd, arm])
    oci.push_image(repo, index, "multi")
    return amd, arm, index


def _still_pullable(oci: Any, repo: str, image: Any) -> None:
    r = t.expect(oci.get_manifest(repo, image.digest), 200, "the refused child is still pullable")
    assert r.content == image.body


def test_an_index_child_is_refused_by_both_doors_alike(oci: Any) -> None:
    repo = oci.new_repo("deletion")
    ecr = ecr_client(oci.registry)
    amd, arm, index = _pushed_index(oci, repo)

    for child in (amd, arm):
        r = oci.request("DELETE", f"/v2/{repo}/manifests/{child.digest}")
        t.expect_error(r, 409, "DENIED", "DELETE of a manifest an index lists")
        error = t.errors_of(r)[0]
        assert index.digest in error["message"], t.describe(r)
        assert error["detail"] == {"digest": child.digest, "indexes": [index.digest]}
        _still_pullable(oci, repo, child)

        out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": child.digest}])
        assert out["imageIds"] == []
        assert [(f["imageId"]["imageDigest"], f["failureCode"]) for f in out["failures"]] == [
            (child.digest, "ImageReferencedByManifestList")
        ]
        assert out["failures"][0]["failureReason"] == (
            f"Requested image referenced by manifest list: [{child.digest}]"
        )
        _still_pullable(oci, repo, child)

    # The last tag: ECR's untag would delete the child, so it is refused; /v2/ only untags.
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "amd"}])
    assert [f["failureCode"] for f in out["failures"]] == ["ImageReferencedByManifestList"]
    t.expect(oci.request("DELETE", f"/v2/{repo}/manifests/amd"), 202, "untag an index child")
    _still_pullable(oci, repo, amd)

    # With the index gone, each door deletes a child.
    t.expect(oci.request("DELETE", f"/v2/{repo}/manifests/{index.digest}"), 202, "delete the index")
    t.expect(oci.request("DELETE", f"/v2/{repo}/manifests/{amd.digest}"), 202, "delete a free child")
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": arm.digest}])
    assert out["failures"] == [] and out["imageIds"] == [{"imageDigest": arm.digest}]
    for image in (index, amd, arm):
        t.expect_error(oci.get_manifest(repo, image.digest), 404, "MANIFEST_UNKNOWN", "deleted")
