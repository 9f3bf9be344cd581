"""botocore's ECR model as the single source of truth for request and response shapes.

Validation and serialisation walk the model's shapes instead of hand-written schemas,
so a new botocore release (new operations, new members, new constraints) is picked up
by bumping the pin, and our answers to bad input match what botocore documents.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from dockyard.core.repositories import MUTABILITY_MODES
from dockyard.ecr.errors import EcrError, invalid_parameter, serialization, unknown_operation, validation

log = logging.getLogger("dockyard.ecr")

SERVICE_NAME = "ecr"

# ECR's own (pre-Coral-validation) texts for repository names, as the AWS CLI shows them:
# "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy
# regular expression '...''" and "... 'must have length greater than or equal to 2'".
_HANDWRITTEN_SHAPES = frozenset({"RepositoryName"})

# Enums whose values ECR's error lists in another order than botocore's model (see
# dockyard.core.repositories.MUTABILITY_MODES for the evidence).
_ECR_ENUM_ORDER = {"ImageTagMutability": MUTABILITY_MODES}


@functools.cache
def service_model() -> ServiceModel:
    """The ECR model of the pinned botocore, loaded once per process."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def operation_names() -> list[str]:
    """All ECR operation names in the model (e.g. ``CreateRepository``)."""
    return list(service_model().operation_names)


def operation_model(operation_name: str) -> OperationModel:
    """The botocore OperationModel, or UnknownOperationException if ECR has no such action."""
    if operation_name not in _operation_set():
        raise unknown_operation(f"Unknown operation {operation_name}")
    return service_model().operation_model(operation_name)


@functools.cache
def _operation_set() -> frozenset[str]:
    return frozenset(service_model().operation_names)


@dataclass(frozen=True)
class Paginator:
    """How one operation pages, from botocore's paginators-1.json."""

    operation: str
    input_token: str
    output_token: str
    limit_key: str | None
    result_keys: tuple[str, ...]


@functools.cache
def paginated_operations() -> dict[str, Paginator]:
    """Operations botocore paginates, keyed by operation name."""
    config = botocore.session.get_session().get_paginator_model(SERVICE_NAME)._paginator_config
    result: dict[str, Paginator] = {}
    for name, spec in config.items():
        keys = spec.get("result_key", [])
        result[name] = Paginator(
            operation=name,
            input_token=str(spec["input_token"]),
            output_token=str(spec["output_token"]),
            limit_key=spec.get("limit_key"),
            result_keys=tuple([keys] if isinstance(keys, str) else keys),
        )
    return result


# --------------------------------------------------------------------------- validation


@functools.cache
def _compiled_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a model (Java) regex for Python.

    The ECR patterns use only constructs both engines share; Java's ``\\w``/``\\s`` are
    ASCII-only by default, hence re.ASCII. Java ``matches()`` is anchored at both ends,
    hence fullmatch at the call site.
    """
    return re.compile(pattern, re.ASCII)


def _java_length(value: str) -> int:
    """String length as Java counts it (UTF-16 code units), which is what Coral checks."""
    return len(value.encode("utf-16-le")) // 2


def _json_kind(value: Any) -> str:
    """The Jackson token name Coral puts in its SerializationException texts."""
    if isinstance(value, bool):
        return "BOOLEAN_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, dict):
        return "START_OBJECT"
    return type(value).__name__


def _render_value(value: Any) -> str:
    """A value as Coral prints it inside ``Value '...' at 'path'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, bytes):
        text = f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    elif isinstance(value, list):
        text = "[" + ", ".join(_render_inner(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}={_render_inner(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return f"'{text}'"


def _render_inner(value: Any) -> str:
    rendered = _render_value(value)
    return rendered[1:-1] if rendered.startswith("'") else rendered


@dataclass(frozen=True)
class _Violation:
    path: str
    value: Any
    constraint: str  # Coral wording, e.g. "Member must not be null"
    handwritten: str | None = None  # ECR's own wording, used in InvalidParameterException mode

    def coral(self) -> str:
        value = _render_value(self.value)
        return f"Value {value} at '{self.path}' failed to satisfy constraint: {self.constraint}"

    def ecr(self) -> str:
        text = self.handwritten or self.constraint
        return f"Invalid parameter at '{self.path}' failed to satisfy constraint: '{text}'"


class _Validator:
    """Walks one request against its input shape, converting wire values to Python ones."""

    def __init__(self) -> None:
        self.violations: list[_Violation] = []

    def structure(self, shape: Shape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serialization(f"{_json_kind(value)} can not be converted to a structure {shape.name}")
        out: dict[str, Any] = {}
        required = set(shape.metadata.get("required", ()))
        members: Mapping[str, Shape] = shape.members
        for name, member in members.items():
            member_path = f"{path}.{name}" if path else name
            raw = value.get(name)
            if raw is None:
                if name in required:
                    self.violations.append(_Violation(member_path, None, "Member must not be null"))
                continue
            out[name] = self.value(member, raw, member_path)
        # Unknown members are ignored, as AWS JSON services ignore them.
        return out

    def value(self, shape: Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, value, path)
        if kind == "list":
            return self.list_(shape, value, path)
        if kind == "map":
            return self.map_(shape, value, path)
        if kind == "string":
            return self.string(shape, value, path)
        if kind in ("integer", "long"):
            return self.integer(shape, value, path)
        if kind in ("double", "float"):
            return self.double(shape, value, path)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise serialization(f"{_json_kind(value)} can not be converted to a Boolean")
            return value
        if kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise serialization(f"{_json_kind(value)} can not be converted to a Date")
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        if kind == "blob":
            return self.blob(shape, value, path)
        raise serialization(f"Unsupported shape type {kind}")  # pragma: no cover - model has none

    def list_(self, shape: Shape, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise serialization(f"{_json_kind(value)} can not be converted to a list")
        self._length(shape, value, len(value), path)
        member: Shape = shape.member
        out = []
        for index, item in enumerate(value, start=1):
            item_path = f"{path}.{index}.member"
            if item is None:
                self.violations.append(_Violation(item_path, None, "Member must not be null"))
                continue
            out.append(self.value(member, item, item_path))
        return out

    def map_(self, shape: Shape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serialization(f"{_json_kind(value)} can not be converted to a map")
        self._length(shape, value, len(value), path)
        key_shape: Shape = shape.key
        value_shape: Shape = shape.value
        out = {}
        for key, item in value.items():
            self.string(key_shape, key, f"{path}.key")
            item_path = f"{path}.{key}.member"
            if item is None:
                self.violations.append(_Violation(item_path, None, "Member must not be null"))
                continue
            out[key] = self.value(value_shape, item, item_path)
        return out

    def string(self, shape: Shape, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise serialization(f"{_json_kind(value)} can not be converted to a String")
        meta = shape.metadata
        handwritten = shape.name in _HANDWRITTEN_SHAPES
        self._length(shape, value, _java_length(value), path, handwritten)
        pattern = meta.get("pattern")
        if pattern is not None and not _compiled_pattern(pattern).fullmatch(value):
            self.violations.append(
                _Violation(
                    path,
                    value,
                    f"Member must satisfy regular expression pattern: {pattern}",
                    f"must satisfy regular expression '{pattern}'" if handwritten else None,
                )
            )
        enum_values = shape.enum
        if enum_values and value not in enum_values:
            listed = _ECR_ENUM_ORDER.get(shape.name, enum_values)
            self.violations.append(
                _Violation(path, value, f"Member must satisfy enum value set: [{', '.join(listed)}]")
            )
        return value

    def integer(self, shape: Shape, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            target = "an Integer" if shape.type_name == "integer" else "a Long"
            raise serialization(f"{_json_kind(value)} can not be converted to {target}")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise serialization("NUMBER_VALUE can not be converted to an Integer")
            value = int(value)  # Coral's number type truncates
        self._range(shape, value, path)
        return value

    def double(self, shape: Shape, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise serialization(f"{_json_kind(value)} can not be converted to a Double")
        self._range(shape, value, path)
        return float(value)

    def blob(self, shape: Shape, value: Any, path: str) -> bytes:
        if not isinstance(value, str):
            raise serialization(f"{_json_kind(value)} can not be converted to a Blob")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serialization(f"Base64 encoded value at '{path}' is not valid") from None
        self._length(shape, data, len(data), path)
        return data

    def _length(self, shape: Shape, value: Any, length: int, path: str, handwritten: bool = False) -> None:
        meta = shape.metadata
        low, high = meta.get("min"), meta.get("max")
        if low is not None and length < low:
            text = f"must have length greater than or equal to {low}"
            self.violations.append(_Violation(path, value, f"Member {text}", text if handwritten else None))
        if high is not None and length > high:
            text = f"must have length less than or equal to {high}"
            self.violations.append(_Violation(path, value, f"Member {text}", text if handwritten else None))

    def _range(self, shape: Shape, value: float, path: str) -> None:
        meta = shape.metadata
        low, high = meta.get("min"), meta.get("max")
        if low is not None and value < low:
            self.violations.append(
                _Violation(path, value, f"Member must have value greater than or equal to {low}")
            )
        if high is not None and value > high:
            self.violations.append(
                _Violation(path, value, f"Member must have value less than or equal to {high}")
            )


@functools.cache
def _reports_validation_exception(operation_name: str) -> bool:
    """Whether ECR reports model-constraint failures for this action as ValidationException.

    The classic ECR actions (CreateRepository, BatchGetImage, ListImages, ...) answer with
    ``InvalidParameterException: Invalid parameter at 'imageIds' failed to satisfy
    constraint: 'Member must have length less than or equal to 100'`` (one problem at a
    time), as seen in many public bug reports. The newer actions declare
    ValidationException in the model and answer with Coral's
    ``N validation error(s) detected: ...``. The declared error list tells them apart.
    """
    op = service_model().operation_model(operation_name)
    return any(shape.name == "ValidationException" for shape in op.error_shapes)


def validation_error(operation_name: str, violations: list[_Violation]) -> EcrError:
    """Render constraint violations the way ECR does for this operation."""
    if _reports_validation_exception(operation_name):
        count = len(violations)
        noun = "error" if count == 1 else "errors"
        detail = "; ".join(v.coral() for v in violations)
        return validation(f"{count} validation {noun} detected: {detail}")
    return invalid_parameter(violations[0].ecr())


def validate_input(operation_name: str, params: Any) -> dict[str, Any]:
    """Check a decoded JSON request against the operation's input shape.

    Returns a clean copy: unknown members and nulls dropped, timestamps as aware
    datetimes, blobs as bytes. Raises EcrError (SerializationException for wrong JSON
    types; InvalidParameterException or ValidationException for constraint failures).
    """
    op = operation_model(operation_name)
    if not isinstance(params, dict):
        raise serialization(f"{_json_kind(params)} can not be converted to a request structure")
    shape = op.input_shape
    if shape is None:
        return {}
    validator = _Validator()
    result = validator.structure(shape, params, "")
    if validator.violations:
        raise validation_error(operation_name, validator.violations)
    return result


# ------------------------------------------------------------------------ serialization


def _epoch(value: dt.datetime | dt.date | float) -> float | int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    return value


def _serialize(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if isinstance(value, enum.Enum):
        value = value.value
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise TypeError(f"{path or '<output>'}: expected a mapping for {shape.name}, got {type(value)}")
        members: Mapping[str, Shape] = shape.members
        out: dict[str, Any] = {}
        for name, item in value.items():
            member = members.get(name)
            if member is None:
                log.warning("dropping member %r not in ECR shape %s", name, shape.name)
                continue
            if item is None:
                continue
            out[name] = _serialize(member, item, f"{path}.{name}" if path else name)
        return out
    if kind == "list":
        member_shape: Shape = shape.member
        return [_serialize(member_shape, item, f"{path}[]") for item in value if item is not None]
    if kind == "map":
        value_shape: Shape = shape.value
        return {str(k): _serialize(value_shape, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob":
        data = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(data).decode("ascii")
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("double", "float"):
        return float(value)
    if kind == "boolean":
        return bool(value)
    return str(value)


def serialize_output(operation_name: str, result: Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn a handler's result into the JSON document botocore expects.

    None members are dropped; empty lists are kept (ECR returns e.g. ``repositories: []``);
    datetimes become epoch seconds; bytes become base64; members not in the model are
    dropped with a warning so handler mistakes never leak internals.
    """
    op = operation_model(operation_name)
    shape = op.output_shape
    if shape is None or not result:
        return {}
    out: dict[str, Any] = _serialize(shape, result, "")
    return out
