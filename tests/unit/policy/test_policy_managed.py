"""The managed-policy catalogue and the SetRepositoryPolicy lockout check."""

from __future__ import annotations

import json

import pytest

from dockyard.auth.policy import (
    MANAGED_POLICIES,
    NamedPolicy,
    PolicyError,
    lockout_check,
    managed_policy,
    managed_policy_arn,
)
from dockyard.auth.policy.managed import POWER_USER_ACTIONS, READ_ONLY_ACTIONS
from tests.unit.policy.policy_testlib import (
    ACCOUNT,
    ALICE,
    BOB,
    MALLORY,
    REPO_ARN,
    ROOT,
    allow,
    decide,
    deny,
    grant,
    identity,
    policy,
)


def _managed(name: str) -> list[NamedPolicy]:
    return [NamedPolicy(name, managed_policy(name))]


def test_catalogue_parses_as_identity_policies() -> None:
    assert set(MANAGED_POLICIES) == {
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEC2ContainerRegistryPowerUser",
        "AmazonEC2ContainerRegistryFullAccess",
    }
    for name, text in MANAGED_POLICIES.items():
        assert json.loads(text)["Version"] == "2012-10-17"
        assert managed_policy(name).kind == "identity"
    assert managed_policy_arn("AmazonEC2ContainerRegistryReadOnly") == (
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    )
    with pytest.raises(KeyError):
        managed_policy("AdministratorAccess")


def test_power_user_is_read_only_plus_push() -> None:
    assert len(READ_ONLY_ACTIONS) == 12
    assert set(POWER_USER_ACTIONS) - set(READ_ONLY_ACTIONS) == {
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    }


@pytest.mark.parametrize(
    ("action", "read_only", "power_user", "full"),
    [
        ("ecr:GetAuthorizationToken", True, True, True),
        ("ecr:BatchGetImage", True, True, True),
        ("ecr:GetDownloadUrlForLayer", True, True, True),
        ("ecr:DescribeImageScanFindings", True, True, True),
        ("ecr:PutImage", False, True, True),
        ("ecr:CompleteLayerUpload", False, True, True),
        ("ecr:SetRepositoryPolicy", False, False, True),
        ("ecr:DeleteRepository", False, False, True),
        ("ecr:BatchDeleteImage", False, False, True),
        ("s3:GetObject", False, False, False),
    ],
)
def test_managed_policy_grants(action: str, read_only: bool, power_user: bool, full: bool) -> None:
    for name, expected in (
        ("AmazonEC2ContainerRegistryReadOnly", read_only),
        ("AmazonEC2ContainerRegistryPowerUser", power_user),
        ("AmazonEC2ContainerRegistryFullAccess", full),
    ):
        assert decide(ALICE, action=action, identity_policies=_managed(name)).allowed is expected, name


def test_full_access_service_linked_role_is_conditional() -> None:
    policies = _managed("AmazonEC2ContainerRegistryFullAccess")
    ok = {"iam:AWSServiceName": "replication.ecr.amazonaws.com"}
    assert decide(ALICE, action="iam:CreateServiceLinkedRole", identity_policies=policies, context=ok).allowed
    assert not decide(ALICE, action="iam:CreateServiceLinkedRole", identity_policies=policies).allowed


class TestLockout:
    def test_explicit_deny_of_the_caller_is_a_lockout(self) -> None:
        text = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    grant({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "ecr:Set*", effect="Deny")
                ],
            }
        )
        assert lockout_check(text, ALICE)
        assert not lockout_check(text, BOB)

    def test_deny_everyone_locks_out_root_too(self) -> None:
        assert lockout_check(policy(grant("*", "ecr:*", effect="Deny")), ROOT)

    def test_unrelated_deny_is_not_a_lockout(self) -> None:
        assert not lockout_check(policy(grant("*", "ecr:DeleteRepository", effect="Deny")), ALICE)

    def test_without_identity_policies_an_implicit_deny_is_not_assumed(self) -> None:
        assert not lockout_check(policy(grant({"AWS": ACCOUNT}, "ecr:BatchGetImage")), ALICE)

    def test_with_identity_policies_the_full_evaluation_decides(self) -> None:
        pull_only = policy(grant({"AWS": ACCOUNT}, "ecr:BatchGetImage"))
        assert lockout_check(pull_only, ALICE, identity_policies=[])
        assert not lockout_check(
            pull_only, ALICE, identity_policies=[identity(allow("ecr:SetRepositoryPolicy"))]
        )
        assert lockout_check(
            pull_only, ALICE, identity_policies=[identity(allow()), identity(deny("ecr:SetRepository*"))]
        )

    def test_resource_elements_are_checked_when_the_arn_is_known(self) -> None:
        other_repo = policy(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "ecr:*",
                "Resource": f"arn:aws:ecr:*:{ACCOUNT}:repository/other",
            }
        )
        assert not lockout_check(other_repo, ALICE, repository_arn=REPO_ARN)
        assert lockout_check(other_repo, ALICE)  # no ARN: Resource is ignored, the deny is about this repo

    def test_cross_account_caller(self) -> None:
        repo = policy(grant({"AWS": ACCOUNT}))
        assert lockout_check(repo, MALLORY, repository_arn=REPO_ARN, identity_policies=[identity(allow())])

    def test_invalid_text_raises(self) -> None:
        with pytest.raises(PolicyError):
            lockout_check("{}", ALICE)
