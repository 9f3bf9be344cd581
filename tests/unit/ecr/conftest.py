"""Shared fixtures for the ECR front-door tests: real boto3 clients without a network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

from tests.unit.ecr.ecr_testlib import ACCESS_KEY, ENDPOINT, REGION, SECRET_KEY

Sender = Callable[[AWSPreparedRequest], AWSResponse]


@pytest.fixture
def ecr_client() -> Callable[..., Any]:
    """Factory: a real boto3 ECR client whose HTTP sends go to ``send`` instead of a socket."""

    def build(
        send: Sender,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        session_token: str | None = None,
        validate: bool = True,
    ) -> Any:
        client = boto3.client(
            "ecr",
            endpoint_url=ENDPOINT,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=Config(
                retries={"total_max_attempts": 1},
                parameter_validation=validate,
            ),
        )

        def hook(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            return send(request)

        client.meta.events.register("before-send.ecr", hook)
        return client

    return build
