"""Parse and validate IAM policy documents into typed, immutable objects.

The checks are the ones IAM and ECR apply when a policy is stored (SetRepositoryPolicy,
PutRegistryPolicy, attaching an identity policy), so a document we accept is one AWS would
accept and evaluation never has to cope with malformed input. Every error names the element
(``Statement[1].Effect``) so the operator can fix it; the ECR API layer replaces the text with
ECR's generic one (see :func:`~dockyard.auth.policy.errors.ecr_invalid_policy_message`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dockyard import untrusted_json
from dockyard.auth.policy.conditions import ConditionOperator, parse_operator, value_error
from dockyard.auth.policy.errors import POLICY_MAX_LENGTH, PolicyError
from dockyard.auth.policy.patterns import arn_segment_count

PolicyKind = Literal["identity", "resource"]
Effect = Literal["Allow", "Deny"]

VERSIONS = ("2012-10-17", "2008-10-17")
VARIABLES_VERSION = "2012-10-17"
"""Only this version substitutes ``${...}`` policy variables; older documents keep them literal."""

_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_ACTION = re.compile(r"^[A-Za-z0-9_-]+:[A-Za-z0-9_*?-]+$")
_IDENTITY_SID = re.compile(r"^[A-Za-z0-9]*$")
_PARTITION = r"aws(?:-[a-z]+)*"
_ACCOUNT = re.compile(r"^\d{12}$")
_AWS_PRINCIPAL_ARN = re.compile(
    rf"^arn:{_PARTITION}:(?:iam::(\d{{12}}):(?:root|user/[^*?]+|role/[^*?]+)"
    rf"|sts::(\d{{12}}):(?:assumed-role/[^*?]+/[^*?]+|federated-user/[^*?]+))$"
)
_CONDITION_KEY = re.compile(r"[^:\s]+:\S+")
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{15,127}$")  # AIDA... / AROA...: what IAM shows for deleted principals


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A ``Principal``/``NotPrincipal`` value.

    ``aws`` holds normalised AWS principals: bare account IDs become
    ``arn:aws:iam::<id>:root`` (as IAM rewrites them on save). ``wildcard`` is true for ``"*"``
    and ``{"AWS": "*"}``. Service, federated and canonical-user principals are kept so the policy
    round-trips, but no Dockyard caller is ever one of them.
    """

    wildcard: bool = False
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionClause:
    """One ``operator: {key: values}`` entry; values are kept as strings, as IAM does."""

    operator: ConditionOperator
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    principal: PrincipalSpec | None = None
    not_principal: PrincipalSpec | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    conditions: tuple[ConditionClause, ...] = ()

    @property
    def label(self) -> str:
        """``Sid`` when there is one, else ``Statement[i]``: how logs refer to a statement."""
        return self.sid if self.sid else f"Statement[{self.index}]"


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    kind: PolicyKind
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    text: str

    @property
    def variables(self) -> bool:
        """Whether ``${...}`` is a policy variable in this document."""
        return self.version == VARIABLES_VERSION


def parse_policy(
    text: str | Mapping[str, Any], kind: PolicyKind = "resource", *, max_length: int = POLICY_MAX_LENGTH
) -> PolicyDocument:
    """Parse and validate a policy; raises :class:`PolicyError` naming the offending element.

    ``kind="resource"`` (repository and registry policies) requires ``Principal`` or
    ``NotPrincipal`` in every statement and makes ``Resource`` optional (it defaults to the
    resource the policy is attached to); ``kind="identity"`` forbids principals and requires
    ``Resource``/``NotResource``, exactly as IAM does.
    """
    if isinstance(text, str):
        if len(text) > max_length:
            raise PolicyError("", f"is {len(text)} characters long; the limit is {max_length}")
        if not text.strip():
            raise PolicyError("", "is empty")
        try:
            raw = untrusted_json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKey as err:
            raise PolicyError("", f'contains the key "{err.key}" more than once') from None
        except json.JSONDecodeError as err:
            raise PolicyError(
                "", f"is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
            ) from None
        source = text
    else:
        raw = dict(text)
        source = json.dumps(raw, indent=2)
        if len(source) > max_length:
            raise PolicyError("", f"is {len(source)} characters long; the limit is {max_length}")
    if not isinstance(raw, dict):
        raise PolicyError("", "must be a JSON object")
    return _parse_document(raw, kind, source)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON allows duplicate keys and Python keeps the last; IAM rejects them, and silently
    # dropping half of a policy is exactly the kind of surprise a security control must not have.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _parse_document(raw: dict[str, Any], kind: PolicyKind, source: str) -> PolicyDocument:
    for key in raw:
        if key not in ("Version", "Id", "Statement"):
            raise PolicyError(key, 'is not a policy element (expected "Version", "Id", "Statement")')
    version = raw.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError("Version", f'must be "2012-10-17" or "2008-10-17", not {json.dumps(version)}')
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError("Id", "must be a string")
    if "Statement" not in raw:
        raise PolicyError("Statement", "is missing")
    body = raw["Statement"]
    if isinstance(body, dict):
        items: list[tuple[str, Any]] = [("Statement", body)]
    elif isinstance(body, list):
        if not body:
            raise PolicyError("Statement", "must contain at least one statement")
        items = [(f"Statement[{i}]", s) for i, s in enumerate(body)]
    else:
        raise PolicyError("Statement", "must be an object or a list of objects")
    statements: list[Statement] = []
    seen_sids: set[str] = set()
    for index, (path, item) in enumerate(items):
        stmt = _parse_statement(item, path, index, kind, version == VARIABLES_VERSION)
        # IAM refuses a repeated Sid in an identity policy; ECR stores repository and registry
        # policies with repeats (outside ECR suites set such policies), so only identity ones are checked.
        if stmt.sid and kind == "identity":
            if stmt.sid in seen_sids:
                raise PolicyError(f"{path}.Sid", f'"{stmt.sid}" is not unique within the policy')
            seen_sids.add(stmt.sid)
        statements.append(stmt)
    return PolicyDocument(kind=kind, version=version, id=policy_id, statements=tuple(statements), text=source)


def _parse_statement(raw: Any, path: str, index: int, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError(path, "must be an object")
    for key in raw:
        if key not in _STATEMENT_KEYS:
            raise PolicyError(f"{path}.{key}", "is not a statement element")

    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise PolicyError(f"{path}.Sid", "must be a string")
        if kind == "identity" and not _IDENTITY_SID.match(sid):
            raise PolicyError(f"{path}.Sid", "may only contain letters and digits in an identity policy")

    if "Effect" not in raw:
        raise PolicyError(f"{path}.Effect", "is missing")
    effect = raw["Effect"]
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{path}.Effect", 'must be "Allow" or "Deny"')

    principal = not_principal = None
    has_p, has_np = "Principal" in raw, "NotPrincipal" in raw
    if kind == "identity":
        if has_p or has_np:
            name = "Principal" if has_p else "NotPrincipal"
            raise PolicyError(f"{path}.{name}", "is not allowed in an identity-based policy")
    else:
        if has_p and has_np:
            raise PolicyError(path, "has both Principal and NotPrincipal")
        if not (has_p or has_np):
            raise PolicyError(f"{path}.Principal", "is required in a resource-based policy")
        if has_p:
            principal = _parse_principal(raw["Principal"], f"{path}.Principal")
        else:
            not_principal = _parse_principal(raw["NotPrincipal"], f"{path}.NotPrincipal")

    actions, not_actions = _exactly_one(raw, path, "Action", "NotAction", _action)
    if kind == "identity" or "Resource" in raw or "NotResource" in raw:
        resources, not_resources = _exactly_one(raw, path, "Resource", "NotResource", _resource(variables))
    else:
        resources = not_resources = None

    conditions = _parse_conditions(raw.get("Condition"), f"{path}.Condition") if "Condition" in raw else ()
    return Statement(
        index=index,
        sid=sid,
        effect=effect,
        principal=principal,
        not_principal=not_principal,
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        conditions=conditions,
    )


def _string_list(value: Any, path: str) -> tuple[str, ...]:
    """A string or a non-empty list of non-empty strings, as every list-ish element takes."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise PolicyError(path, "must be a string or a non-empty list of strings")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise PolicyError(
                f"{path}[{i}]" if isinstance(value, list) else path, "must be a non-empty string"
            )
    return tuple(items)


def _exactly_one(
    raw: dict[str, Any], path: str, name: str, not_name: str, check: Any
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if name in raw and not_name in raw:
        raise PolicyError(path, f"has both {name} and {not_name}")
    if name not in raw and not_name not in raw:
        raise PolicyError(f"{path}.{name}", f"is missing (a statement needs {name} or {not_name})")
    present = name if name in raw else not_name
    values = _string_list(raw[present], f"{path}.{present}")
    for value in values:
        problem = check(value)
        if problem:
            raise PolicyError(f"{path}.{present}", problem)
    return (values, None) if present == name else (None, values)


def _action(value: str) -> str | None:
    if value == "*" or _ACTION.match(value):
        return None
    return f'has an invalid action "{value}" (expected "*" or "<service>:<action>", e.g. "ecr:BatchGetImage")'


def _resource(variables: bool) -> Any:
    def check(value: str) -> str | None:
        if value == "*":
            return None
        if not value.startswith("arn:") or arn_segment_count(value, variables) < 6:
            return (
                f'has an invalid resource "{value}" '
                '(expected "*" or an ARN "arn:partition:service:region:account:resource")'
            )
        return None

    return check


def _parse_principal(raw: Any, path: str) -> PrincipalSpec:
    if raw == "*":
        return PrincipalSpec(wildcard=True)
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(path, 'must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}')
    found: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key not in _PRINCIPAL_TYPES:
            raise PolicyError(
                f"{path}.{key}",
                'is not a principal type (expected "AWS", "Service", "Federated" or "CanonicalUser")',
            )
        found[key] = _string_list(value, f"{path}.{key}")
    wildcard = False
    aws: list[str] = []
    for value in found.get("AWS", ()):
        if value == "*":
            wildcard = True
        elif _ACCOUNT.match(value):
            aws.append(f"arn:aws:iam::{value}:root")
        elif _AWS_PRINCIPAL_ARN.match(value) or _UNIQUE_ID.match(value):
            aws.append(value)
        else:
            raise PolicyError(
                f"{path}.AWS",
                f'has an invalid principal "{value}" '
                '(expected "*", an account ID, or an IAM root/user/role ARN)',
            )
    for value in found.get("Service", ()):
        if not re.fullmatch(r"[A-Za-z0-9.*-]+", value):
            raise PolicyError(f"{path}.Service", f'has an invalid service principal "{value}"')
    return PrincipalSpec(
        wildcard=wildcard,
        aws=tuple(aws),
        service=found.get("Service", ()),
        federated=found.get("Federated", ()),
        canonical_user=found.get("CanonicalUser", ()),
    )


def _parse_conditions(raw: Any, path: str) -> tuple[ConditionClause, ...]:
    if not isinstance(raw, dict):
        raise PolicyError(path, "must be an object of {operator: {key: value}}")
    clauses: list[ConditionClause] = []
    for op_name, block in raw.items():
        op_path = f"{path}.{op_name}"
        operator = parse_operator(op_name)
        if isinstance(operator, str):
            raise PolicyError(path, operator)
        if not isinstance(block, dict) or not block:
            raise PolicyError(op_path, "must be a non-empty object of {condition key: value(s)}")
        for key, value in block.items():
            key_path = f"{op_path}.{key}"
            if not _CONDITION_KEY.fullmatch(key):
                raise PolicyError(
                    key_path, 'is not a condition key (expected "<prefix>:<name>", e.g. "aws:SourceIp")'
                )
            values = _condition_values(value, key_path)
            for v in values:
                problem = value_error(operator, v)
                if problem:
                    raise PolicyError(key_path, problem)
            clauses.append(ConditionClause(operator=operator, key=key, values=values))
    return tuple(clauses)


def _condition_values(value: Any, path: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError(path, "must have at least one value")
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise PolicyError(path, "values must be strings, numbers or booleans")
    return tuple(out)
