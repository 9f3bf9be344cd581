"""Lifecycle policies through boto3: Put/Get/DeleteLifecyclePolicy, previews with the waiter,
and `dockyard lifecycle run` actually expiring images (then /v2/ answers 404)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import Registry
from tests.integration.ecrtools import aws_cli, error_code, error_message
from tests.integration.ocitools import push_image

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
VALIDATION_PREFIX = (
    "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
    "'Lifecycle policy validation failure: "
)


def policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)}, indent=2)


def keep_newest(count: int, prefixes: list[str], priority: int = 1) -> dict[str, Any]:
    return {
        "rulePriority": priority,
        "description": f"keep the {count} newest {prefixes} images",
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": prefixes,
            "countType": "imageCountMoreThan",
            "countNumber": count,
        },
        "action": {"type": "expire"},
    }


def test_put_get_delete_policy(ecr: Any, repo: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecr.get_lifecycle_policy(repositoryName=repo)
    assert error_code(exc) == "LifecyclePolicyNotFoundException"
    assert f"repository with name '{repo}'" in error_message(exc)

    text = policy(keep_newest(3, ["prod"]))
    out = ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    assert (out["repositoryName"], out["lifecyclePolicyText"]) == (repo, text)
    assert len(out["registryId"]) == 12

    got = ecr.get_lifecycle_policy(repositoryName=repo)
    assert got["lifecyclePolicyText"] == text
    assert got["lastEvaluatedAt"].timestamp() == 0  # never evaluated yet: the epoch, as ECR answers

    deleted = ecr.delete_lifecycle_policy(repositoryName=repo)
    assert deleted["lifecyclePolicyText"] == text
    for call in (ecr.get_lifecycle_policy, ecr.delete_lifecycle_policy):
        with pytest.raises(ClientError) as exc:
            call(repositoryName=repo)
        assert error_code(exc) == "LifecyclePolicyNotFoundException"

    with pytest.raises(ClientError) as exc:
        ecr.put_lifecycle_policy(repositoryName=f"{repo}-missing", lifecyclePolicyText=text)
    assert error_code(exc) == "RepositoryNotFoundException"


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ({"notRules": [], "padding": "x" * 100}, "object has"),
        ({"rules": [{**keep_newest(1, ["a"]), "rulePriority": 0}]}, "numeric instance is lower than"),
        (
            {"rules": [{**keep_newest(1, ["a"]), "action": {"type": "delete"}}]},
            "instance value (delete) not found in enum",
        ),
    ],
)
def test_invalid_policies_are_refused(ecr: Any, repo: str, document: dict[str, Any], detail: str) -> None:
    text = json.dumps(document)
    with pytest.raises(ClientError) as exc:
        ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    assert error_code(exc) == "InvalidParameterException"
    assert error_message(exc).startswith(VALIDATION_PREFIX), error_message(exc)
    assert detail in error_message(exc)
    with pytest.raises(ClientError) as exc:
        ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=text)
    assert error_code(exc) == "InvalidParameterException"


def test_preview_with_the_waiter(ecr: Any, registry: Registry, repo: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert error_code(exc) == "LifecyclePolicyPreviewNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecr.start_lifecycle_policy_preview(repositoryName=repo)  # no text and no stored policy
    assert error_code(exc) == "LifecyclePolicyNotFoundException"

    tagged = [push_image(registry, repo, f"prod-{i}").digest for i in range(4)]  # oldest first
    untagged = push_image(registry, repo, None).digest
    other = push_image(registry, repo, "dev-1").digest
    text = policy(keep_newest(2, ["prod"]))
    started = ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=text)
    assert started["status"] in ("IN_PROGRESS", "COMPLETE")
    assert started["lifecyclePolicyText"] == text

    ecr.get_waiter("lifecycle_policy_preview_complete").wait(
        repositoryName=repo, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert preview["status"] == "COMPLETE"
    assert preview["lifecyclePolicyText"] == text
    results = preview["previewResults"]
    # imageCountMoreThan 2 on prod*: the two oldest prod images expire, oldest first.
    assert [r["imageDigest"] for r in results] == tagged[:2]
    assert [r["imageTags"] for r in results] == [["prod-0"], ["prod-1"]]
    for r in results:
        assert r["action"] == {"type": "EXPIRE"}
        assert r["appliedRulePriority"] == 1
        assert r["storageClass"] == "STANDARD"
    assert preview["summary"] == {"expiringImageTotalCount": 2}
    assert untagged not in {r["imageDigest"] for r in results}
    assert other not in {r["imageDigest"] for r in results}

    first = ecr.get_lifecycle_policy_preview(repositoryName=repo, maxResults=1)
    assert [r["imageDigest"] for r in first["previewResults"]] == tagged[:1]
    second = ecr.get_lifecycle_policy_preview(repositoryName=repo, maxResults=1, nextToken=first["nextToken"])
    assert [r["imageDigest"] for r in second["previewResults"]] == tagged[1:2]
    assert "nextToken" not in second
    untagged_only = ecr.get_lifecycle_policy_preview(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert untagged_only["previewResults"] == []
    by_id = ecr.get_lifecycle_policy_preview(repositoryName=repo, imageIds=[{"imageTag": "prod-1"}])
    assert [r["imageDigest"] for r in by_id["previewResults"]] == [tagged[1]]

    # A preview of the stored policy (none given): keep 3; `aws ecr wait` polls it.
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy(keep_newest(3, ["prod"])))
    ecr.start_lifecycle_policy_preview(repositoryName=repo)
    assert aws_cli(registry, "wait", "lifecycle-policy-preview-complete", "--repository-name", repo) == {}
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert [r["imageDigest"] for r in preview["previewResults"]] == tagged[:1]
    # A preview deletes nothing.
    assert len(ecr.describe_images(repositoryName=repo)["imageDetails"]) == 6


def test_lifecycle_run_expires_images(ecr: Any, registry: Registry, repo: str) -> None:
    tagged = [push_image(registry, repo, f"rel-{i}").digest for i in range(3)]
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy(keep_newest(1, ["rel"])))

    result = registry.cli("lifecycle", "run", repo)
    output = result.stdout if hasattr(result, "stdout") else str(result)
    for digest in tagged[:2]:
        assert f"EXPIRED {digest}" in output
    assert tagged[2] not in output
    assert "2 images expired" in output

    with registry.http() as client:
        for digest, tag in zip(tagged[:2], ["rel-0", "rel-1"], strict=True):
            assert (
                client.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}).status_code
                == 404
            )
            assert (
                client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}).status_code == 404
            )
        assert client.get(f"/v2/{repo}/manifests/rel-2", headers={"Accept": OCI_MANIFEST}).status_code == 200
    remaining = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert [d["imageDigest"] for d in remaining] == [tagged[2]]
    assert ecr.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"].timestamp() > 0
