"""Action/Resource wildcards and the Not* elements."""

from __future__ import annotations

import pytest

from tests.unit.policy.policy_testlib import (
    ACCOUNT,
    ALICE,
    BOB,
    MALLORY,
    OTHER,
    OTHER_ROOT,
    REPO_ARN,
    ROOT,
    allow,
    decide,
    grant,
    identity,
    policy,
)


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "ecr:PutImage", True),
        ("ecr:*", "ecr:PutImage", True),
        ("ecr:*", "s3:GetObject", False),
        ("ecr:Batch*", "ecr:BatchGetImage", True),
        ("ecr:Batch*", "ecr:GetDownloadUrlForLayer", False),
        ("ecr:*Image", "ecr:PutImage", True),
        ("ecr:*Image", "ecr:PutImageScanningConfiguration", False),
        ("ecr:?utImage", "ecr:PutImage", True),
        ("ecr:?utImage", "ecr:PPutImage", False),
        ("ECR:batchgetimage", "ecr:BatchGetImage", True),  # actions are case-insensitive
        ("ecr:batch*", "ecr:BatchDeleteImage", True),
    ],
)
def test_action_wildcards(pattern: str, action: str, expected: bool) -> None:
    assert decide(ALICE, action=action, identity_policies=[identity(allow(pattern))]).allowed is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", True),
        (REPO_ARN, True),
        (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*", True),
        (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/*", True),
        (f"arn:aws:ecr:*:{ACCOUNT}:repository/team/app", True),
        (f"arn:aws:ecr:us-east-?:{ACCOUNT}:repository/team/app", True),
        (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/ap?", True),
        (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/other", False),
        (f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/Team/app", False),  # resources are case-sensitive
        (f"arn:aws:ecr:us-west-2:{ACCOUNT}:repository/*", False),
        (f"arn:aws:ecr:us-east-1:{OTHER}:repository/*", False),
    ],
)
def test_resource_wildcards(pattern: str, expected: bool) -> None:
    assert decide(ALICE, identity_policies=[identity(allow(resource=pattern))]).allowed is expected


def test_resource_wildcard_does_not_span_components() -> None:
    policies = [identity(allow(resource=f"arn:aws:ecr:*:{ACCOUNT}:repository/*"))]
    sneaky = f"arn:aws:ecr:us-east-1:x:{ACCOUNT}:repository/app"
    assert not decide(ALICE, resource=sneaky, identity_policies=policies).allowed


def test_resource_policy_variables() -> None:
    home = identity(allow(resource=f"arn:aws:ecr:*:{ACCOUNT}:repository/home/${{aws:username}}/*"))
    assert decide(
        ALICE, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/home/alice/app", identity_policies=[home]
    ).allowed
    assert not decide(
        BOB, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/home/alice/app", identity_policies=[home]
    ).allowed
    # A multi-valued key cannot be substituted: the statement matches nothing.
    assert not decide(
        ALICE,
        resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/home/alice/app",
        identity_policies=[home],
        context={"aws:username": ["alice", "bob"]},
    ).allowed


def test_not_action() -> None:
    everything_but_delete = identity(
        {"Effect": "Allow", "NotAction": ["ecr:Delete*", "ecr:BatchDeleteImage"], "Resource": "*"}
    )
    assert decide(ALICE, action="ecr:PutImage", identity_policies=[everything_but_delete]).allowed
    assert not decide(ALICE, action="ecr:DeleteRepository", identity_policies=[everything_but_delete]).allowed
    assert not decide(ALICE, action="ecr:batchdeleteimage", identity_policies=[everything_but_delete]).allowed


def test_not_action_with_deny() -> None:
    only_pull = [
        identity(allow()),
        identity({"Effect": "Deny", "NotAction": "ecr:BatchGetImage", "Resource": "*"}),
    ]
    assert decide(ALICE, action="ecr:BatchGetImage", identity_policies=only_pull).allowed
    decision = decide(ALICE, action="ecr:PutImage", identity_policies=only_pull)
    assert (decision.allowed, decision.reason) == (False, "explicit deny")


def test_not_resource() -> None:
    not_prod = identity(
        {"Effect": "Allow", "Action": "ecr:*", "NotResource": f"arn:aws:ecr:*:{ACCOUNT}:repository/prod/*"}
    )
    assert decide(ALICE, identity_policies=[not_prod]).allowed
    assert not decide(
        ALICE, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/prod/api", identity_policies=[not_prod]
    ).allowed


class TestPrincipalMatching:
    def test_user_arn_matches_only_that_user_whatever_its_path(self) -> None:
        for arn in (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/division/team/alice"):
            repo = policy(grant({"AWS": arn}))
            assert decide(ALICE, resource_policy=repo).allowed
            assert not decide(BOB, resource_policy=repo).allowed

    def test_unique_id_matches(self) -> None:
        assert decide(ALICE, resource_policy=policy(grant({"AWS": ALICE.user_id}))).allowed

    def test_role_and_service_principals_never_match_users(self) -> None:
        repo = policy(
            grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/alice", "Service": "codebuild.amazonaws.com"})
        )
        assert not decide(ALICE, resource_policy=repo).allowed

    def test_account_forms_match_every_principal_of_the_account(self) -> None:
        for account_form in (OTHER, f"arn:aws:iam::{OTHER}:root"):
            repo = policy(grant({"AWS": account_form}))
            decision = decide(MALLORY, resource_policy=repo, identity_policies=[identity(allow())])
            assert decision.allowed
            assert decide(OTHER_ROOT, resource_policy=repo).allowed
            assert not decide(BOB, resource_policy=repo).allowed  # other account's principals don't

    def test_not_principal_deny_needs_user_and_account_listed(self) -> None:
        deny_all_but = {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:root"]},
            "Action": "ecr:*",
        }
        repo = policy(grant("*"), deny_all_but)
        assert decide(ALICE, resource_policy=repo).allowed
        assert decide(ROOT, resource_policy=repo).allowed
        assert decide(BOB, resource_policy=repo).reason == "explicit deny"
        assert decide(None, resource_policy=repo).reason == "explicit deny"
        # Listing only the user (as AWS warns) denies the user too: its account is not exempt.
        user_only_deny = {**deny_all_but, "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}}
        assert decide(ALICE, resource_policy=policy(grant("*"), user_only_deny)).reason == "explicit deny"

    def test_not_principal_allow(self) -> None:
        everyone_but_bob = {
            "Effect": "Allow",
            "NotPrincipal": {"AWS": [BOB.arn, f"arn:aws:iam::{ACCOUNT}:root"]},
            "Action": "ecr:*",
        }
        repo = policy(everyone_but_bob)
        assert decide(ALICE, resource_policy=repo).allowed
        assert decide(None, resource_policy=repo).allowed
        assert not decide(BOB, resource_policy=repo).allowed
        assert not decide(ALICE, resource_policy=policy({**everyone_but_bob, "NotPrincipal": "*"})).allowed
        # Naming only the user (not its account) still keeps the Allow from that user.
        user_only = {**everyone_but_bob, "NotPrincipal": {"AWS": BOB.arn}}
        assert not decide(BOB, resource_policy=policy(user_only)).allowed
        by_id = {**user_only, "NotPrincipal": {"AWS": BOB.user_id}}
        assert not decide(BOB, resource_policy=policy(by_id)).allowed
        assert decide(ALICE, resource_policy=policy(user_only)).allowed
