"""Repository creation templates: the four template actions, and CREATE_ON_PUSH as a /v2/ push
to a missing repository sees it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.ecrtools import aws_cli, expect_error
from tests.integration.ocitools import error_codes, seeded_image, try_push_image

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "pull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"]},
        ],
    }
)
LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5},
                "action": {"type": "expire"},
            }
        ]
    }
)
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def ecr(ecr: Any) -> Iterator[Any]:
    """The shared client, plus ``create_template``: a creation that is undone after the test."""
    client = ecr  # the conftest's client, extended here
    created: list[str] = []
    original = client.create_repository_creation_template

    def create(**kwargs: Any) -> Any:
        out = original(**kwargs)
        created.append(out["repositoryCreationTemplate"]["prefix"])
        return out

    client.create_template = create
    yield client
    # Templates that match broadly (ROOT) must not outlive their test on the shared server.
    for prefix in created:
        try:
            original_delete = client.delete_repository_creation_template
            original_delete(prefix=prefix)
        except client.exceptions.TemplateNotFoundException:
            pass


def prefix(label: str = "tpl") -> str:
    return f"it-tpl-{label}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------- the actions


def test_create_describe_update_delete(ecr: Any) -> None:
    p = prefix("crud")
    out = ecr.create_template(
        prefix=p,
        description="team repositories",
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": KEY},
        resourceTags=[{"Key": "team", "Value": "a"}],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        repositoryPolicy=POLICY,
        lifecyclePolicy=LIFECYCLE,
        appliedFor=["CREATE_ON_PUSH", "REPLICATION"],
        customRoleArn="arn:aws:iam::" + ecr.describe_registry()["registryId"] + ":role/ecr-templates",
    )
    account = out["registryId"]
    template = out["repositoryCreationTemplate"]
    assert template["prefix"] == p
    assert template["description"] == "team repositories"
    assert template["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": KEY}
    assert template["resourceTags"] == [{"Key": "team", "Value": "a"}]
    assert template["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert template["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}]
    assert template["repositoryPolicy"] == POLICY
    assert template["lifecyclePolicy"] == LIFECYCLE
    assert template["appliedFor"] == ["CREATE_ON_PUSH", "REPLICATION"]
    assert template["customRoleArn"] == f"arn:aws:iam::{account}:role/ecr-templates"
    assert template["createdAt"] == template["updatedAt"]

    described = ecr.describe_repository_creation_templates(prefixes=[p])
    assert described["registryId"] == account
    assert described["repositoryCreationTemplates"] == [template]

    updated = ecr.update_repository_creation_template(
        prefix=p, description="changed", imageTagMutability="MUTABLE", appliedFor=["PULL_THROUGH_CACHE"]
    )["repositoryCreationTemplate"]
    assert updated["description"] == "changed"
    assert updated["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in updated  # a plain mode drops the filters
    assert updated["appliedFor"] == ["PULL_THROUGH_CACHE"]
    assert updated["resourceTags"] == template["resourceTags"]  # untouched fields stay
    assert updated["repositoryPolicy"] == POLICY
    assert updated["createdAt"] == template["createdAt"]
    assert updated["updatedAt"] > template["updatedAt"]

    deleted = ecr.delete_repository_creation_template(prefix=p)
    assert deleted["registryId"] == account
    assert deleted["repositoryCreationTemplate"] == updated
    assert ecr.describe_repository_creation_templates(prefixes=[p])["repositoryCreationTemplates"] == []


def test_minimal_template_gets_ecr_defaults(ecr: Any) -> None:
    p = prefix("min")
    template = ecr.create_template(prefix=p, appliedFor=["PULL_THROUGH_CACHE"])["repositoryCreationTemplate"]
    assert template["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert template["imageTagMutability"] == "MUTABLE"
    assert template["resourceTags"] == []
    for absent in ("description", "repositoryPolicy", "lifecyclePolicy", "customRoleArn"):
        assert absent not in template


def test_template_already_exists_and_not_found(ecr: Any) -> None:
    p = prefix("dup")
    ecr.create_template(prefix=p, appliedFor=["REPLICATION"])
    expect_error(
        "TemplateAlreadyExistsException",
        ecr.create_repository_creation_template,
        prefix=p,
        appliedFor=["REPLICATION"],
    )
    # A trailing slash is implied, so "p/" is the same template.
    expect_error(
        "TemplateAlreadyExistsException",
        ecr.create_repository_creation_template,
        prefix=p + "/",
        appliedFor=["REPLICATION"],
    )
    missing = prefix("missing")
    expect_error("TemplateNotFoundException", ecr.delete_repository_creation_template, prefix=missing)
    expect_error(
        "TemplateNotFoundException", ecr.update_repository_creation_template, prefix=missing, description="x"
    )
    ecr.delete_repository_creation_template(prefix=p)
    expect_error("TemplateNotFoundException", ecr.delete_repository_creation_template, prefix=p)


@pytest.mark.parametrize(
    ("code", "kwargs"),
    [
        ("ValidationException", {"prefix": "Bad-Prefix"}),
        ("ValidationException", {"prefix": "a//b"}),
        ("ValidationException", {"appliedFor": ["ON_PULL"]}),
        ("InvalidParameterException", {"appliedFor": []}),
        ("InvalidParameterException", {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}),
        (
            "InvalidParameterException",
            {
                "imageTagMutability": "IMMUTABLE",
                "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x"}],
            },
        ),
        ("InvalidParameterException", {"repositoryPolicy": "{not json"}),
        ("InvalidParameterException", {"repositoryPolicy": '{"Version": "2012-10-17"}'}),
        ("InvalidParameterException", {"lifecyclePolicy": "[]"}),
        ("InvalidParameterException", {"lifecyclePolicy": "{nope"}),
        ("InvalidParameterException", {"customRoleArn": "not-a-role"}),
        ("InvalidParameterException", {"customRoleArn": "arn:aws:iam::999999999999:role/elsewhere"}),
        ("ValidationException", {"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "alias/x"}}),
        (
            "InvalidParameterException",
            {"encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": KEY}},
        ),
        ("InvalidParameterException", {"resourceTags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}),
        ("InvalidParameterException", {"resourceTags": [{"Key": "k" * 129, "Value": "v"}]}),
    ],
)
def test_template_validation(ecr: Any, code: str, kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"prefix": prefix("bad"), "appliedFor": ["CREATE_ON_PUSH"], **kwargs}
    expect_error(code, ecr.create_repository_creation_template, **args)
    if "prefix" not in kwargs:
        listed = ecr.describe_repository_creation_templates(prefixes=[args["prefix"]])
        assert listed["repositoryCreationTemplates"] == []


def test_update_validates_the_result(ecr: Any) -> None:
    p = prefix("upd")
    ecr.create_template(prefix=p, appliedFor=["CREATE_ON_PUSH"])
    expect_error(
        "InvalidParameterException",
        ecr.update_repository_creation_template,
        prefix=p,
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
    )
    out = ecr.update_repository_creation_template(
        prefix=p,
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "rel-*"}],
    )["repositoryCreationTemplate"]
    assert out["imageTagMutability"] == "MUTABLE_WITH_EXCLUSION"


def test_describe_pagination_and_prefix_filter(ecr: Any) -> None:
    mine = sorted(prefix("page") for _ in range(5))
    for p in mine:
        ecr.create_template(prefix=p, appliedFor=["REPLICATION"])
    seen: list[str] = []
    kwargs: dict[str, Any] = {"maxResults": 2}
    while True:
        page = ecr.describe_repository_creation_templates(**kwargs)
        assert len(page["repositoryCreationTemplates"]) <= 2
        seen.extend(t["prefix"] for t in page["repositoryCreationTemplates"])
        if "nextToken" not in page:
            break
        kwargs = {"maxResults": 2, "nextToken": page["nextToken"]}
    assert len(seen) == len(set(seen)) and seen == sorted(seen)
    assert set(mine) <= set(seen)
    paged = [
        t["prefix"]
        for page in ecr.get_paginator("describe_repository_creation_templates").paginate(
            PaginationConfig={"PageSize": 3}
        )
        for t in page["repositoryCreationTemplates"]
    ]
    assert paged == seen

    chosen = [mine[3], mine[1], prefix("absent")]
    got = ecr.describe_repository_creation_templates(prefixes=chosen)["repositoryCreationTemplates"]
    assert [t["prefix"] for t in got] == [mine[1], mine[3]]

    token = ecr.describe_repository_creation_templates(maxResults=1)["nextToken"]
    expect_error(
        "InvalidParameterException",
        ecr.describe_repository_creation_templates,
        message="Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'",
        maxResults=1,
        nextToken=token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
    )


def test_templates_with_the_aws_cli(registry: Any, ecr: Any) -> None:
    p = prefix("cli")
    try:
        out = aws_cli(
            registry,
            "create-repository-creation-template",
            "--prefix",
            p,
            "--applied-for",
            "CREATE_ON_PUSH",
            "--image-tag-mutability",
            "IMMUTABLE",
        )
        assert out["repositoryCreationTemplate"]["prefix"] == p
        listed = aws_cli(registry, "describe-repository-creation-templates", "--prefixes", p)
        assert [t["imageTagMutability"] for t in listed["repositoryCreationTemplates"]] == ["IMMUTABLE"]
    finally:
        aws_cli(registry, "delete-repository-creation-template", "--prefix", p, check=False)


# ------------------------------------------------------------------- CREATE_ON_PUSH


def _stored_policies(registry: Any, name: str) -> tuple[str | None, str | None]:
    assert "'" not in name
    rows = registry.sql(f"SELECT policy, lifecycle_policy FROM repositories WHERE name = '{name}'")
    assert rows, f"{name} not in the database"
    return rows[0][0], rows[0][1]


def test_create_on_push_applies_the_template(registry: Any, ecr: Any) -> None:
    p = prefix("cop")
    ecr.create_template(
        prefix=p,
        appliedFor=["CREATE_ON_PUSH"],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        resourceTags=[{"Key": "created-by", "Value": "template"}, {"Key": "cost-center", "Value": "42"}],
        encryptionConfiguration={"encryptionType": "KMS"},
        repositoryPolicy=POLICY,
        lifecyclePolicy=LIFECYCLE,
    )
    name = f"{p}/service"
    expect_error("RepositoryNotFoundException", ecr.describe_repositories, repositoryNames=[name])

    r = try_push_image(registry, name, "v1", seeded_image("create-on-push"))
    assert r.status_code == 201, r.text
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    account = repo["registryId"]
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repo["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}]
    assert repo["encryptionConfiguration"]["encryptionType"] == "KMS"
    assert re.fullmatch(
        rf"arn:aws:kms:us-east-1:{account}:key/[0-9a-f-]{{36}}", repo["encryptionConfiguration"]["kmsKey"]
    )
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [
        {"Key": "cost-center", "Value": "42"},
        {"Key": "created-by", "Value": "template"},
    ]
    assert _stored_policies(registry, name) == (POLICY, LIFECYCLE)

    # The template's immutability is in force for the next push.
    moved = try_push_image(registry, name, "v1", seeded_image("another manifest"))
    assert moved.status_code == 400 and error_codes(moved) == ["TAG_INVALID"]
    assert try_push_image(registry, name, "latest", seeded_image("one")).status_code == 201
    assert try_push_image(registry, name, "latest", seeded_image("two")).status_code == 201


def test_longest_prefix_wins_and_applied_for_matters(registry: Any, ecr: Any) -> None:
    p = prefix("nest")
    ecr.create_template(prefix=p, appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE")
    ecr.create_template(
        prefix=f"{p}/team",
        appliedFor=["CREATE_ON_PUSH"],
        resourceTags=[{"Key": "level", "Value": "team"}],
    )
    ecr.create_template(prefix=f"{p}/mirror", appliedFor=["REPLICATION", "PULL_THROUGH_CACHE"])

    assert try_push_image(registry, f"{p}/team/api", "v1", seeded_image("team")).status_code == 201
    team = ecr.describe_repositories(repositoryNames=[f"{p}/team/api"])["repositories"][0]
    assert team["imageTagMutability"] == "MUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=team["repositoryArn"])["tags"] == [
        {"Key": "level", "Value": "team"}
    ]

    # "team" is a namespace prefix, not a string prefix: "teamwork" falls to the outer template.
    assert try_push_image(registry, f"{p}/teamwork", "v1", seeded_image("outer")).status_code == 201
    outer = ecr.describe_repositories(repositoryNames=[f"{p}/teamwork"])["repositories"][0]
    assert outer["imageTagMutability"] == "IMMUTABLE"

    # A template without CREATE_ON_PUSH does not create on push; the outer one does.
    assert try_push_image(registry, f"{p}/mirror/x", "v1", seeded_image("mirror")).status_code == 201
    mirrored = ecr.describe_repositories(repositoryNames=[f"{p}/mirror/x"])["repositories"][0]
    assert mirrored["imageTagMutability"] == "IMMUTABLE"

    # No template covers this name: the push is refused as before.
    lone = prefix("none") + "/x"
    r = try_push_image(registry, lone, "v1", seeded_image("nothing"))
    assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"]


def test_template_prefix_itself_is_not_covered(registry: Any, ecr: Any) -> None:
    p = prefix("self")
    ecr.create_template(prefix=p, appliedFor=["CREATE_ON_PUSH"])
    r = try_push_image(registry, p, "v1", seeded_image("self"))
    assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"]


def test_root_template_covers_every_name(registry: Any, ecr: Any) -> None:
    ecr.create_template(
        prefix="ROOT", appliedFor=["CREATE_ON_PUSH"], resourceTags=[{"Key": "root", "Value": "yes"}]
    )
    try:
        name = f"it-root-{uuid.uuid4().hex[:10]}"
        assert try_push_image(registry, name, "v1", seeded_image("root")).status_code == 201
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
            {"Key": "root", "Value": "yes"}
        ]
        # A more specific template wins over ROOT.
        p = prefix("over-root")
        ecr.create_template(prefix=p, appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE")
        assert try_push_image(registry, f"{p}/x", "v1", seeded_image("specific")).status_code == 201
        specific = ecr.describe_repositories(repositoryNames=[f"{p}/x"])["repositories"][0]
        assert specific["imageTagMutability"] == "IMMUTABLE"
        assert ecr.list_tags_for_resource(resourceArn=specific["repositoryArn"])["tags"] == []
    finally:
        ecr.delete_repository_creation_template(prefix="ROOT")
    r = try_push_image(registry, f"it-root-{uuid.uuid4().hex[:10]}", "v1", seeded_image("after"))
    assert r.status_code == 404
