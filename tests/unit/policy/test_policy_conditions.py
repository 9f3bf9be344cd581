"""Every condition operator, positive and negative, with IfExists and the set qualifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.auth.policy.context import ContextValue
from tests.unit.policy.policy_testlib import ALICE, condition_holds

Ctx = dict[str, ContextValue]


@pytest.mark.parametrize(
    ("operator", "policy_value", "request_value", "expected"),
    [
        ("StringEquals", "prod", "prod", True),
        ("StringEquals", "prod", "Prod", False),
        ("StringEquals", ["dev", "prod"], "prod", True),  # values of one key are OR'ed
        ("StringNotEquals", "prod", "dev", True),
        ("StringNotEquals", ["dev", "prod"], "prod", False),  # NOR
        ("StringEqualsIgnoreCase", "PROD", "prod", True),
        ("StringEqualsIgnoreCase", "PROD", "dev", False),
        ("StringNotEqualsIgnoreCase", "PROD", "prod", False),
        ("StringNotEqualsIgnoreCase", "PROD", "dev", True),
        ("StringLike", "team-*", "team-a", True),
        ("StringLike", "team-?", "team-ab", False),
        ("StringLike", "team-*", "TEAM-a", False),  # case-sensitive
        ("StringNotLike", "team-*", "team-a", False),
        ("StringNotLike", "team-*", "other", True),
        ("NumericEquals", "10", "10", True),
        ("NumericEquals", "10", "10.0", True),
        ("NumericEquals", 10, "11", False),
        ("NumericNotEquals", "10", "11", True),
        ("NumericNotEquals", "10", "10", False),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericLessThanEquals", "10", "11", False),
        ("NumericGreaterThan", "10", "11", True),
        ("NumericGreaterThan", "10", "10", False),
        ("NumericGreaterThanEquals", "10", "10", True),
        ("NumericGreaterThanEquals", "10", "9", False),
        ("NumericEquals", "10", "ten", False),  # unparseable request value never matches
        ("Bool", "true", "true", True),
        ("Bool", True, "false", False),
        ("Bool", "false", "False", True),
        ("BinaryEquals", "QmluYXJ5", "QmluYXJ5", True),
        ("BinaryEquals", "QmluYXJ5", "b3RoZXI=", False),
        ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
        ("IpAddress", "203.0.113.0/24", "203.0.114.7", False),
        ("IpAddress", "203.0.113.7", "203.0.113.7", True),  # a bare address is a /32
        ("IpAddress", "2001:db8::/32", "2001:db8:1::5", True),
        ("IpAddress", "2001:db8::/32", "2001:db9::5", False),
        ("IpAddress", "2001:db8::/32", "203.0.113.7", False),  # families never mix
        ("IpAddress", ["10.0.0.0/8", "2001:db8::/32"], "2001:db8::1", True),
        ("IpAddress", "10.0.0.0/8", "not-an-ip", False),
        ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
        ("NotIpAddress", "203.0.113.0/24", "203.0.113.9", False),
        ("NotIpAddress", "2001:db8::/32", "2001:db8::9", False),
        ("ArnEquals", "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/alice", True),
        ("ArnEquals", "arn:aws:iam::111122223333:user/*", "arn:aws:iam::111122223333:user/alice", True),
        ("ArnLike", "arn:aws:iam::*:user/alice", "arn:aws:iam::444455556666:user/alice", True),
        ("ArnLike", "arn:aws:iam::*:user/alice", "arn:aws:iam::444455556666:user/Alice", False),
        ("ArnLike", "arn:aws:iam::*:root", "arn:aws:iam::444455556666:user/root", False),
        ("ArnLike", "arn:aws:iam::*:user/*", "not-an-arn", False),
        ("ArnNotEquals", "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob", True),
        ("ArnNotLike", "arn:aws:iam::111122223333:*", "arn:aws:iam::111122223333:user/bob", False),
        ("ArnNotLike", "arn:aws:iam::111122223333:*", "arn:aws:iam::444455556666:user/bob", True),
    ],
)
def test_operator(operator: str, policy_value: Any, request_value: str, expected: bool) -> None:
    assert condition_holds({operator: {"test:Key": policy_value}}, {"test:Key": request_value}) is expected


def test_arn_wildcard_does_not_cross_components() -> None:
    # "*" in the region must not swallow the account component.
    pattern = {"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:repository/*"}}
    assert condition_holds(pattern, {"aws:SourceArn": "arn:aws:ecr:eu-west-1:111122223333:repository/a/b"})
    assert not condition_holds(
        pattern, {"aws:SourceArn": "arn:aws:ecr:eu-west-1:x:111122223333:repository/a"}
    )


@pytest.mark.parametrize(
    ("operator", "policy_value", "request_value", "expected"),
    [
        ("DateLessThan", "2030-01-01T00:00:00Z", datetime(2029, 12, 31, 23, 59, tzinfo=UTC), True),
        ("DateLessThan", "2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC), False),
        ("DateLessThanEquals", "2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC), True),
        ("DateGreaterThan", "2030-01-01", datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC), True),
        ("DateGreaterThan", "2030-01-01", datetime(2029, 1, 1, tzinfo=UTC), False),
        ("DateGreaterThanEquals", "2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z", True),
        ("DateEquals", "2030-01-01T02:00:00+02:00", "2030-01-01T00:00:00Z", True),  # offsets honoured
        ("DateEquals", "1893456000", "2030-01-01T00:00:00Z", True),  # epoch seconds in the policy
        ("DateEquals", "2030-01-01T00:00:00Z", 1893456000, True),  # epoch seconds in the request
        ("DateNotEquals", "2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z", True),
        ("DateNotEquals", "2030-01-01T00:00:00Z", datetime(2030, 1, 1), False),  # naive means UTC
        ("DateLessThan", "2030-01-01T00:00:00Z", "garbage", False),
    ],
)
def test_date_operator(operator: str, policy_value: str, request_value: ContextValue, expected: bool) -> None:
    assert condition_holds({operator: {"test:When": policy_value}}, {"test:When": request_value}) is expected


def test_current_time_is_filled_in_automatically() -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert condition_holds({"DateGreaterThan": {"aws:CurrentTime": past}}, {})
    assert not condition_holds({"DateGreaterThan": {"aws:CurrentTime": future}}, {})


def test_current_time_follows_the_injectable_clock() -> None:
    from dockyard import clock

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert not condition_holds({"DateGreaterThan": {"aws:CurrentTime": tomorrow}}, {})
    clock.set_offset(2 * 24 * 3600)
    try:
        assert condition_holds({"DateGreaterThan": {"aws:CurrentTime": tomorrow}}, {})
    finally:
        clock.set_offset(0)


def test_secure_transport_accepts_python_bools() -> None:
    deny_plain_http = {"Bool": {"aws:SecureTransport": "true"}}
    assert condition_holds(deny_plain_http, {"aws:SecureTransport": True})
    assert not condition_holds(deny_plain_http, {"aws:SecureTransport": False})


def test_condition_key_names_are_case_insensitive() -> None:
    assert condition_holds({"IpAddress": {"AWS:SOURCEIP": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"})


def test_operators_and_keys_are_anded() -> None:
    condition = {
        "StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": ALICE.account_id},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
    }
    assert condition_holds(condition, {"aws:SourceIp": "10.0.0.1"})
    assert not condition_holds(condition, {"aws:SourceIp": "11.0.0.1"})
    condition["StringEquals"]["aws:PrincipalAccount"] = "999999999999"
    assert not condition_holds(condition, {"aws:SourceIp": "10.0.0.1"})


class TestMissingKeys:
    """AWS: a missing key makes an operator false, a negated one true; IfExists and Null differ."""

    @pytest.mark.parametrize(
        "operator",
        [
            "StringEquals",
            "StringLike",
            "StringEqualsIgnoreCase",
            "NumericEquals",
            "DateEquals",
            "Bool",
            "ArnLike",
            "IpAddress",
            "BinaryEquals",
        ],
    )
    def test_positive_operators_are_false(self, operator: str) -> None:
        value = {
            "NumericEquals": "1",
            "DateEquals": "2030-01-01",
            "Bool": "true",
            "IpAddress": "10.0.0.0/8",
        }.get(operator, "x")
        assert not condition_holds({operator: {"test:Missing": value}}, {})

    @pytest.mark.parametrize(
        ("operator", "value"),
        [
            ("StringNotEquals", "x"),
            ("StringNotLike", "x*"),
            ("StringNotEqualsIgnoreCase", "x"),
            ("NumericNotEquals", "1"),
            ("DateNotEquals", "2030-01-01"),
            ("ArnNotLike", "arn:aws:iam::*:root"),
            ("ArnNotEquals", "arn:aws:iam::111122223333:root"),
            ("NotIpAddress", "10.0.0.0/8"),
        ],
    )
    def test_negated_operators_are_true(self, operator: str, value: str) -> None:
        assert condition_holds({operator: {"test:Missing": value}}, {})

    @pytest.mark.parametrize(
        ("operator", "value"),
        [
            ("StringEqualsIfExists", "x"),
            ("StringLikeIfExists", "x*"),
            ("NumericLessThanIfExists", "1"),
            ("DateGreaterThanIfExists", "2030-01-01"),
            ("BoolIfExists", "true"),
            ("IpAddressIfExists", "10.0.0.0/8"),
            ("ArnLikeIfExists", "arn:aws:iam::*:root"),
        ],
    )
    def test_if_exists_is_true_when_missing(self, operator: str, value: str) -> None:
        assert condition_holds({operator: {"test:Missing": value}}, {})

    def test_if_exists_still_checks_a_present_key(self) -> None:
        condition = {"StringEqualsIfExists": {"test:Env": "prod"}}
        assert condition_holds(condition, {"test:Env": "prod"})
        assert not condition_holds(condition, {"test:Env": "dev"})
        ip = {"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}
        assert not condition_holds(ip, {"aws:SourceIp": "192.168.0.1"})

    def test_null(self) -> None:
        assert condition_holds({"Null": {"test:Tag": "true"}}, {})
        assert not condition_holds({"Null": {"test:Tag": "true"}}, {"test:Tag": "x"})
        assert condition_holds({"Null": {"test:Tag": "false"}}, {"test:Tag": "x"})
        assert not condition_holds({"Null": {"test:Tag": False}}, {})
        assert condition_holds({"Null": {"test:Tags": "true"}}, {"test:Tags": []})  # empty is absent


class TestSetQualifiers:
    def test_for_any_value(self) -> None:
        condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}}
        assert condition_holds(condition, {"aws:TagKeys": ["owner", "env"]})
        assert not condition_holds(condition, {"aws:TagKeys": ["owner", "cost"]})
        assert not condition_holds(condition, {"aws:TagKeys": []})
        assert not condition_holds(condition, {})

    def test_for_all_values(self) -> None:
        condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
        assert condition_holds(condition, {"aws:TagKeys": ["team", "env"]})
        assert condition_holds(condition, {"aws:TagKeys": ["env"]})
        assert not condition_holds(condition, {"aws:TagKeys": ["team", "owner"]})
        assert condition_holds(condition, {"aws:TagKeys": []})  # vacuously true
        assert condition_holds(condition, {})

    def test_for_all_values_like(self) -> None:
        condition = {"ForAllValues:StringLike": {"aws:TagKeys": "team-*"}}
        assert condition_holds(condition, {"aws:TagKeys": ["team-a", "team-b"]})
        assert not condition_holds(condition, {"aws:TagKeys": ["team-a", "owner"]})

    def test_negated_with_qualifiers(self) -> None:
        any_not = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}}
        assert condition_holds(any_not, {"aws:TagKeys": ["team", "owner"]})
        assert not condition_holds(any_not, {"aws:TagKeys": ["team"]})
        all_not = {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}
        assert condition_holds(all_not, {"aws:TagKeys": ["team", "owner"]})
        assert not condition_holds(all_not, {"aws:TagKeys": ["team", "secret"]})

    def test_qualifier_with_if_exists(self) -> None:
        condition = {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "team"}}
        assert condition_holds(condition, {})
        assert not condition_holds(condition, {"aws:TagKeys": ["owner"]})

    def test_unqualified_operator_on_a_multivalued_key_matches_any_value(self) -> None:
        assert condition_holds({"StringEquals": {"aws:TagKeys": "team"}}, {"aws:TagKeys": ["owner", "team"]})
        assert not condition_holds(
            {"StringNotEquals": {"aws:TagKeys": "team"}}, {"aws:TagKeys": ["owner", "team"]}
        )

    def test_resource_tags(self) -> None:
        condition = {
            "StringEquals": {"ecr:ResourceTag/team": "payments", "aws:RequestTag/env": ["dev", "prod"]}
        }
        assert condition_holds(condition, {"ecr:ResourceTag/team": "payments", "aws:RequestTag/env": "prod"})
        assert not condition_holds(
            condition, {"ecr:ResourceTag/team": "payments", "aws:RequestTag/env": "qa"}
        )


class TestPolicyVariables:
    def test_variables_are_substituted_in_condition_values(self) -> None:
        condition = {"StringEquals": {"aws:RequestTag/owner": "${aws:username}"}}
        assert condition_holds(condition, {"aws:RequestTag/owner": "alice"})
        assert not condition_holds(condition, {"aws:RequestTag/owner": "bob"})

    def test_variables_are_literal_in_2008_documents(self) -> None:
        condition = {"StringEquals": {"aws:RequestTag/owner": "${aws:username}"}}
        assert not condition_holds(condition, {"aws:RequestTag/owner": "alice"}, version="2008-10-17")
        assert condition_holds(condition, {"aws:RequestTag/owner": "${aws:username}"}, version="2008-10-17")

    def test_default_values_and_special_characters(self) -> None:
        condition = {"StringEquals": {"test:Key": "${test:Absent, 'fallback'}"}}
        assert condition_holds(condition, {"test:Key": "fallback"})
        like = {"StringLike": {"test:Key": "a${*}b*"}}
        assert condition_holds(like, {"test:Key": "a*bcd"})
        assert not condition_holds(like, {"test:Key": "axbcd"})

    def test_unresolved_variable_matches_nothing(self) -> None:
        assert not condition_holds({"StringLike": {"test:Key": "${test:Absent}*"}}, {"test:Key": "anything"})

    def test_variable_values_are_literal_in_like_patterns(self) -> None:
        condition = {"StringLike": {"test:Key": "${test:Prefix}-*"}}
        assert condition_holds(condition, {"test:Key": "a*-x", "test:Prefix": "a*"})
        assert not condition_holds(condition, {"test:Key": "abc-x", "test:Prefix": "a*"})
