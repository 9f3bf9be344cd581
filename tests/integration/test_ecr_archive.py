"""Image archival (UpdateImageStorageClass) and pull-time update exclusions, through boto3
and /v2/: an archived image is listed as ARCHIVED but cannot be pulled, and comes back
through UpdateImageStorageClass or a re-push."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import Registry
from tests.integration.ecrtools import error_code
from tests.integration.ocitools import digest, push_blob, push_image, put_manifest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.fixture
def account(ecr: Any) -> str:
    return str(ecr.describe_registry()["registryId"])


def pull(registry: Registry, repo: str, ref: str) -> Any:
    with registry.http() as client:
        return client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})


def statuses(ecr: Any, repo: str, status: str | None = None) -> dict[str, str]:
    kwargs: dict[str, Any] = {"filter": {"imageStatus": status}} if status else {}
    details = ecr.describe_images(repositoryName=repo, **kwargs)["imageDetails"]
    return {d["imageDigest"]: d["imageStatus"] for d in details}


def test_archive_hides_from_pulls_and_restore_brings_back(registry: Registry, ecr: Any, repo: str) -> None:
    image = push_image(registry, repo, "v1")
    digest, (layer,) = image.digest, image.layer_digests
    other = push_image(registry, repo, "v2").digest
    assert pull(registry, repo, "v1").status_code == 200

    out = ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
    )
    assert out["imageStatus"] == "ARCHIVED"
    assert out["imageId"] == {"imageDigest": digest, "imageTag": "v1"}

    for ref in ("v1", digest):
        r = pull(registry, repo, ref)
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        assert "archived" in r.json()["errors"][0]["message"]
    assert pull(registry, repo, "v2").status_code == 200

    # Without a filter ECR lists only ACTIVE images; the filter picks the archived ones.
    assert statuses(ecr, repo) == {other: "ACTIVE"}
    assert statuses(ecr, repo, "ARCHIVED") == {digest: "ARCHIVED"}
    assert statuses(ecr, repo, "ANY") == {digest: "ARCHIVED", other: "ACTIVE"}
    assert statuses(ecr, repo, "ACTIVATING") == {}
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}])["imageDetails"]
    assert detail[0]["imageStatus"] == "ARCHIVED" and "lastArchivedAt" in detail[0]
    assert ecr.list_images(repositoryName=repo)["imageIds"] == [{"imageDigest": other, "imageTag": "v2"}]
    listed = ecr.list_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})["imageIds"]
    assert listed == [{"imageDigest": digest, "imageTag": "v1"}]

    got = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}, {"imageTag": "v2"}])
    assert [i["imageId"]["imageTag"] for i in got["images"]] == ["v2"]
    assert [f["failureCode"] for f in got["failures"]] == ["ImageInaccessible"]

    layers = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[layer])["layers"]
    assert layers[0]["layerAvailability"] == "ARCHIVED"

    with pytest.raises(ClientError) as exc:
        ecr.update_image_storage_class(
            repositoryName=repo, imageId={"imageDigest": digest}, targetStorageClass="ARCHIVE"
        )
    assert error_code(exc) == "ImageStorageClassUpdateNotSupportedException"

    out = ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageDigest": digest}, targetStorageClass="STANDARD"
    )
    assert out["imageStatus"] == "ACTIVE"  # Dockyard restores at once (ECR: ACTIVATING first)
    assert pull(registry, repo, "v1").status_code == 200
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["imageDetails"]
    assert detail[0]["imageStatus"] == "ACTIVE" and "lastActivatedAt" in detail[0]
    layers = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[layer])["layers"]
    assert layers[0]["layerAvailability"] == "AVAILABLE"


def index_of(children: list[tuple[str, bytes]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(body),
                    "platform": {"os": "linux", "architecture": f"arch{i}"},
                }
                for i, (digest, body) in enumerate(children)
            ],
        }
    ).encode()


def test_repush_restores_and_index_takes_children(registry: Registry, ecr: Any, repo: str) -> None:
    pushed = push_image(registry, repo, None)
    child, child_body = pushed.digest, pushed.body
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child,
                    "size": len(child_body),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ).encode()
    index_digest = put_manifest(registry, repo, "multi", index, OCI_INDEX)

    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "multi"}, targetStorageClass="ARCHIVE"
    )
    assert statuses(ecr, repo, "ANY") == {child: "ARCHIVED", index_digest: "ARCHIVED"}
    assert pull(registry, repo, child).status_code == 404

    put_manifest(registry, repo, "multi", index, OCI_INDEX)  # a re-push restores (with children)
    assert pull(registry, repo, "multi").status_code == 200
    assert pull(registry, repo, child).status_code == 200
    assert statuses(ecr, repo) == {child: "ACTIVE", index_digest: "ACTIVE"}


def test_update_storage_class_errors(registry: Registry, ecr: Any, repo: str) -> None:
    push_image(registry, repo, "v1")
    with pytest.raises(ClientError) as exc:
        ecr.update_image_storage_class(
            repositoryName=repo, imageId={"imageTag": "nope"}, targetStorageClass="ARCHIVE"
        )
    assert error_code(exc) == "ImageNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecr.update_image_storage_class(
            repositoryName=f"{repo}-missing", imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
        )
    assert error_code(exc) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as exc:  # already STANDARD
        ecr.update_image_storage_class(
            repositoryName=repo, imageId={"imageTag": "v1"}, targetStorageClass="STANDARD"
        )
    assert error_code(exc) == "ImageStorageClassUpdateNotSupportedException"


def test_pull_time_exclusions(ecr: Any, account: str) -> None:
    run = uuid.uuid4().hex[:8]
    arns = [f"arn:aws:iam::{account}:role/scanner-{run}-{i}" for i in range(3)]
    for arn in arns:
        out = ecr.register_pull_time_update_exclusion(principalArn=arn)
        assert out["principalArn"] == arn and "createdAt" in out
    with pytest.raises(ClientError) as exc:
        ecr.register_pull_time_update_exclusion(principalArn=arns[0])
    assert error_code(exc) == "ExclusionAlreadyExistsException"

    seen: list[str] = []
    kwargs: dict[str, Any] = {"maxResults": 1}
    while True:
        page = ecr.list_pull_time_update_exclusions(**kwargs)
        assert len(page["pullTimeUpdateExclusions"]) <= 1
        seen.extend(page["pullTimeUpdateExclusions"])
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert set(arns) <= set(seen)

    assert ecr.deregister_pull_time_update_exclusion(principalArn=arns[1])["principalArn"] == arns[1]
    with pytest.raises(ClientError) as exc:
        ecr.deregister_pull_time_update_exclusion(principalArn=arns[1])
    assert error_code(exc) == "ExclusionNotFoundException"
    remaining = ecr.list_pull_time_update_exclusions()["pullTimeUpdateExclusions"]
    assert arns[1] not in remaining and arns[0] in remaining
    for arn in (arns[0], arns[2]):
        ecr.deregister_pull_time_update_exclusion(principalArn=arn)

    with pytest.raises(ClientError) as exc:
        ecr.list_pull_time_update_exclusions(nextToken="forged")
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:  # not an IAM user or role
        ecr.register_pull_time_update_exclusion(principalArn=f"arn:aws:iam::{account}:group/devs")
    assert error_code(exc) in ("InvalidParameterException", "ValidationException")


def test_list_image_referrers_reports_archived(registry: Registry, ecr: Any, repo: str) -> None:
    """ListImageReferrers' artifactStatus says ARCHIVED for an archived referrer, and
    filter.artifactStatus picks them (without a filter ECR lists ACTIVE ones only)."""
    app = push_image(registry, repo, "app")
    subject, subject_body = app.digest, app.body
    descriptor = {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)}
    referrers = []
    for kind in ("sig", "sbom"):
        config = json.dumps({"kind": kind, "n": uuid.uuid4().hex}).encode()
        push_blob(registry, repo, config)
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": f"application/vnd.example.{kind}",
                "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
                "layers": [],
                "subject": descriptor,
            }
        ).encode()
        referrers.append(put_manifest(registry, repo, digest(body), body, OCI_MANIFEST))
    sig, sbom = referrers
    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageDigest": sig}, targetStorageClass="ARCHIVE"
    )

    def listed(status: str | None) -> dict[str, str]:
        kwargs: dict[str, Any] = {"filter": {"artifactStatus": status}} if status else {}
        out = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": subject}, **kwargs)
        return {r["digest"]: r["artifactStatus"] for r in out["referrers"]}

    assert listed(None) == {sbom: "ACTIVE"}
    assert listed("ACTIVE") == {sbom: "ACTIVE"}
    assert listed("ARCHIVED") == {sig: "ARCHIVED"}
    assert listed("ANY") == {sig: "ARCHIVED", sbom: "ACTIVE"}
    assert listed("ACTIVATING") == {}
    # Paging with a status filter keeps to that status.
    page = ecr.list_image_referrers(
        repositoryName=repo,
        subjectId={"imageDigest": subject},
        filter={"artifactStatus": "ANY"},
        maxResults=1,
    )
    rest = ecr.list_image_referrers(
        repositoryName=repo,
        subjectId={"imageDigest": subject},
        filter={"artifactStatus": "ANY"},
        maxResults=1,
        nextToken=page["nextToken"],
    )
    assert sorted(r["digest"] for r in page["referrers"] + rest["referrers"]) == sorted(referrers)

    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageDigest": sig}, targetStorageClass="STANDARD"
    )
    assert listed(None) == {sig: "ACTIVE", sbom: "ACTIVE"}


def test_archiving_an_index_keeps_shared_and_tagged_children_pullable(
    registry: Registry, ecr: Any, repo: str
) -> None:
    """A child another active index lists, or that has a tag of its own, stays pullable when an
    index listing it is archived; it follows once every index listing it is archived."""
    images = [push_image(registry, repo, ref) for ref in (None, None, "tagged-child")]
    (own, own_body), (shared, shared_body), (tagged, tagged_body) = [(i.digest, i.body) for i in images]
    first = put_manifest(
        registry,
        repo,
        "first",
        index_of([(own, own_body), (shared, shared_body), (tagged, tagged_body)]),
        OCI_INDEX,
    )
    second = put_manifest(registry, repo, "second", index_of([(shared, shared_body)]), OCI_INDEX)

    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "first"}, targetStorageClass="ARCHIVE"
    )
    assert statuses(ecr, repo, "ANY") == {
        first: "ARCHIVED",
        own: "ARCHIVED",
        shared: "ACTIVE",
        tagged: "ACTIVE",
        second: "ACTIVE",
    }
    assert pull(registry, repo, "first").status_code == 404
    assert pull(registry, repo, own).status_code == 404
    for ref in ("second", shared, "tagged-child", tagged):
        assert pull(registry, repo, ref).status_code == 200, ref

    # Once the last active index listing it is archived, the shared child goes too.
    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "second"}, targetStorageClass="ARCHIVE"
    )
    assert statuses(ecr, repo, "ARCHIVED") == {
        first: "ARCHIVED",
        own: "ARCHIVED",
        shared: "ARCHIVED",
        second: "ARCHIVED",
    }
    assert pull(registry, repo, "tagged-child").status_code == 200

    # Restoring an index brings back every child it lists.
    ecr.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "first"}, targetStorageClass="STANDARD"
    )
    for ref in ("first", own, shared, tagged):
        assert pull(registry, repo, ref).status_code == 200, ref
    assert statuses(ecr, repo, "ARCHIVED") == {second: "ARCHIVED"}
