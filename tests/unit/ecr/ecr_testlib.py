"""Helpers shared by the ECR unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

ACCESS_KEY = "AKIDEXAMPLE0000000001"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://ecr.dockyard.test"
REGION = "us-east-1"


class _Raw:
    """Just enough of urllib3's response for botocore's AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def make_response(url: str, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    """A botocore response object built from an in-process reply."""
    return AWSResponse(url, status, headers, _Raw(body))
