"""The evaluation matrix: identity vs resource policies, same vs cross account, root, anonymous."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.auth.policy import AuthzRequest, Decision, NamedPolicy, StatementRef, request_context
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
    deny,
    grant,
    identity,
    policy,
)

ALICE_ARN = {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}
MALLORY_ARN = {"AWS": f"arn:aws:iam::{OTHER}:user/mallory"}


class TestSameAccount:
    def test_default_is_implicit_deny(self) -> None:
        decision = decide(ALICE)
        assert (decision.allowed, decision.reason, decision.statement) == (False, "implicit deny", None)

    def test_identity_policy_alone_allows(self) -> None:
        decision = decide(ALICE, identity_policies=[identity(allow(Sid="Pull"), name="team-pull")])
        assert decision.allowed and decision.reason == "allowed by identity policy"
        assert decision.statement == StatementRef("team-pull", 0, "Pull", "Allow")
        assert decision.statement.label == "team-pull/Pull"

    def test_resource_policy_alone_allows_a_named_user(self) -> None:
        decision = decide(
            ALICE, resource_policy=policy(grant(ALICE_ARN, "ecr:BatchGetImage", Sid="AlicePull"))
        )
        assert decision.allowed and decision.reason == "allowed by resource policy"
        assert decision.statement is not None and decision.statement.label == "repository-policy/AlicePull"

    def test_resource_policy_naming_the_account_delegates_to_identity_policies(self) -> None:
        repo = policy(grant({"AWS": ACCOUNT}))
        decision = decide(ALICE, resource_policy=repo)
        assert not decision.allowed and "delegates" in decision.detail
        assert decide(ALICE, resource_policy=repo, identity_policies=[identity(allow())]).allowed

    def test_registry_policy_counts_as_resource_policy(self) -> None:
        registry = policy(
            {
                "Effect": "Allow",
                "Principal": ALICE_ARN,
                "Action": "ecr:*",
                "Resource": f"arn:aws:ecr:*:{ACCOUNT}:repository/*",
            }
        )
        decision = decide(ALICE, registry_policy=registry)
        assert decision.allowed and decision.statement is not None
        assert decision.statement.label == "registry-policy/Statement[0]"

    def test_explicit_deny_in_identity_policy_beats_resource_allow(self) -> None:
        decision = decide(
            ALICE,
            resource_policy=policy(grant(ALICE_ARN)),
            identity_policies=[identity(allow()), identity(deny("ecr:BatchGetImage"), name="guardrail")],
        )
        assert (decision.allowed, decision.reason) == (False, "explicit deny")
        assert decision.statement is not None and decision.statement.policy == "guardrail"

    def test_explicit_deny_in_resource_policy_beats_identity_allow(self) -> None:
        repo = policy(grant("*", "ecr:BatchGetImage", effect="Deny", Sid="NoPulls"))
        decision = decide(ALICE, resource_policy=repo, identity_policies=[identity(allow())])
        assert (decision.allowed, decision.reason) == (False, "explicit deny")
        assert decision.statement == StatementRef("repository-policy", 0, "NoPulls", "Deny")

    def test_explicit_deny_in_registry_policy(self) -> None:
        registry = policy(grant("*", effect="Deny"))
        assert (
            decide(ALICE, registry_policy=registry, identity_policies=[identity(allow())]).reason
            == "explicit deny"
        )

    def test_deny_with_unmet_condition_does_not_apply(self) -> None:
        guard = identity(deny(Condition={"Bool": {"aws:SecureTransport": "false"}}))
        policies = [identity(allow()), guard]
        assert decide(ALICE, identity_policies=policies, context={"aws:SecureTransport": True}).allowed
        assert (
            decide(ALICE, identity_policies=policies, context={"aws:SecureTransport": False}).reason
            == "explicit deny"
        )

    def test_other_actions_and_users_stay_denied(self) -> None:
        repo = policy(grant(ALICE_ARN, "ecr:BatchGetImage"))
        assert not decide(ALICE, action="ecr:PutImage", resource_policy=repo).allowed
        assert not decide(BOB, resource_policy=repo).allowed


class TestCrossAccount:
    def test_identity_policy_alone_is_not_enough(self) -> None:
        decision = decide(MALLORY, identity_policies=[identity(allow())])
        assert not decision.allowed and "no repository or registry policy" in decision.detail

    def test_resource_policy_alone_is_not_enough(self) -> None:
        decision = decide(MALLORY, resource_policy=policy(grant(MALLORY_ARN)))
        assert not decision.allowed and "no identity policy" in decision.detail

    def test_both_sides_allow(self) -> None:
        decision = decide(
            MALLORY,
            resource_policy=policy(grant({"AWS": OTHER}, Sid="PartnerPull")),
            identity_policies=[identity(allow("ecr:BatchGetImage", Sid="Pull"), name="partner")],
        )
        assert decision.allowed and decision.reason == "allowed by resource policy"
        assert decision.statement is not None and decision.statement.label == "repository-policy/PartnerPull"
        assert [s.label for s in decision.supporting] == ["partner/Pull"]
        assert "repository-policy/PartnerPull" in decision.explain()

    def test_registry_policy_can_be_the_resource_side(self) -> None:
        registry = policy(grant({"AWS": OTHER}, "ecr:ReplicateImage"))
        decision = decide(
            MALLORY,
            action="ecr:ReplicateImage",
            registry_policy=registry,
            identity_policies=[identity(allow())],
        )
        assert decision.allowed

    def test_identity_allow_for_another_resource_does_not_count(self) -> None:
        elsewhere = identity(allow(resource=f"arn:aws:ecr:*:{OTHER}:repository/*"))
        assert not decide(
            MALLORY, resource_policy=policy(grant(MALLORY_ARN)), identity_policies=[elsewhere]
        ).allowed

    def test_foreign_root_needs_only_the_resource_policy(self) -> None:
        repo = policy(grant({"AWS": OTHER}))
        assert decide(OTHER_ROOT, resource_policy=repo).reason == "allowed by resource policy"
        assert decide(OTHER_ROOT).reason == "implicit deny"

    def test_foreign_root_is_not_root_here(self) -> None:
        assert not decide(OTHER_ROOT, resource_policy=policy(grant(MALLORY_ARN))).allowed


class TestRoot:
    def test_root_may_do_anything_in_its_account(self) -> None:
        decision = decide(ROOT, action="ecr:DeleteRepository")
        assert (decision.allowed, decision.reason) == (True, "root user")

    def test_identity_policies_cannot_restrict_root(self) -> None:
        assert decide(ROOT, identity_policies=[identity(deny())]).allowed

    def test_resource_policy_deny_applies_to_root(self) -> None:
        for principal in ("*", {"AWS": ACCOUNT}, {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}):
            decision = decide(ROOT, resource_policy=policy(grant(principal, effect="Deny")))
            assert decision.reason == "explicit deny"

    def test_resource_deny_naming_a_user_does_not_hit_root(self) -> None:
        assert decide(ROOT, resource_policy=policy(grant(ALICE_ARN, effect="Deny"))).allowed


class TestAnonymous:
    def test_public_repository(self) -> None:
        for principal in ("*", {"AWS": "*"}):
            decision = decide(
                None,
                resource_policy=policy(grant(principal, ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])),
            )
            assert (decision.allowed, decision.reason) == (True, "allowed by resource policy")

    def test_anonymous_is_denied_by_default_and_by_account_grants(self) -> None:
        assert not decide(None).allowed
        assert not decide(None, resource_policy=policy(grant({"AWS": ACCOUNT}))).allowed
        assert not decide(
            None, action="ecr:PutImage", resource_policy=policy(grant("*", "ecr:BatchGetImage"))
        ).allowed

    def test_public_grant_also_allows_same_account_users_without_identity_policies(self) -> None:
        assert decide(BOB, resource_policy=policy(grant("*"))).reason == "allowed by resource policy"

    def test_public_grant_still_needs_identity_allow_cross_account(self) -> None:
        repo = policy(grant("*"))
        assert not decide(MALLORY, resource_policy=repo).allowed
        assert decide(MALLORY, resource_policy=repo, identity_policies=[identity(allow())]).allowed

    def test_public_grant_restricted_by_source_ip(self) -> None:
        repo = policy(grant("*", Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "fd00::/8"]}}))
        assert decide(None, resource_policy=repo, context={"aws:SourceIp": "10.9.8.7"}).allowed
        assert decide(None, resource_policy=repo, context={"aws:SourceIp": "fd12::1"}).allowed
        assert not decide(None, resource_policy=repo, context={"aws:SourceIp": "8.8.8.8"}).allowed
        assert not decide(None, resource_policy=repo).allowed


class TestContext:
    def test_principal_keys_are_filled_in(self) -> None:
        moment = datetime(2030, 1, 1, tzinfo=UTC)
        ctx = request_context(AuthzRequest(ALICE, "ecr:BatchGetImage", REPO_ARN, ACCOUNT), now=moment)
        assert ctx["aws:PrincipalAccount"] == [ACCOUNT]
        assert ctx["aws:principalarn"] == [f"arn:aws:iam::{ACCOUNT}:user/alice"]
        assert ctx["aws:username"] == ["alice"] and ctx["aws:userid"] == [ALICE.user_id]
        assert ctx["aws:CurrentTime"] == [moment] and ctx["aws:PrincipalType"] == ["User"]

    def test_root_has_no_username(self) -> None:
        ctx = request_context(AuthzRequest(ROOT, "ecr:BatchGetImage", REPO_ARN, ACCOUNT))
        assert "aws:username" not in ctx and ctx["aws:userid"] == [ACCOUNT]
        assert ctx["aws:PrincipalArn"] == [f"arn:aws:iam::{ACCOUNT}:root"]

    def test_caller_supplied_values_win(self) -> None:
        ctx = request_context(
            AuthzRequest(ALICE, "ecr:BatchGetImage", REPO_ARN, ACCOUNT, {"aws:username": "override"})
        )
        assert ctx["aws:username"] == ["override"]

    def test_anonymous_has_no_principal_keys(self) -> None:
        ctx = request_context(AuthzRequest(None, "ecr:BatchGetImage", REPO_ARN, ACCOUNT))
        assert "aws:PrincipalArn" not in ctx and ctx["aws:PrincipalType"] == ["Anonymous"]

    def test_conditions_on_principal_keys_in_a_resource_policy(self) -> None:
        repo = policy(grant("*", Condition={"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}))
        assert decide(ALICE, resource_policy=repo).allowed
        assert not decide(None, resource_policy=repo).allowed
        assert not decide(MALLORY, resource_policy=repo, identity_policies=[identity(allow())]).allowed


def test_explain() -> None:
    assert Decision(False, "implicit deny", detail="nothing").explain() == "DENY (implicit deny): nothing"
    assert Decision(True, "root user").explain() == "ALLOW (root user)"


def test_policies_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="repository policy was parsed as an identity policy"):
        decide(ALICE, resource_policy=identity(allow()).document)
    with pytest.raises(ValueError, match="parsed as a resource policy"):
        decide(ALICE, identity_policies=[NamedPolicy("x", policy(grant("*")))])
