"""Condition operators: parsing their names, validating their values, evaluating them.

Semantics follow the IAM documentation ("Condition operators" and "Conditions with multiple
context keys or values"):

* values listed for one key are OR'ed; for a negated operator (``StringNotEquals``...) the result
  is the negation of the positive operator, i.e. NOR;
* a key missing from the request makes the operator false, except that negated operators are
  then *true* (AWS: "if the policy condition requires that the key is not matched ... and the
  right key is not present, the condition is true"), ``...IfExists`` is true and ``Null`` tests
  presence itself;
* ``ForAnyValue:`` is true when at least one request value satisfies the operator (false if the
  key is missing or empty); ``ForAllValues:`` is true when every request value does (true if the
  key is missing or empty).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from dockyard.auth.policy.context import ContextScalar, RequestContext, to_string
from dockyard.auth.policy.patterns import arn_match, glob_match, substitute, tokenize

Qualifier = Literal["ForAnyValue", "ForAllValues"]
Family = Literal["String", "Numeric", "Date", "Bool", "Binary", "IpAddress", "Arn", "Null"]

# A positive matcher: (request value, policy value, context for variables, variables on?) -> bool
Matcher = Callable[[ContextScalar, str, RequestContext, bool], bool]


@dataclass(frozen=True, slots=True)
class _OperatorSpec:
    family: Family
    negated: bool
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class ConditionOperator:
    """A parsed operator name such as ``ForAllValues:StringLikeIfExists``."""

    name: str
    base: str
    qualifier: Qualifier | None
    if_exists: bool

    @property
    def family(self) -> Family:
        return _OPERATORS[self.base].family

    @property
    def negated(self) -> bool:
        return _OPERATORS[self.base].negated


# --- value coercion -------------------------------------------------------------------------


def parse_number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_date(value: object) -> datetime | None:
    """ISO 8601 (``2026-01-31``, ``2026-01-31T12:00:00Z``, with offsets) or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text)


def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


# --- positive matchers ----------------------------------------------------------------------


def _policy_string(policy: str, ctx: RequestContext, variables: bool) -> str | None:
    return substitute(tokenize(policy, variables), ctx)


def _string_equals(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    expected = _policy_string(policy, ctx, variables)
    return expected is not None and to_string(value) == expected


def _string_equals_ic(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    expected = _policy_string(policy, ctx, variables)
    return expected is not None and to_string(value).casefold() == expected.casefold()


def _string_like(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    return glob_match(policy, to_string(value), variables=variables, ctx=ctx)


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Matcher:
    def match(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
        left, right = parse_number(value), parse_number(policy)
        return left is not None and right is not None and compare(left, right)

    return match


def _date(compare: Callable[[datetime, datetime], bool]) -> Matcher:
    def match(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
        left, right = parse_date(value), parse_date(policy)
        return left is not None and right is not None and compare(left, right)

    return match


def _bool(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    left, right = parse_bool(value), parse_bool(policy)
    return left is not None and left == right


def _binary(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    # Binary context values travel base64-encoded, exactly as the policy writes them.
    return to_string(value) == policy


def _ip(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    network = parse_network(policy)
    try:
        address = ipaddress.ip_address(to_string(value).strip())
    except ValueError:
        return False
    return network is not None and address.version == network.version and address in network


def _arn(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    # AWS documents ArnEquals and ArnLike identically: per-component, case-sensitive, wildcards.
    return arn_match(policy, to_string(value), variables=variables, ctx=ctx)


def _never(value: ContextScalar, policy: str, ctx: RequestContext, variables: bool) -> bool:
    return False  # Null is evaluated on presence, never per value.


def _spec(family: Family, matcher: Matcher, negated: bool = False) -> _OperatorSpec:
    return _OperatorSpec(family, negated, matcher)


_OPERATORS: dict[str, _OperatorSpec] = {
    "StringEquals": _spec("String", _string_equals),
    "StringNotEquals": _spec("String", _string_equals, negated=True),
    "StringEqualsIgnoreCase": _spec("String", _string_equals_ic),
    "StringNotEqualsIgnoreCase": _spec("String", _string_equals_ic, negated=True),
    "StringLike": _spec("String", _string_like),
    "StringNotLike": _spec("String", _string_like, negated=True),
    "NumericEquals": _spec("Numeric", _numeric(lambda a, b: a == b)),
    "NumericNotEquals": _spec("Numeric", _numeric(lambda a, b: a == b), negated=True),
    "NumericLessThan": _spec("Numeric", _numeric(lambda a, b: a < b)),
    "NumericLessThanEquals": _spec("Numeric", _numeric(lambda a, b: a <= b)),
    "NumericGreaterThan": _spec("Numeric", _numeric(lambda a, b: a > b)),
    "NumericGreaterThanEquals": _spec("Numeric", _numeric(lambda a, b: a >= b)),
    "DateEquals": _spec("Date", _date(lambda a, b: a == b)),
    "DateNotEquals": _spec("Date", _date(lambda a, b: a == b), negated=True),
    "DateLessThan": _spec("Date", _date(lambda a, b: a < b)),
    "DateLessThanEquals": _spec("Date", _date(lambda a, b: a <= b)),
    "DateGreaterThan": _spec("Date", _date(lambda a, b: a > b)),
    "DateGreaterThanEquals": _spec("Date", _date(lambda a, b: a >= b)),
    "Bool": _spec("Bool", _bool),
    "BinaryEquals": _spec("Binary", _binary),
    "IpAddress": _spec("IpAddress", _ip),
    "NotIpAddress": _spec("IpAddress", _ip, negated=True),
    "ArnEquals": _spec("Arn", _arn),
    "ArnNotEquals": _spec("Arn", _arn, negated=True),
    "ArnLike": _spec("Arn", _arn),
    "ArnNotLike": _spec("Arn", _arn, negated=True),
    "Null": _spec("Null", _never),
}

OPERATOR_NAMES: tuple[str, ...] = tuple(_OPERATORS)


def parse_operator(name: str) -> ConditionOperator | str:
    """Parse an operator name; returns an error message (str) when it is not a valid operator."""
    qualifier: Qualifier | None = None
    rest = name
    for q in ("ForAnyValue", "ForAllValues"):
        if name.startswith(q + ":"):
            qualifier = "ForAnyValue" if q == "ForAnyValue" else "ForAllValues"
            rest = name[len(q) + 1 :]
            break
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest[: -len("IfExists")] if if_exists else rest
    if base not in _OPERATORS:
        return f'uses an unknown condition operator "{name}"'
    if base == "Null" and (if_exists or qualifier):
        return f'uses "{name}": the Null operator takes no IfExists suffix or set qualifier'
    return ConditionOperator(name=name, base=base, qualifier=qualifier, if_exists=if_exists)


def value_error(operator: ConditionOperator, value: str) -> str | None:
    """Why ``value`` is not acceptable for ``operator`` (None when it is)."""
    family = operator.family
    if family == "Numeric" and parse_number(value) is None:
        return f'value "{value}" is not a number'
    if family == "Date" and "${" not in value and parse_date(value) is None:
        return f'value "{value}" is not an ISO 8601 date or epoch time'
    if family in ("Bool", "Null") and parse_bool(value) is None:
        return f'value "{value}" must be "true" or "false"'
    if family == "IpAddress" and parse_network(value) is None:
        return f'value "{value}" is not an IP address or CIDR block'
    return None


def evaluate_condition(
    operator: ConditionOperator,
    key: str,
    policy_values: tuple[str, ...],
    ctx: RequestContext,
    variables: bool,
) -> bool:
    """Evaluate one ``operator: {key: values}`` pair against the request context."""
    spec = _OPERATORS[operator.base]
    present = ctx.values_of(key)
    if operator.base == "Null":
        absent = present is None
        return any(parse_bool(v) == absent for v in policy_values)
    if present is None:
        if operator.if_exists or operator.qualifier == "ForAllValues":
            return True
        if operator.qualifier == "ForAnyValue":
            return False
        return spec.negated

    def matches(value: ContextScalar) -> bool:
        return any(spec.matcher(value, p, ctx, variables) for p in policy_values)

    if operator.qualifier is None:
        hit = any(matches(v) for v in present)
        return not hit if spec.negated else hit

    def satisfies(value: ContextScalar) -> bool:
        return not matches(value) if spec.negated else matches(value)

    if operator.qualifier == "ForAnyValue":
        return any(satisfies(v) for v in present)
    return all(satisfies(v) for v in present)
