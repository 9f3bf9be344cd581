"""Lifecycle policies through boto3: Put/Get/DeleteLifecyclePolicy, previews with the waiter,
and `dockyard lifecycle run` actually expiring images (then /v2/ answers 404)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from clients import Registry
from ecrtools import aws_cli, ecr_client

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
VALIDATION_PREFIX = (
    "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
    "'Lifecycle policy validation failure: "
)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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


def push(registry: Registry, repo: str, tag: str | None) -> str:
    """Push a small fresh image through /v2/ (by tag, or by digest when untagged)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": uuid.uuid4().hex}).encode()
    layer = uuid.uuid4().bytes * 16
    with registry.http() as client:
        for data in (config, layer):
            r = client.post(
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": sha(data)},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            if r.status_code == 202:
                r = client.put(r.headers["Location"], params={"digest": sha(data)}, content=data)
            assert r.status_code == 201, r.text
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": sha(layer), "size": len(layer)}],
            }
        ).encode()
        r = client.put(
            f"/v2/{repo}/manifests/{tag or sha(body)}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 201, r.text
    return sha(body)


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def message_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


@pytest.fixture
def ecr(registry: Registry) -> Any:
    return ecr_client(registry)


def test_put_get_delete_policy(ecr: Any, repo: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecr.get_lifecycle_policy(repositoryName=repo)
    assert code_of(exc) == "LifecyclePolicyNotFoundException"
    assert f"repository with name '{repo}'" in message_of(exc)

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
        assert code_of(exc) == "LifecyclePolicyNotFoundException"

    with pytest.raises(ClientError) as exc:
        ecr.put_lifecycle_policy(repositoryName=f"{repo}-missing", lifecyclePolicyText=text)
    assert code_of(exc) == "RepositoryNotFoundException"


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
    assert code_of(exc) == "InvalidParameterException"
    assert message_of(exc).startswith(VALIDATION_PREFIX), message_of(exc)
    assert detail in message_of(exc)
    with pytest.raises(ClientError) as exc:
        ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=text)
    assert code_of(exc) == "InvalidParameterException"


def test_preview_with_the_waiter(ecr: Any, registry: Registry, repo: str) -> None:
    with pytest.raises(ClientError) as exc:
        ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert code_of(exc) == "LifecyclePolicyPreviewNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecr.start_lifecycle_policy_preview(repositoryName=repo)  # no text and no stored policy
    assert code_of(exc) == "LifecyclePolicyNotFoundException"

    tagged = [push(registry, repo, f"prod-{i}") for i in range(4)]  # oldest first
    untagged = push(registry, repo, None)
    other = push(registry, repo, "dev-1")
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
    tagged = [push(registry, repo, f"rel-{i}") for i in range(3)]
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
