"""ECR API clients for the tests: boto3 and the aws CLI against a running Dockyard, and the
helpers that read ECR errors.

Every boto3 response is checked against botocore's output shape of its operation (unless the
client is built with ``checked=False``), so a test that calls an action also checks the
response's types, lengths and required members.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

_MODEL = botocore.session.get_session().get_service_model("ecr")


def check_output_shape(operation: str, response: dict[str, Any]) -> None:
    """Types, patterns and required members as botocore's model says.

    A list's minimum length is an input constraint: ECR itself answers `imageIds: []`.
    """
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, _MODEL.operation_model(operation).output_shape)
    errors = [e for e in report._errors if not (e[0] == "invalid length" and e[2].get("param") == 0)]
    assert not errors, f"{operation} response does not match botocore's shape:\n{errors}"


def ecr_client(
    registry: Any,
    region: str | None = None,  # default: the server's
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    *,
    checked: bool = True,
) -> BaseClient:
    """A boto3 ECR client for ``registry``.

    ``checked=False`` turns botocore's checks off on both sides: invalid input reaches the
    server's own checks, and answers such as ECR's `imageIds: []` (which the model's minimum
    lengths reject) are not checked against the output shape.
    """
    client = boto3.client(
        "ecr",
        endpoint_url=registry.url,
        region_name=region or getattr(registry, "region", "us-east-1"),
        aws_access_key_id=access_key_id or registry.access_key_id,
        aws_secret_access_key=secret_access_key or registry.secret_access_key,
        config=Config(parameter_validation=checked, retries={"max_attempts": 1, "mode": "standard"}),
        verify=getattr(registry, "verify", True),
    )
    if not checked:
        return client

    def validate(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if http_response.status_code == 200:
            check_output_shape(model.name, parsed)

    client.meta.events.register("after-call.ecr", validate)
    return client


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    """The ECR error code of a refused call (e.g. ``RepositoryNotFoundException``)."""
    return str(excinfo.value.response["Error"]["Code"])


def error_message(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Message"])


def expect_error(code: str, call: Callable[..., Any], message: str | None = None, **kwargs: Any) -> str:
    """Call ``call(**kwargs)``, which must fail with ``code`` (and ``message``); the message."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error["Message"] == message, error
    return str(error["Message"])


def aws_cli(
    registry: Any, *args: str, region: str | None = None, check: bool = True, raw: bool = False
) -> Any:
    """Run the aws CLI (the PyPI `awscli` beside this Python) against the server; JSON out."""
    aws = Path(sys.executable).with_name("aws")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": registry.access_key_id,
        "AWS_SECRET_ACCESS_KEY": registry.secret_access_key,
        "AWS_DEFAULT_REGION": region or getattr(registry, "region", "us-east-1"),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    }
    ca = getattr(registry, "ca_file", None)
    ca_bundle = ["--ca-bundle", str(ca)] if ca else []  # a TLS server's CA (dockyard tls init)
    proc = subprocess.run(
        [str(aws), "ecr", *args, "--endpoint-url", registry.url, "--output", "json", *ca_bundle],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if check:
        assert proc.returncode == 0, f"aws ecr {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    if not check:
        return proc
    if raw:
        return proc.stdout
    return json.loads(proc.stdout) if proc.stdout.strip() else {}
