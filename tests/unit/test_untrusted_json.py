"""Hostile JSON (issue 16, defect 3): every parser of client text refuses deep nesting and lone
surrogates with its own 4xx error, never a RecursionError or UnicodeEncodeError (a 500)."""

from __future__ import annotations

import json

import pytest

from dockyard.auth.policy import PolicyError
from dockyard.auth.policy import parse_policy as parse_access_policy
from dockyard.core import templates, untrusted_json
from dockyard.core.errors import ManifestInvalid
from dockyard.core.media_types import parse_manifest
from dockyard.features.lifecycle import LifecyclePolicyError, parse_policy

DEEP = ["[" * 500 + "]" * 500, "[" * 15_000 + "]" * 15_000, '{"a":' * 500 + "1" + "}" * 500]
SURROGATE = '{"rules": [{"description": "\\udc80"}]}'


@pytest.mark.parametrize("text", [*DEEP, SURROGATE, '["\\ud83d"]'])
def test_loads_refuses_with_a_value_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        untrusted_json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        untrusted_json.loads(text.encode())


def test_loads_accepts_ordinary_documents() -> None:
    nested = "[" * untrusted_json.MAX_DEPTH + "]" * untrusted_json.MAX_DEPTH
    assert untrusted_json.loads(nested) is not None
    assert untrusted_json.loads('{"a": "\\ud83d\\ude00 \\u00e9"}') == {"a": "\U0001f600 \u00e9"}
    assert untrusted_json.loads(b'{"x": [1, {"y": null}]}') == {"x": [1, {"y": None}]}


@pytest.mark.parametrize("text", [*DEEP, SURROGATE])
def test_lifecycle_policy(text: str) -> None:
    with pytest.raises(LifecyclePolicyError):
        parse_policy(text)


@pytest.mark.parametrize("text", [*DEEP, '{"Statement": "\\ud800"}'])
def test_repository_and_registry_policy(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_access_policy(text)


@pytest.mark.parametrize("text", [*DEEP, '{"Statement": "\\ud800"}'])
def test_creation_template_policies(text: str) -> None:
    with pytest.raises(templates.InvalidTemplate):
        templates.check_repository_policy(text)
    with pytest.raises(templates.InvalidTemplate):
        templates.check_lifecycle_policy(text)


@pytest.mark.parametrize("text", [*DEEP, '{"schemaVersion": 2, "annotations": {"a": "\\udfff"}}'])
def test_manifest(text: str) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(text.encode(), "application/vnd.oci.image.manifest.v1+json")
