"""ECR repository actions through real clients (boto3 and the aws CLI): CreateRepository,
DescribeRepositories, DeleteRepository, PutImageTagMutability, PutImageScanningConfiguration,
TagResource, UntagResource, ListTagsForResource; tag immutability as /v2/ pushes see it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.ecrtools import aws_cli, expect_error
from tests.integration.ocitools import error_codes, seeded_image, try_push_image


def uid(prefix: str = "repo") -> str:
    return f"it-ecr/{prefix}-{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------------ aws CLI


def test_getting_started_with_the_aws_cli(registry: Any) -> None:
    # Left over by an earlier run against the same data? Start clean.
    aws_cli(registry, "delete-repository", "--repository-name", "hello-world", "--force", check=False)
    created = aws_cli(
        registry,
        "create-repository",
        "--repository-name",
        "hello-world",
        "--image-scanning-configuration",
        "scanOnPush=true",
    )["repository"]
    assert created["repositoryName"] == "hello-world"
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert created["imageTagMutability"] == "MUTABLE"
    assert created["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert created["repositoryArn"].endswith(":repository/hello-world")
    assert created["repositoryUri"].endswith("/hello-world")

    listed = aws_cli(registry, "describe-repositories")["repositories"]
    assert "hello-world" in [r["repositoryName"] for r in listed]
    one = aws_cli(registry, "describe-repositories", "--repository-names", "hello-world")["repositories"]
    assert [r["repositoryArn"] for r in one] == [created["repositoryArn"]]

    assert try_push_image(registry, "hello-world", "latest", seeded_image("cli")).status_code == 201
    refused = aws_cli(registry, "delete-repository", "--repository-name", "hello-world", check=False)
    assert refused.returncode != 0 and "RepositoryNotEmptyException" in refused.stderr

    deleted = aws_cli(registry, "delete-repository", "--repository-name", "hello-world", "--force")
    assert deleted["repository"]["repositoryName"] == "hello-world"
    gone = aws_cli(registry, "describe-repositories", "--repository-names", "hello-world", check=False)
    assert gone.returncode != 0 and "RepositoryNotFoundException" in gone.stderr


# ------------------------------------------------------------------ CreateRepository


def test_create_repository_defaults(ecr: Any) -> None:
    name = uid("defaults")
    repo = ecr.create_repository(repositoryName=name)["repository"]
    assert repo["repositoryName"] == name
    assert repo["registryId"] == repo["repositoryArn"].split(":")[4]
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:{repo['registryId']}:repository/{name}"
    assert repo["repositoryUri"].endswith(f"/{name}")
    assert repo["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repo
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repo["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert repo["createdAt"].tzinfo is not None


def test_create_repository_with_every_setting_is_echoed_and_described(ecr: Any) -> None:
    name = uid("full")
    filters = [{"filterType": "WILDCARD", "filter": "dev-*"}, {"filterType": "WILDCARD", "filter": "latest"}]
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    created = ecr.create_repository(
        repositoryName=name,
        tags=[{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": ""}],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key},
    )["repository"]
    assert created["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert created["imageTagMutabilityExclusionFilters"] == filters
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert created["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}
    described = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert described == [created]
    tags = ecr.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [
        {"Key": "env", "Value": ""},
        {"Key": "team", "Value": "payments"},
    ]


@pytest.mark.parametrize("encryption_type", ["KMS", "KMS_DSSE"])
def test_kms_without_a_key_uses_the_aws_managed_key(ecr: Any, encryption_type: str) -> None:
    repo = ecr.create_repository(
        repositoryName=uid("kms"), encryptionConfiguration={"encryptionType": encryption_type}
    )["repository"]
    account = repo["registryId"]
    assert repo["encryptionConfiguration"]["encryptionType"] == encryption_type
    # The aws/ecr managed key by its key ARN, as ECR answers (not the alias).
    assert re.fullmatch(
        rf"arn:aws:kms:us-east-1:{account}:key/[0-9a-f-]{{36}}", repo["encryptionConfiguration"]["kmsKey"]
    )


def test_aes256_with_a_kms_key_is_refused(ecr: Any) -> None:
    expect_error(
        "InvalidParameterException",
        ecr.create_repository,
        repositoryName=uid("aes"),
        encryptionConfiguration={"encryptionType": "AES256", "kmsKey": "alias/mine"},
    )


def test_create_existing_repository(ecr: Any) -> None:
    name = uid("twice")
    account = ecr.create_repository(repositoryName=name)["repository"]["registryId"]
    expect_error(
        "RepositoryAlreadyExistsException",
        ecr.create_repository,
        message=f"The repository with name '{name}' already exists in the registry with id '{account}'",
        repositoryName=name,
    )


@pytest.mark.parametrize("name", ["Upper", "a//b", "-ab", "ab-", "a..b", "ab/", "x" * 257, "a"])
def test_invalid_repository_names(raw_ecr: Any, name: str) -> None:
    message = expect_error("InvalidParameterException", raw_ecr.create_repository, repositoryName=name)
    assert message.startswith("Invalid parameter at 'repositoryName' failed to satisfy constraint:"), message


def test_tag_limits_on_create(ecr: Any) -> None:
    fifty = [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(50)]
    repo = ecr.create_repository(repositoryName=uid("fifty"), tags=fifty)["repository"]
    assert len(ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]) == 50
    expect_error(
        "TooManyTagsException",
        ecr.create_repository,
        repositoryName=uid("fiftyone"),
        tags=[*fifty, {"Key": "one-more", "Value": "x"}],
    )
    for bad in (
        {"Key": "k" * 129, "Value": "v"},
        {"Key": "k", "Value": "v" * 257},
        {"Key": "aws:reserved", "Value": "v"},
        {"Key": "bad#char", "Value": "v"},
    ):
        expect_error(
            "InvalidTagParameterException", ecr.create_repository, repositoryName=uid("tag"), tags=[bad]
        )
    name = uid("tag-ok")
    ecr.create_repository(repositoryName=name, tags=[{"Key": "k" * 128, "Value": "v" * 256}])


def test_mutability_and_exclusion_filters_must_agree(ecr: Any) -> None:
    for mode in ("IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"):
        expect_error(
            "InvalidParameterException",
            ecr.create_repository,
            message=(
                "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
                f"'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {mode}'"
            ),
            repositoryName=uid("excl"),
            imageTagMutability=mode,
        )
    for mode in ("IMMUTABLE", "MUTABLE"):
        expect_error(
            "InvalidParameterException",
            ecr.create_repository,
            repositoryName=uid("excl"),
            imageTagMutability=mode,
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "x*"}],
        )
    expect_error(
        "InvalidParameterException",
        ecr.create_repository,
        repositoryName=uid("excl"),
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "bad/filter"}],
    )


# ---------------------------------------------------------------- DescribeRepositories


def test_describe_by_names_keeps_request_order_and_reports_the_missing_one(ecr: Any) -> None:
    a, b = uid("order-b"), uid("order-a")
    for name in (a, b):
        ecr.create_repository(repositoryName=name)
    names = [r["repositoryName"] for r in ecr.describe_repositories(repositoryNames=[a, b])["repositories"]]
    assert names == [a, b]
    missing = uid("missing")
    account = ecr.describe_repositories(repositoryNames=[a])["repositories"][0]["registryId"]
    expect_error(
        "RepositoryNotFoundException",
        ecr.describe_repositories,
        message=f"The repository with name '{missing}' does not exist in the registry with id '{account}'",
        repositoryNames=[a, missing],
    )


def test_describe_pagination(ecr: Any) -> None:
    mine = {uid("page") for _ in range(7)}
    for name in mine:
        ecr.create_repository(repositoryName=name)
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"maxResults": 3}
    while True:
        page = ecr.describe_repositories(**kwargs)
        pages += 1
        assert len(page["repositories"]) <= 3
        seen.extend(r["repositoryName"] for r in page["repositories"])
        if "nextToken" not in page:
            break
        assert len(page["repositories"]) == 3
        kwargs = {"maxResults": 3, "nextToken": page["nextToken"]}
    assert pages >= 3
    assert len(seen) == len(set(seen)), "a repository appeared on two pages"
    assert seen == sorted(seen)
    assert mine <= set(seen)

    paginated = [
        r["repositoryName"]
        for page in ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
        for r in page["repositories"]
    ]
    assert paginated == seen
    everything = [r["repositoryName"] for r in ecr.describe_repositories(maxResults=1000)["repositories"]]
    assert everything == seen


def test_describe_pagination_rejects_tampered_and_foreign_tokens(ecr: Any, raw_ecr: Any) -> None:
    for _ in range(2):
        ecr.create_repository(repositoryName=uid("tamper"))
    token = ecr.describe_repositories(maxResults=1)["nextToken"]
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    invalid = "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"
    for bad in (flipped, token[:-10], "not-a-token", token + "x"):
        expect_error(
            "InvalidParameterException",
            ecr.describe_repositories,
            message=invalid,
            maxResults=1,
            nextToken=bad,
        )
    ecr.create_repository_creation_template(prefix=uid("tok"), appliedFor=["REPLICATION"])
    ecr.create_repository_creation_template(prefix=uid("tok"), appliedFor=["REPLICATION"])
    other = ecr.describe_repository_creation_templates(maxResults=1)["nextToken"]
    expect_error("InvalidParameterException", ecr.describe_repositories, maxResults=1, nextToken=other)
    expect_error("InvalidParameterException", raw_ecr.describe_repositories, maxResults=0)
    expect_error("InvalidParameterException", raw_ecr.describe_repositories, maxResults=1001)
    expect_error(
        "InvalidParameterException",
        ecr.describe_repositories,
        repositoryNames=["anything"],
        maxResults=5,
    )


# --------------------------------------------------------------------- DeleteRepository


def test_delete_repository(registry: Any, ecr: Any) -> None:
    name = uid("delete")
    created = ecr.create_repository(repositoryName=name, tags=[{"Key": "a", "Value": "b"}])["repository"]
    account = created["registryId"]
    assert try_push_image(registry, name, "v1", seeded_image(name)).status_code == 201
    expect_error(
        "RepositoryNotEmptyException",
        ecr.delete_repository,
        message=(
            f"The repository with name '{name}' in registry with id '{account}' "
            "cannot be deleted because it still contains images"
        ),
        repositoryName=name,
    )
    deleted = ecr.delete_repository(repositoryName=name, force=True)["repository"]
    assert deleted == created
    expect_error(
        "RepositoryNotFoundException",
        ecr.delete_repository,
        message=f"The repository with name '{name}' does not exist in the registry with id '{account}'",
        repositoryName=name,
    )
    with registry.http() as http:
        assert http.get(f"/v2/{name}/manifests/v1").status_code == 404
    # The tags went with it: a new repository of the same name starts bare.
    again = ecr.create_repository(repositoryName=name)["repository"]
    assert ecr.list_tags_for_resource(resourceArn=again["repositoryArn"])["tags"] == []
    assert ecr.delete_repository(repositoryName=name)["repository"]["repositoryName"] == name


# ---------------------------------------------------------- PutImageTagMutability + /v2/


def test_put_image_tag_mutability_echo_and_errors(ecr: Any) -> None:
    name = uid("mut")
    ecr.create_repository(repositoryName=name)
    filters = [{"filterType": "WILDCARD", "filter": "dev-*"}]
    out = ecr.put_image_tag_mutability(
        repositoryName=name,
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
    )
    assert out["repositoryName"] == name
    assert out["imageTagMutability"] == "MUTABLE_WITH_EXCLUSION"
    assert out["imageTagMutabilityExclusionFilters"] == filters
    assert out["registryId"]
    described = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert described["imageTagMutabilityExclusionFilters"] == filters

    out = ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    assert out["imageTagMutability"] == "IMMUTABLE" and "imageTagMutabilityExclusionFilters" not in out
    described = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert described["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in described

    expect_error(
        "InvalidParameterException",
        ecr.put_image_tag_mutability,
        repositoryName=name,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
    )
    expect_error(
        "InvalidParameterException",
        ecr.put_image_tag_mutability,
        repositoryName=name,
        imageTagMutability="MUTABLE",
        imageTagMutabilityExclusionFilters=filters,
    )
    missing = uid("missing")
    expect_error(
        "RepositoryNotFoundException",
        ecr.put_image_tag_mutability,
        repositoryName=missing,
        imageTagMutability="IMMUTABLE",
    )


def _overwrite(registry: Any, repo: str, tag: str) -> httpx.Response:
    """Push a tag, then push different content under the same tag; the second response."""
    first = try_push_image(registry, repo, tag, seeded_image(f"{tag}-first-{uuid.uuid4().hex}"))
    assert first.status_code == 201, first.text
    return try_push_image(registry, repo, tag, seeded_image(f"{tag}-second-{uuid.uuid4().hex}"))


def test_immutable_tags_refuse_overwrites_over_v2(registry: Any, ecr: Any) -> None:
    name = uid("immutable")
    ecr.create_repository(repositoryName=name)
    assert _overwrite(registry, name, "moves").status_code == 201  # MUTABLE: tags move freely

    ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    refused = _overwrite(registry, name, "v1")
    assert refused.status_code == 400, refused.text
    assert error_codes(refused) == ["TAG_INVALID"]
    assert "v1" in refused.json()["errors"][0]["message"]
    # Re-pushing the very same manifest under the tag is not a move.
    seed = f"same-{uuid.uuid4().hex}"
    assert try_push_image(registry, name, "same", seeded_image(seed)).status_code == 201
    assert try_push_image(registry, name, "same", seeded_image(seed)).status_code == 201

    ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="MUTABLE")
    assert _overwrite(registry, name, "v2").status_code == 201


def test_immutable_with_exclusion_over_v2(registry: Any, ecr: Any) -> None:
    name = uid("imm-excl")
    ecr.create_repository(
        repositoryName=name,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[
            {"filterType": "WILDCARD", "filter": "latest"},
            {"filterType": "WILDCARD", "filter": "dev-*"},
        ],
    )
    assert _overwrite(registry, name, "latest").status_code == 201
    assert _overwrite(registry, name, "dev-42").status_code == 201
    refused = _overwrite(registry, name, "v1.0")
    assert refused.status_code == 400 and error_codes(refused) == ["TAG_INVALID"]
    refused = _overwrite(registry, name, "latest-1")  # a filter matches the whole tag
    assert refused.status_code == 400 and error_codes(refused) == ["TAG_INVALID"]


def test_mutable_with_exclusion_over_v2(registry: Any, ecr: Any) -> None:
    name = uid("mut-excl")
    ecr.create_repository(repositoryName=name)
    ecr.put_image_tag_mutability(
        repositoryName=name,
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "release-*"}],
    )
    assert _overwrite(registry, name, "latest").status_code == 201
    refused = _overwrite(registry, name, "release-1")
    assert refused.status_code == 400 and error_codes(refused) == ["TAG_INVALID"]


# --------------------------------------------------------- PutImageScanningConfiguration


def test_put_image_scanning_configuration(ecr: Any) -> None:
    name = uid("scan")
    ecr.create_repository(repositoryName=name)
    out = ecr.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
    )
    assert out["repositoryName"] == name and out["imageScanningConfiguration"] == {"scanOnPush": True}
    assert out["registryId"]
    described = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}
    ecr.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
    )
    described = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": False}
    expect_error(
        "RepositoryNotFoundException",
        ecr.put_image_scanning_configuration,
        repositoryName=uid("missing"),
        imageScanningConfiguration={"scanOnPush": True},
    )


# --------------------------------------------------------------------- resource tags


def test_tag_untag_list(ecr: Any) -> None:
    repo = ecr.create_repository(repositoryName=uid("tags"), tags=[{"Key": "a", "Value": "1"}])["repository"]
    arn = repo["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "changed"}])
    tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == {"a": "changed", "b": "2"}
    ecr.untag_resource(resourceArn=arn, tagKeys=["a", "not-there"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]

    ecr.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    expect_error(
        "TooManyTagsException",
        ecr.tag_resource,
        resourceArn=arn,
        tags=[{"Key": "fifty-first", "Value": "v"}],
    )
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "overwriting is fine at 50"}])
    assert len(ecr.list_tags_for_resource(resourceArn=arn)["tags"]) == 50
    expect_error(
        "InvalidTagParameterException", ecr.tag_resource, resourceArn=arn, tags=[{"Key": "", "Value": "v"}]
    )
    expect_error(
        "InvalidTagParameterException",
        ecr.tag_resource,
        resourceArn=arn,
        tags=[{"Key": "x", "Value": "v" * 257}],
    )
    expect_error("InvalidTagParameterException", ecr.untag_resource, resourceArn=arn, tagKeys=["k" * 129])


def test_tag_errors_for_bad_and_unknown_arns(ecr: Any) -> None:
    repo = ecr.create_repository(repositoryName=uid("arn"))["repository"]
    account = repo["registryId"]
    for bad in ("not-an-arn", "arn:aws:s3:::bucket", f"arn:aws:ecr:us-east-1:{account}:image/x"):
        for call, extra in (
            (ecr.list_tags_for_resource, {}),
            (ecr.tag_resource, {"tags": [{"Key": "a", "Value": "b"}]}),
            (ecr.untag_resource, {"tagKeys": ["a"]}),
        ):
            expect_error(
                "InvalidParameterException",
                call,
                message="Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'",
                resourceArn=bad,
                **extra,
            )
    missing = uid("missing")
    arn = f"arn:aws:ecr:us-east-1:{account}:repository/{missing}"
    message = f"The repository with name '{missing}' does not exist in the registry with id '{account}'"
    expect_error("RepositoryNotFoundException", ecr.list_tags_for_resource, message=message, resourceArn=arn)
    expect_error(
        "RepositoryNotFoundException", ecr.tag_resource, resourceArn=arn, tags=[{"Key": "a", "Value": "b"}]
    )
    expect_error("RepositoryNotFoundException", ecr.untag_resource, resourceArn=arn, tagKeys=["a"])


def test_tags_with_the_aws_cli(registry: Any, ecr: Any) -> None:
    arn = ecr.create_repository(repositoryName=uid("cli-tags"))["repository"]["repositoryArn"]
    aws_cli(registry, "tag-resource", "--resource-arn", arn, "--tags", "Key=owner,Value=ops")
    assert aws_cli(registry, "list-tags-for-resource", "--resource-arn", arn)["tags"] == [
        {"Key": "owner", "Value": "ops"}
    ]
    aws_cli(registry, "untag-resource", "--resource-arn", arn, "--tag-keys", "owner")
    assert aws_cli(registry, "list-tags-for-resource", "--resource-arn", arn)["tags"] == []


def test_hostile_json_is_a_client_error_never_a_500(ecr: Any, raw_ecr: Any) -> None:
    """Issue 16, defect 3: deep nesting in policy texts, a lone surrogate in a name."""
    name = uid("hostile")
    ecr.create_repository(repositoryName=name)
    deep = "[" * 5_000 + "]" * 5_000
    expect_error(
        "InvalidParameterException",
        raw_ecr.put_lifecycle_policy,
        repositoryName=name,
        lifecyclePolicyText=deep,
    )
    expect_error(
        "InvalidParameterException", raw_ecr.set_repository_policy, repositoryName=name, policyText=deep
    )
    expect_error("InvalidParameterException", raw_ecr.put_registry_policy, policyText=deep)
    expect_error(
        "SerializationException", raw_ecr.create_repository, repositoryName="it-ecr/surrogate-\ud800"
    )
