"""Parsing and validation: what SetRepositoryPolicy / PutRegistryPolicy / IAM would reject."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.auth.policy import POLICY_MAX_LENGTH, PolicyError, ecr_invalid_policy_message, parse_policy
from tests.unit.policy.policy_testlib import ACCOUNT, policy


def _text(statement: Any, **top: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statement, **top})


GOOD = {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}


def test_parses_the_reference_example() -> None:
    doc = parse_policy(
        _text(
            [
                {
                    "Sid": "AllowPushPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": ["arn:aws:iam::111122223333:user/push-pull-user-1"]},
                    "Action": ["ecr:BatchGetImage", "ecr:PutImage"],
                    "Condition": {},
                }
            ]
        )
    )
    assert doc.kind == "resource" and doc.version == "2012-10-17" and doc.variables
    (stmt,) = doc.statements
    assert stmt.sid == "AllowPushPull" and stmt.effect == "Allow"
    assert stmt.actions == ("ecr:BatchGetImage", "ecr:PutImage")
    assert stmt.resources is None and stmt.not_resources is None
    assert stmt.principal is not None and stmt.principal.aws == (
        "arn:aws:iam::111122223333:user/push-pull-user-1",
    )
    assert stmt.conditions == ()


def test_statement_may_be_a_single_object_and_strings_become_tuples() -> None:
    doc = parse_policy(_text(GOOD, Id="my-policy"))
    assert doc.id == "my-policy"
    assert doc.statements[0].actions == ("ecr:BatchGetImage",)
    assert doc.statements[0].principal is not None and doc.statements[0].principal.wildcard


def test_version_defaults_to_2008_without_variables() -> None:
    doc = parse_policy(json.dumps({"Statement": GOOD}))
    assert doc.version == "2008-10-17" and not doc.variables


def test_principals_are_normalised() -> None:
    doc = policy(
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": [ACCOUNT, "arn:aws:iam::444455556666:role/ci/builder", "*"],
                "Service": "codebuild.amazonaws.com",
            },
            "Action": "ecr:*",
        }
    )
    spec = doc.statements[0].principal
    assert spec is not None
    assert spec.wildcard
    assert spec.aws == (f"arn:aws:iam::{ACCOUNT}:root", "arn:aws:iam::444455556666:role/ci/builder")
    assert spec.service == ("codebuild.amazonaws.com",)


def test_identity_policy_requires_resource_and_forbids_principal() -> None:
    parse_policy(_text({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}), "identity")
    with pytest.raises(PolicyError, match=r"Statement\.Resource is missing"):
        parse_policy(_text({"Effect": "Allow", "Action": "ecr:*"}), "identity")
    with pytest.raises(PolicyError, match="not allowed in an identity-based policy"):
        parse_policy(
            _text({"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*"}), "identity"
        )


def test_condition_values_are_kept_as_strings() -> None:
    doc = policy(
        {
            **GOOD,
            "Condition": {"Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"ecr:count": [3, 4.5]}},
        }
    )
    values = {c.key: c.values for c in doc.statements[0].conditions}
    assert values == {"aws:SecureTransport": ("true",), "ecr:count": ("3", "4.5")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Invalid policy document: is empty"),
        ("{nope", "is not valid JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps({"Version": "2012-10-17"}), "Statement is missing"),
        (json.dumps({"Version": "2012-10-17", "Statement": []}), "must contain at least one statement"),
        (json.dumps({"Version": "2012-10-17", "Statement": "x"}), "Statement must be an object or a list"),
        (
            json.dumps({"Version": "2020-01-01", "Statement": GOOD}),
            'Version must be "2012-10-17" or "2008-10-17"',
        ),
        (json.dumps({"Version": "2012-10-17", "Id": 7, "Statement": GOOD}), "Id must be a string"),
        (
            json.dumps({"Version": "2012-10-17", "Statement": GOOD, "Extra": 1}),
            "Extra is not a policy element",
        ),
        (
            '{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": {}}',
            'key "Version" more than once',
        ),
        (_text(["x"]), r"Statement[0] must be an object"),
        (
            _text([GOOD, {**GOOD, "Effect": "allow"}]),
            'Invalid policy document: Statement[1].Effect must be "Allow" or "Deny"',
        ),
        (_text({k: v for k, v in GOOD.items() if k != "Effect"}), "Statement.Effect is missing"),
        (_text({**GOOD, "Sid": 5}), "Statement.Sid must be a string"),
        (_text({**GOOD, "Colour": "red"}), "Statement.Colour is not a statement element"),
        (_text({**GOOD, "Principal": None}), "Statement.Principal must be"),
        (
            _text({k: v for k, v in GOOD.items() if k != "Principal"}),
            "Principal is required in a resource-based policy",
        ),
        (_text({**GOOD, "NotPrincipal": "*"}), "has both Principal and NotPrincipal"),
        (_text({**GOOD, "Principal": {}}), "Statement.Principal must be"),
        (_text({**GOOD, "Principal": {"User": "x"}}), "Statement.Principal.User is not a principal type"),
        (
            _text({**GOOD, "Principal": {"AWS": "bob"}}),
            'Statement.Principal.AWS has an invalid principal "bob"',
        ),
        (_text({**GOOD, "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}}), "invalid principal"),
        (_text({**GOOD, "Principal": {"AWS": "12345"}}), "invalid principal"),
        (
            _text({**GOOD, "Principal": {"AWS": []}}),
            "Statement.Principal.AWS must be a string or a non-empty list",
        ),
        (_text({**GOOD, "Principal": {"Service": "no spaces please"}}), "invalid service principal"),
        (_text({**GOOD, "Action": []}), "Statement.Action must be a string or a non-empty list"),
        (_text({**GOOD, "Action": ["ecr:PutImage", 3]}), r"Statement.Action[1] must be a non-empty string"),
        (
            _text({**GOOD, "Action": "BatchGetImage"}),
            'Statement.Action has an invalid action "BatchGetImage"',
        ),
        (_text({**GOOD, "Action": "ecr:"}), "invalid action"),
        (_text({**GOOD, "NotAction": "ecr:PutImage"}), "has both Action and NotAction"),
        (_text({k: v for k, v in GOOD.items() if k != "Action"}), "Statement.Action is missing"),
        (
            _text({**GOOD, "Resource": "repository/app"}),
            'Statement.Resource has an invalid resource "repository/app"',
        ),
        (_text({**GOOD, "Resource": "arn:aws:ecr:us-east-1"}), "invalid resource"),
        (_text({**GOOD, "Resource": "*", "NotResource": "*"}), "has both Resource and NotResource"),
        (_text({**GOOD, "Condition": []}), "Statement.Condition must be an object"),
        (
            _text({**GOOD, "Condition": {"StringEqualz": {"aws:username": "a"}}}),
            'unknown condition operator "StringEqualz"',
        ),
        (
            _text({**GOOD, "Condition": {"NullIfExists": {"aws:username": "true"}}}),
            "Null operator takes no IfExists",
        ),
        (
            _text({**GOOD, "Condition": {"ForAnyValue:Null": {"aws:TagKeys": "true"}}}),
            "no IfExists suffix or set",
        ),
        (
            _text({**GOOD, "Condition": {"ForSomeValues:StringLike": {"a:b": "x"}}}),
            "unknown condition operator",
        ),
        (
            _text({**GOOD, "Condition": {"StringEquals": {}}}),
            "Statement.Condition.StringEquals must be a non-empty",
        ),
        (
            _text({**GOOD, "Condition": {"StringEquals": {"username": "a"}}}),
            "username is not a condition key",
        ),
        (
            _text({**GOOD, "Condition": {"StringEquals": {"aws:username": []}}}),
            "must have at least one value",
        ),
        (
            _text({**GOOD, "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}),
            "values must be strings",
        ),
        (_text({**GOOD, "Condition": {"NumericEquals": {"a:n": "ten"}}}), 'value "ten" is not a number'),
        (
            _text({**GOOD, "Condition": {"DateLessThan": {"aws:CurrentTime": "yesterday"}}}),
            "is not an ISO 8601 date",
        ),
        (_text({**GOOD, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}), 'must be "true" or "false"'),
        (_text({**GOOD, "Condition": {"Null": {"aws:username": "maybe"}}}), 'must be "true" or "false"'),
        (
            _text({**GOOD, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}),
            "not an IP address or CIDR",
        ),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert message in str(err.value)
    assert str(err.value).startswith("Invalid policy document:")


def test_error_exposes_path_and_problem() -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(_text([GOOD, {**GOOD, "Sid": "Two", "Effect": "Maybe"}]))
    assert err.value.path == "Statement[1].Effect"
    assert err.value.problem == 'must be "Allow" or "Deny"'
    assert err.value.message == str(err.value)


def test_identity_sids_are_alphanumeric_but_resource_sids_are_free_text() -> None:
    statement = {"Sid": "new statement", "Effect": "Allow", "Action": "ecr:*", "Resource": "*"}
    with pytest.raises(PolicyError, match="letters and digits"):
        parse_policy(_text(statement), "identity")
    parse_policy(_text({**statement, "Principal": "*"}), "resource")


def test_repeated_sids_are_refused_in_identity_policies_only() -> None:
    # IAM requires unique Sids; ECR's SetRepositoryPolicy/PutRegistryPolicy accept repeats.
    twice = {"Sid": "Pull", "Effect": "Allow", "Action": "ecr:*", "Resource": "*"}
    with pytest.raises(PolicyError, match=r'Statement\[1\].Sid "Pull" is not unique'):
        parse_policy(_text([twice, twice]), "identity")
    doc = parse_policy(_text([GOOD, {**GOOD, "Action": "ecr:GetDownloadUrlForLayer"}]), "resource")
    assert [s.sid for s in doc.statements] == ["Pull", "Pull"]


def test_size_limit_is_ecrs() -> None:
    padding = " " * (POLICY_MAX_LENGTH - len(_text(GOOD)))
    parse_policy(_text(GOOD) + padding)
    with pytest.raises(PolicyError, match="the limit is 10240"):
        parse_policy(_text(GOOD) + padding + " ")


def test_accepts_an_already_decoded_mapping() -> None:
    doc = parse_policy({"Version": "2012-10-17", "Statement": GOOD})
    assert doc.statements[0].sid == "Pull"
    assert json.loads(doc.text)["Statement"]["Sid"] == "Pull"


def test_ecr_error_text() -> None:
    assert ecr_invalid_policy_message() == (
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"
    )
    assert "Invalid registry policy provided" in ecr_invalid_policy_message("registry")
