"""The POST / endpoint, driven over ASGI directly and by a real boto3 ECR client."""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError
from ecr_testlib import ACCESS_KEY, SECRET_KEY, make_response
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.routing import Route

from dockyard.ecr import dispatch, pagination
from dockyard.ecr.errors import EcrError, missing_authentication_token, repository_not_found
from dockyard.ecr.sigv4 import Credential, VerifiedIdentity, verify_asgi_request

with warnings.catch_warnings():
    # Starlette 1.x nudges towards httpx2, which is not a project dependency.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

TARGET = "AmazonEC2ContainerRegistry_V20150921."
JSON = "application/x-amz-json-1.1"
CREATED = dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)
TOKEN_KEY = b"t" * 32
TAGS = [f"v{i:02d}" for i in range(25)]


async def create_repository(caller: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params["repositoryName"]
    if name == "exists":
        raise EcrError(
            "RepositoryAlreadyExistsException",
            f"The repository with name '{name}' already exists in the registry with id '123456789012'",
        )
    return {
        "repository": {
            "repositoryName": name,
            "repositoryArn": f"arn:aws:ecr:us-east-1:123456789012:repository/{name}",
            "registryId": "123456789012",
            "createdAt": CREATED,
            "imageTagMutability": params.get("imageTagMutability", "MUTABLE"),
            "imageScanningConfiguration": {"scanOnPush": False},
            "encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": None},
            "owner": str(caller),  # not in the model: must not reach the client
        }
    }


async def describe_repositories(caller: Any, params: dict[str, Any]) -> dict[str, Any]:
    if "missing" in params.get("repositoryNames", []):
        raise repository_not_found("missing", "123456789012")
    return {"repositories": [], "nextToken": None}


async def list_images(caller: Any, params: dict[str, Any]) -> dict[str, Any]:
    start = 0
    if "nextToken" in params:
        start = pagination.decode_token(params["nextToken"], TOKEN_KEY, "ListImages")["offset"]
    size = params.get("maxResults", 10)
    page = TAGS[start : start + size]
    more = start + size < len(TAGS)
    ids = [{"imageTag": tag, "imageDigest": f"sha256:{i:064x}"} for i, tag in enumerate(page, start)]
    token = pagination.encode_token({"offset": start + size}, TOKEN_KEY, "ListImages") if more else None
    return {"imageIds": ids, "nextToken": token}


async def put_image(caller: Any, params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("database exploded: secret connection string")


async def get_auth_token(caller: Any, params: dict[str, Any]) -> dict[str, Any]:
    from dockyard.ecr.dispatch import current_request, current_request_id

    request = current_request()
    return {
        "authorizationData": [
            {
                "authorizationToken": "QVdTOnBhc3N3b3Jk",
                "expiresAt": CREATED + dt.timedelta(hours=12),
                "proxyEndpoint": f"https://{request.headers['host']}#{current_request_id()}",
            }
        ]
    }


HANDLERS = {
    "CreateRepository": create_repository,
    "DescribeRepositories": describe_repositories,
    "ListImages": list_images,
    "PutImage": put_image,
    "GetAuthorizationToken": get_auth_token,
}


async def header_auth(request: Request, body: bytes) -> str:
    """Test double for the identity layer: caller named by a header."""
    caller = request.headers.get("x-test-caller")
    if not caller:
        raise missing_authentication_token()
    return caller


def build_app(
    authenticate: Callable[[Request, bytes], Any] = header_auth,
    handlers: Mapping[str, Any] = HANDLERS,
    **kwargs: Any,
) -> Starlette:
    endpoint = dispatch.make_endpoint(handlers, authenticate, **kwargs)
    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(build_app(), raise_server_exceptions=True) as test_client:
        yield test_client


def call(
    client: TestClient,
    action: str | None,
    body: bytes | dict[str, Any] = b"{}",
    *,
    content_type: str = JSON,
    caller: str | None = "alice",
    target: str | None = None,
) -> Any:
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    elif action is not None:
        headers["X-Amz-Target"] = TARGET + action
    if caller is not None:
        headers["X-Test-Caller"] = caller
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return client.post("/", content=content, headers=headers)


def assert_error(response: Any, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    assert response.headers["x-amzn-requestid"]
    document: dict[str, Any] = response.json()
    assert document["__type"] == code
    if message is not None:
        assert document["message"] == message
    return document


# ---------------------------------------------------------------------------- over ASGI


def test_success_serialises_through_the_model(client: TestClient) -> None:
    response = call(client, "CreateRepository", {"repositoryName": "app"})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert len(response.headers["x-amzn-requestid"]) == 36
    repository = response.json()["repository"]
    assert repository["createdAt"] == CREATED.timestamp()
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert "owner" not in repository


def test_request_ids_are_unique(client: TestClient) -> None:
    ids = {call(client, "DescribeRepositories").headers["x-amzn-requestid"] for _ in range(3)}
    assert len(ids) == 3


def test_empty_top_level_list_is_kept(client: TestClient) -> None:
    assert call(client, "DescribeRepositories").json() == {"repositories": []}


def test_empty_body_means_no_parameters(client: TestClient) -> None:
    assert call(client, "DescribeRepositories", b"").json() == {"repositories": []}


@pytest.mark.parametrize(
    "target",
    [
        "AmazonEC2ContainerRegistry_V20150921.CreateBucket",
        "DynamoDB_20120810.CreateRepository",
        "AmazonEC2ContainerRegistry_V20150921",
        "CreateRepository",
    ],
)
def test_bad_target(client: TestClient, target: str) -> None:
    assert_error(call(client, None, target=target), 400, "UnknownOperationException")


def test_missing_target(client: TestClient) -> None:
    assert_error(call(client, None), 400, "UnknownOperationException", "Missing X-Amz-Target header")


def test_content_types(client: TestClient) -> None:
    assert call(client, "DescribeRepositories", content_type="application/json").status_code == 200
    assert call(client, "DescribeRepositories", content_type=JSON + "; charset=utf-8").status_code == 200
    refused = call(client, "DescribeRepositories", content_type="text/plain")
    assert_error(refused, 400, "SerializationException")


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b'{"maxResults": NaN}', b"\xff\xfe"])
def test_malformed_json(client: TestClient, body: bytes) -> None:
    assert_error(call(client, "DescribeRepositories", body), 400, "SerializationException")


def test_body_limit() -> None:
    with TestClient(build_app(max_body=1024)) as small:
        ok = call(small, "DescribeRepositories", {"repositoryNames": ["a" * 10]})
        assert ok.status_code == 200
        big = call(small, "DescribeRepositories", {"repositoryNames": ["a" * 2000]})
        assert_error(big, 413, "SerializationException")


def test_authentication_failure_is_returned(client: TestClient) -> None:
    response = call(client, "DescribeRepositories", caller=None)
    assert_error(response, 400, "MissingAuthenticationTokenException", "Missing Authentication Token")


def test_authenticate_runs_after_target_check_and_gets_body() -> None:
    seen: list[bytes] = []

    async def recording_auth(request: Request, body: bytes) -> str:
        seen.append(body)
        return "bob"

    with TestClient(build_app(recording_auth)) as test_client:
        call(test_client, None, target="Nope.Nope")
        assert seen == []
        call(test_client, "DescribeRepositories", b'{"repositoryNames":["x1"]}')
        assert seen == [b'{"repositoryNames":["x1"]}']


def test_authentication_precedes_body_parsing(client: TestClient) -> None:
    response = call(client, "DescribeRepositories", b"{bad", caller=None)
    assert_error(response, 400, "MissingAuthenticationTokenException")


def test_validation_error(client: TestClient) -> None:
    response = call(client, "CreateRepository", {"repositoryName": "Bad_Name"})
    document = assert_error(response, 400, "InvalidParameterException")
    assert document["message"].startswith(
        "Invalid parameter at 'repositoryName' failed to satisfy constraint:"
    )


def test_handler_error_passes_through(client: TestClient) -> None:
    response = call(client, "DescribeRepositories", {"repositoryNames": ["missing"]})
    assert_error(
        response,
        400,
        "RepositoryNotFoundException",
        "The repository with name 'missing' does not exist in the registry with id '123456789012'",
    )
    assert response.headers["x-amzn-errortype"] == "RepositoryNotFoundException"


def test_operation_without_handler(client: TestClient) -> None:
    response = call(client, "DescribeRegistry")
    assert_error(
        response,
        400,
        "UnknownOperationException",
        "The operation DescribeRegistry is not implemented in Dockyard yet.",
    )


def test_crash_is_a_generic_500_and_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="dockyard.ecr"):
        response = call(client, "PutImage", {"repositoryName": "app", "imageManifest": "{}"})
    document = assert_error(response, 500, "ServerException")
    assert "secret" not in document["message"]
    assert any("database exploded" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


def test_non_ecr_error_from_authenticate_is_500() -> None:
    async def broken_auth(request: Request, body: bytes) -> str:
        raise KeyError("boom")

    with TestClient(build_app(broken_auth)) as test_client:
        assert_error(call(test_client, "DescribeRepositories"), 500, "ServerException")


def test_unknown_handler_names_refused() -> None:
    with pytest.raises(ValueError, match="CreateBucket"):
        dispatch.make_endpoint({"CreateBucket": create_repository}, header_auth)


def test_request_context_visible_to_handlers(client: TestClient) -> None:
    response = call(client, "GetAuthorizationToken")
    endpoint = response.json()["authorizationData"][0]["proxyEndpoint"]
    assert endpoint == f"https://testserver#{response.headers['x-amzn-requestid']}"


# ------------------------------------------------------------------- a real boto3 client


def sigv4_app() -> Starlette:
    secrets = {ACCESS_KEY: Credential(ACCESS_KEY, SECRET_KEY)}

    async def authenticate(request: Request, body: bytes) -> VerifiedIdentity:
        return await verify_asgi_request(request, body, secrets.get)

    return build_app(authenticate)


@pytest.fixture
def boto3_ecr(ecr_client: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Factory for boto3 ECR clients whose HTTP goes into the ASGI app in-process."""
    with TestClient(sigv4_app()) as test_client:

        def send(request: AWSPreparedRequest) -> AWSResponse:
            headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            response = test_client.post(request.url, content=body, headers=headers)
            return make_response(request.url, response.status_code, dict(response.headers), response.content)

        def build(**kwargs: Any) -> Any:
            return ecr_client(send, **kwargs)

        yield build


def test_boto3_round_trip(boto3_ecr: Callable[..., Any]) -> None:
    ecr = boto3_ecr()
    repository = ecr.create_repository(repositoryName="team/app")["repository"]
    assert repository["repositoryName"] == "team/app"
    assert repository["createdAt"] == CREATED
    assert ecr.describe_repositories()["repositories"] == []


def test_boto3_sees_aws_errors(boto3_ecr: Callable[..., Any]) -> None:
    ecr = boto3_ecr()
    with pytest.raises(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName="exists")
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException) as info:
        ecr.describe_repositories(repositoryNames=["missing"])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ecr.exceptions.InvalidParameterException) as invalid:
        ecr.create_repository(repositoryName="UPPER")
    assert "repositoryName" in invalid.value.response["Error"]["Message"]


def test_boto3_paginator_follows_sealed_tokens(boto3_ecr: Callable[..., Any]) -> None:
    ecr = boto3_ecr()
    paginator = ecr.get_paginator("list_images")
    pages = list(paginator.paginate(repositoryName="app", PaginationConfig={"PageSize": 10}))
    assert [len(page["imageIds"]) for page in pages] == [10, 10, 5]
    assert [image["imageTag"] for page in pages for image in page["imageIds"]] == TAGS


def test_boto3_tampered_token(boto3_ecr: Callable[..., Any]) -> None:
    ecr = boto3_ecr()
    token = ecr.list_images(repositoryName="app")["nextToken"]
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.list_images(repositoryName="app", nextToken=token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))


def test_boto3_wrong_secret_and_unknown_key(boto3_ecr: Callable[..., Any]) -> None:
    with pytest.raises(ClientError) as info:
        boto3_ecr(secret_key="wrong").describe_repositories()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as info:
        boto3_ecr(access_key="AKIDNOBODY").describe_repositories()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_boto3_not_implemented(boto3_ecr: Callable[..., Any]) -> None:
    with pytest.raises(ClientError) as info:
        boto3_ecr().describe_registry()
    error = info.value.response["Error"]
    assert error["Code"] == "UnknownOperationException"
    assert "DescribeRegistry" in str(info.value)


def test_boto3_server_error(boto3_ecr: Callable[..., Any]) -> None:
    ecr = boto3_ecr()
    with pytest.raises(ecr.exceptions.ServerException) as info:
        ecr.put_image(repositoryName="app", imageManifest="{}")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.parametrize("depth", [500, 5000, 100_000])
def test_deeply_nested_body_is_a_serialization_error(client: TestClient, depth: int) -> None:
    """Issue 16, defect 3: nesting once exhausted the stack (a 500)."""
    body = b'{"repositoryNames": ' + b"[" * depth + b"]" * depth + b"}"
    assert_error(call(client, "DescribeRepositories", body), 400, "SerializationException")


def test_lone_surrogate_is_a_serialization_error(client: TestClient) -> None:
    """A name with an unpaired UTF-16 surrogate once failed to encode (a 500)."""
    body = b'{"repositoryName": "repo\\ud800"}'
    assert_error(call(client, "CreateRepository", body), 400, "SerializationException")
