"""Requests and answers for the fuzz tests: SigV4-signed ECR calls, and the checks every answer
must pass (never a 5xx; a 4xx carries its door's error envelope)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
REGION = "us-east-1"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def signed_headers(door: Any, operation: str, body: bytes) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url="http://testserver/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET_PREFIX + operation},
    )
    SigV4Auth(Credentials(door.access_key, door.secret_key), "ecr", REGION).add_auth(request)
    return dict(request.headers.items())


def ecr_call(door: Any, operation: str, params: Any = None, *, body: bytes | None = None) -> Any:
    """POST a signed ECR call; `body` overrides the JSON of `params`."""
    raw = body if body is not None else json.dumps(params).encode()
    return door.client.post("/", content=raw, headers=signed_headers(door, operation, raw))


def assert_ecr_answer(r: Any) -> None:
    """2xx, or a 4xx with ECR's envelope: a JSON object with `__type` (and a message)."""
    assert r.status_code < 500, f"{r.status_code} {r.text[:500]}"
    if r.status_code >= 400:
        doc = r.json()
        assert isinstance(doc, dict) and isinstance(doc.get("__type"), str), r.text[:500]


def assert_oci_answer(r: Any, allowed: tuple[int, ...] = ()) -> None:
    """2xx/3xx or an allowed status, or a 4xx with the OCI envelope {"errors": [{code, message}]}."""
    assert r.status_code < 500, f"{r.status_code} {r.text[:500]}"
    if r.status_code >= 400 and r.status_code not in allowed and r.request.method != "HEAD":
        is_json = r.headers.get("content-type", "").startswith("application/json")
        if r.status_code in (404, 405) and not is_json:
            return  # no such route: the router's plain answer, as for any unknown path
        doc = r.json()
        errors = doc.get("errors")
        assert isinstance(errors, list) and errors, r.text[:500]
        assert all(isinstance(e.get("code"), str) and "message" in e for e in errors), r.text[:500]
