"""ECR fidelity gaps found by outside test suites and policy cases (issue 15, items 9-18).

Each test pins what ECR answers on the wire, through boto3 against a real server. Settings that
are account-wide (account settings, registry scanning configuration, registry policy) are changed
in an account of the test's own, so other tests sharing the session's server never see them.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import Registry
from tests.integration.ecrtools import ecr_client, expect_error
from tests.integration.test_authz import _new_account, _root_client, _user

pytestmark = pytest.mark.integration

PRINCIPAL_NOT_FOUND = "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"
INVALID_REGISTRY_POLICY = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'"
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


def _name(prefix: str) -> str:
    return f"it-fidelity/{prefix}-{uuid.uuid4().hex[:8]}"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def ecr(registry: Registry) -> Any:
    return ecr_client(registry)


def test_scan_actions_name_a_missing_image_as_describe_images_does(registry: Registry, ecr: Any) -> None:
    """Item 9: ``{imageDigest:'null', imageTag:'x'}``, both parts, as DescribeImages writes it."""
    repo = _name("scan-missing")
    ecr.create_repository(repositoryName=repo)
    account = ecr.describe_registry()["registryId"]
    expected = (
        "The image with imageId {imageDigest:'null', imageTag:'x'} does not exist within the repository "
        f"with name '{repo}' in the registry with id '{account}'"
    )
    described = expect_error(
        "ImageNotFoundException", ecr.describe_images, repositoryName=repo, imageIds=[{"imageTag": "x"}]
    )
    assert described == expected
    for call in (ecr.start_image_scan, ecr.describe_image_scan_findings):
        expect_error("ImageNotFoundException", call, expected, repositoryName=repo, imageId={"imageTag": "x"})


def test_repository_policy_may_repeat_a_sid(ecr: Any) -> None:
    """Item 10: ECR stores a repository policy whose statements share a Sid."""
    repo = _name("sids")
    ecr.create_repository(repositoryName=repo)
    text = _policy(
        {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"},
        {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:GetDownloadUrlForLayer"},
    )
    assert ecr.set_repository_policy(repositoryName=repo, policyText=text)["policyText"] == text
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == text


def test_lifecycle_policy_that_never_ran_reports_the_epoch(ecr: Any) -> None:
    """Item 11: ``lastEvaluatedAt`` is the epoch until the policy has run (captured AWS responses)."""
    repo = _name("lifecycle")
    ecr.create_repository(repositoryName=repo)
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=LIFECYCLE)
    got = ecr.get_lifecycle_policy(repositoryName=repo)
    assert got["lastEvaluatedAt"].timestamp() == 0
    deleted = ecr.delete_lifecycle_policy(repositoryName=repo)
    assert deleted["lastEvaluatedAt"].timestamp() == 0


def test_kms_without_a_key_names_the_aws_managed_key_by_key_id(ecr: Any) -> None:
    """Item 12: the AWS managed key's ``key/<id>`` ARN, the same one for every repository."""
    keys = []
    for _ in range(2):
        created = ecr.create_repository(
            repositoryName=_name("kms"), encryptionConfiguration={"encryptionType": "KMS"}
        )["repository"]
        keys.append(created["encryptionConfiguration"]["kmsKey"])
    account = ecr.describe_registry()["registryId"]
    uuid_re = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(rf"arn:aws:kms:us-east-1:{account}:key/{uuid_re}", keys[0]), keys[0]
    assert keys[0] == keys[1]


def test_tag_mutability_enum_error_lists_values_as_ecr_does(ecr: Any) -> None:
    """Item 13: ``[IMMUTABLE, MUTABLE, MUTABLE_WITH_EXCLUSION, IMMUTABLE_WITH_EXCLUSION]``."""
    values = "[IMMUTABLE, MUTABLE, MUTABLE_WITH_EXCLUSION, IMMUTABLE_WITH_EXCLUSION]"
    repo = _name("mutability")
    ecr.create_repository(repositoryName=repo)
    for call, kwargs in (
        (ecr.create_repository, {"repositoryName": _name("mutability")}),
        (ecr.put_image_tag_mutability, {"repositoryName": repo}),
    ):
        with pytest.raises(ClientError) as err:
            call(imageTagMutability="SOMETIMES", **kwargs)
        assert values in err.value.response["Error"]["Message"], err.value.response["Error"]


def test_not_principal_allow_naming_a_user_does_not_allow_it(registry: Registry) -> None:
    """Item 14: an Allow with NotPrincipal naming a user grants everyone but that user."""
    account = _new_account(registry)
    root = _root_client(registry, account)
    name, excluded = _user(registry, account)
    _, other = _user(registry, account)
    repo = _name("notprincipal")
    root.create_repository(repositoryName=repo)
    statement = {
        "Effect": "Allow",
        "NotPrincipal": {"AWS": f"arn:aws:iam::{account}:user/{name}"},
        "Action": "ecr:DescribeRepositories",
    }
    root.set_repository_policy(repositoryName=repo, policyText=_policy(statement))
    assert other.describe_repositories(repositoryNames=[repo])["repositories"]
    expect_error("AccessDeniedException", excluded.describe_repositories, repositoryNames=[repo])


def test_policies_refuse_principals_that_do_not_exist(registry: Registry) -> None:
    """Item 15: every account and user is local, so an unknown one is refused when saved."""
    account = _new_account(registry)
    other = _new_account(registry)
    root = _root_client(registry, account)
    user, _ = _user(registry, account)
    repo = _name("principals")
    root.create_repository(repositoryName=repo)

    def grant(principal: str) -> str:
        return _policy({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "ecr:BatchGetImage"})

    for known in (account, other, f"arn:aws:iam::{other}:root", f"arn:aws:iam::{account}:user/{user}"):
        root.set_repository_policy(repositoryName=repo, policyText=grant(known))
        root.put_registry_policy(policyText=grant(known))
    unknown_account = next(a for a in ("999999999990", "999999999991") if a not in (account, other))
    for unknown in (
        f"arn:aws:iam::{account}:user/nobody-{uuid.uuid4().hex[:6]}",
        unknown_account,
        f"arn:aws:iam::{unknown_account}:root",
        f"arn:aws:iam::{account}:role/not-a-dockyard-thing",
    ):
        expect_error(
            "InvalidParameterException",
            root.set_repository_policy,
            PRINCIPAL_NOT_FOUND,
            repositoryName=repo,
            policyText=grant(unknown),
        )
        expect_error(
            "InvalidParameterException",
            root.put_registry_policy,
            PRINCIPAL_NOT_FOUND,
            policyText=grant(unknown),
        )
    # NotPrincipal is checked the same way.
    not_principal = _policy(
        {"Effect": "Deny", "NotPrincipal": {"AWS": unknown_account}, "Action": "ecr:BatchGetImage"}
    )
    expect_error(
        "InvalidParameterException",
        root.set_repository_policy,
        PRINCIPAL_NOT_FOUND,
        repositoryName=repo,
        policyText=not_principal,
    )


def test_v1_registry_policy_scope_accepts_only_its_actions(registry: Registry) -> None:
    """Item 16: under REGISTRY_POLICY_SCOPE=V1 the registry policy may only name V1's actions."""
    account = _new_account(registry)
    root = _root_client(registry, account)
    other = _new_account(registry)

    def registry_policy(actions: list[str]) -> str:
        return _policy({"Effect": "Allow", "Principal": {"AWS": other}, "Action": actions})

    root.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V1")
    for allowed in (["ecr:ReplicateImage", "ecr:CreateRepository"], ["ecr:BatchImportUpstreamImage"]):
        root.put_registry_policy(policyText=registry_policy(allowed))
    for refused in (["ecr:ReplicateImage", "ecr:BatchGetImage"], ["ecr:PutImage"]):
        expect_error(
            "InvalidParameterException",
            root.put_registry_policy,
            INVALID_REGISTRY_POLICY,
            policyText=registry_policy(refused),
        )
    root.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V2")
    root.put_registry_policy(policyText=registry_policy(["ecr:ReplicateImage", "ecr:BatchGetImage"]))


def test_simulate_takes_a_request_context(registry: Registry) -> None:
    """Item 17: ``dockyard iam simulate`` decides with the condition keys it is given."""
    account = _new_account(registry)
    user, _ = _user(
        registry,
        account,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "ecr:BatchGetImage",
                    "Resource": "*",
                    "Condition": {
                        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                        "Bool": {"aws:SecureTransport": "true"},
                        "StringEquals": {"aws:RequestTag/team": "blue", "dockyard:Colour": "green"},
                    },
                }
            ],
        },
    )
    resource = f"arn:aws:ecr:us-east-1:{account}:repository/x"
    base = ["iam", "simulate", "--account-id", account, "--user", user]
    base += ["--action", "ecr:BatchGetImage", "--resource", resource]
    full = ["--source-ip", "10.1.2.3", "--secure-transport", "--tag", "team=blue"]
    full += ["--context", "dockyard:Colour=green"]
    assert "ALLOW" in registry.cli(*base, *full).stdout
    for missing in (
        ["--source-ip", "192.168.0.1", "--secure-transport", "--tag", "team=blue"],
        ["--source-ip", "10.1.2.3", "--tag", "team=blue"],
        ["--source-ip", "10.1.2.3", "--secure-transport", "--tag", "team=red"],
    ):
        denied = registry.cli(*base, *missing, "--context", "dockyard:Colour=green", check=False)
        assert denied.returncode == 3 and "DENY" in denied.stdout, denied.stdout + denied.stderr
    anonymous_base = [a for a in base if a not in ("--user", user)]
    anonymous = registry.cli(*anonymous_base, *full, "--anonymous", check=False)
    assert anonymous.returncode == 3 and "DENY" in anonymous.stdout


def test_registry_scan_on_push_rule_sets_scan_on_push_of_a_repository(registry: Registry) -> None:
    """Item 18: BatchGetRepositoryScanningConfiguration reports the configuration in effect.

    ``scanOnPush`` is "whether or not scan on push is configured for the repository" (botocore);
    a registry SCAN_ON_PUSH rule configures it, so it reads true with the rule's filter as
    ``appliedScanFilters``, while DescribeRepositories keeps the repository's own (deprecated) flag.
    """
    account = _new_account(registry)
    root = _root_client(registry, account)
    repo = _name("scan-rule")
    root.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": False})
    root.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "it-fidelity/*", "filterType": "WILDCARD"}],
            }
        ],
    )
    config = root.batch_get_repository_scanning_configuration(repositoryNames=[repo])[
        "scanningConfigurations"
    ]
    assert (config[0]["scanOnPush"], config[0]["scanFrequency"]) == (True, "SCAN_ON_PUSH")
    assert config[0]["appliedScanFilters"] == [{"filter": "it-fidelity/*", "filterType": "WILDCARD"}]
    described = root.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": False}
