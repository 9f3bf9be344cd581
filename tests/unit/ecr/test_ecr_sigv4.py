"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials

from dockyard.ecr.errors import INVALID_SIGNATURE_MESSAGE, EcrError
from dockyard.ecr.sigv4 import Credential, VerifiedIdentity, verify, verify_sync
from tests.unit.ecr.ecr_testlib import ACCESS_KEY, REGION, SECRET_KEY, make_response

URL = "https://api.ecr.us-east-1.amazonaws.com/"
SIGNED_AT = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
BODY = json.dumps({"repositoryName": "app"}).encode()
TARGET = "AmazonEC2ContainerRegistry_V20150921.CreateRepository"
TOKEN = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN"

KEYS = {ACCESS_KEY: Credential(ACCESS_KEY, SECRET_KEY)}


def lookup(access_key_id: str) -> Credential | None:
    return KEYS.get(access_key_id)


class Signed:
    """A request in the shape the verifier takes."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.method = method
        self.path = parts.path or "/"
        self.query = parts.query
        self.headers = headers
        self.body = body

    def verify(
        self, now: dt.datetime = SIGNED_AT, secrets: Callable[[str], Credential | None] = lookup
    ) -> VerifiedIdentity:
        return verify_sync(self.method, self.path, self.query, self.headers, self.body, secrets, now)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None))


def sign(
    *,
    url: str = URL,
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    token: str | None = None,
    service: str = "ecr",
    region: str = REGION,
) -> Signed:
    base = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET}
    request = AWSRequest(method="POST", url=url, data=body, headers={**base, **(headers or {})})
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    prepared = request.prepare()
    out = dict(prepared.headers.items())
    out.setdefault("Host", urlsplit(url).netloc)
    return Signed("POST", prepared.url, out, body)


def presign(*, expires: int = 300, url: str = URL + "?a=1&b=two%20words", token: str | None = None) -> Signed:
    request = AWSRequest(method="GET", url=url, headers={})
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY, token), "ecr", REGION, expires=expires).add_auth(
        request
    )
    prepared = request.prepare()
    return Signed("GET", prepared.url, {"Host": urlsplit(url).netloc}, b"")


def refused(signed: Signed, code: str, now: dt.datetime = SIGNED_AT, **kwargs: Any) -> EcrError:
    with pytest.raises(EcrError) as info:
        signed.verify(now, **kwargs)
    assert info.value.code == code, info.value
    assert info.value.status == 400
    return info.value


# ------------------------------------------------------------------------------- accepted


@pytest.mark.usefixtures("frozen_clock")
def test_valid_header_signature() -> None:
    identity = sign().verify()
    assert identity == VerifiedIdentity(ACCESS_KEY, REGION, "ecr", SIGNED_AT, None, False)


@pytest.mark.usefixtures("frozen_clock")
def test_valid_within_skew_window() -> None:
    signed = sign()
    signed.verify(SIGNED_AT + dt.timedelta(minutes=14, seconds=59))
    signed.verify(SIGNED_AT - dt.timedelta(minutes=14, seconds=59))


@pytest.mark.usefixtures("frozen_clock")
def test_header_names_are_case_insensitive() -> None:
    signed = sign()
    signed.headers = {k.upper(): v for k, v in signed.headers.items()}
    signed.verify()


@pytest.mark.usefixtures("frozen_clock")
def test_query_string_and_encoded_path() -> None:
    sign(url=URL + "v2/a%20b/c?z=1&a=x%2Fy&a=b").verify()


@pytest.mark.usefixtures("frozen_clock")
def test_async_lookup() -> None:
    async def secrets(access_key_id: str) -> Credential | None:
        return KEYS.get(access_key_id)

    signed = sign()
    identity = asyncio.run(
        verify(signed.method, signed.path, signed.query, signed.headers, signed.body, secrets, SIGNED_AT)
    )
    assert identity.access_key_id == ACCESS_KEY


@pytest.mark.usefixtures("frozen_clock")
def test_session_token() -> None:
    temporary = {ACCESS_KEY: Credential(ACCESS_KEY, SECRET_KEY, TOKEN)}
    signed = sign(token=TOKEN)
    assert signed.verify(secrets=temporary.get).session_token == TOKEN
    # the token must match the one issued with the key ...
    assert refused(sign(token=TOKEN + "x"), "UnrecognizedClientException", secrets=temporary.get).message == (
        "The security token included in the request is invalid."
    )
    # ... must be present for temporary keys, and absent for long-term keys.
    refused(sign(), "UnrecognizedClientException", secrets=temporary.get)
    refused(sign(token=TOKEN), "UnrecognizedClientException")


def test_boto3_client_request_verifies(ecr_client: Callable[..., Any]) -> None:
    captured: list[AWSPreparedRequest] = []

    def send(request: AWSPreparedRequest) -> Any:
        captured.append(request)
        return make_response(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, b"{}")

    client = ecr_client(send)
    client.describe_repositories(repositoryNames=["app"], maxResults=10)
    (request,) = captured
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    headers["Host"] = urlsplit(request.url).netloc
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    parts = urlsplit(request.url)
    identity = verify_sync("POST", parts.path or "/", parts.query, headers, body, lookup)
    assert identity.access_key_id == ACCESS_KEY
    assert identity.region == REGION
    assert headers["X-Amz-Target"] == "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"

    # and the same captured request fails once one body byte changes
    with pytest.raises(EcrError) as info:
        verify_sync("POST", parts.path or "/", parts.query, headers, body.replace(b"app", b"apq"), lookup)
    assert info.value.code == "InvalidSignatureException"


# ------------------------------------------------------------------------------- tampering


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: setattr(s, "body", s.body + b" "), id="body"),
        pytest.param(lambda s: setattr(s, "method", "PUT"), id="method"),
        pytest.param(lambda s: setattr(s, "path", "/other"), id="path"),
        pytest.param(lambda s: setattr(s, "query", "x=1"), id="query"),
        pytest.param(
            lambda s: s.headers.__setitem__("X-Amz-Target", TARGET.replace("Create", "Delete")),
            id="signed-header",
        ),
        pytest.param(lambda s: s.headers.__setitem__("Host", "evil.example"), id="host"),
        pytest.param(
            lambda s: s.headers.__setitem__(
                "Authorization",
                s.headers["Authorization"][:-1] + ("0" if s.headers["Authorization"][-1] != "0" else "1"),
            ),
            id="signature",
        ),
        pytest.param(
            lambda s: s.headers.__setitem__(
                "Authorization", s.headers["Authorization"].replace("SignedHeaders=", "SignedHeaders=x-foo;")
            ),
            id="signed-headers-list",
        ),
    ],
)
def test_tampering_is_refused(tamper: Callable[[Signed], None]) -> None:
    signed = sign()
    signed.verify()  # untouched, it verifies
    tamper(signed)
    assert refused(signed, "InvalidSignatureException").message == INVALID_SIGNATURE_MESSAGE


@pytest.mark.usefixtures("frozen_clock")
def test_wrong_secret() -> None:
    assert (
        refused(sign(secret="not-the-secret"), "InvalidSignatureException").message
        == INVALID_SIGNATURE_MESSAGE
    )


@pytest.mark.usefixtures("frozen_clock")
def test_unknown_key() -> None:
    error = refused(sign(key="AKIDUNKNOWN"), "UnrecognizedClientException")
    assert error.message == "The security token included in the request is invalid."


@pytest.mark.usefixtures("frozen_clock")
def test_unsigned_header_may_change() -> None:
    signed = sign()
    signed.headers["User-Agent"] = "something else"  # botocore never signs User-Agent
    signed.verify()


@pytest.mark.usefixtures("frozen_clock")
def test_wrong_service_scope() -> None:
    error = refused(sign(service="ecs"), "InvalidSignatureException")
    assert error.message == "Credential should be scoped to correct service: 'ecr'. "


@pytest.mark.usefixtures("frozen_clock")
def test_scope_date_must_match_request_date() -> None:
    signed = sign()
    signed.headers["Authorization"] = signed.headers["Authorization"].replace("/20260101/", "/20251231/")
    error = refused(signed, "InvalidSignatureException")
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20251231' != '20260101', from '20260101T120000Z'."
    )


@pytest.mark.usefixtures("frozen_clock")
def test_region_allow_list() -> None:
    signed = sign(region="eu-west-9")
    signed.verify()
    with pytest.raises(EcrError) as info:
        verify_sync(
            signed.method,
            signed.path,
            signed.query,
            signed.headers,
            signed.body,
            lookup,
            SIGNED_AT,
            regions={REGION},
        )
    assert info.value.message == "Credential should be scoped to a valid region, not 'eu-west-9'. "


@pytest.mark.usefixtures("frozen_clock")
def test_expired_and_not_yet_current() -> None:
    signed = sign()
    error = refused(signed, "InvalidSignatureException", now=SIGNED_AT + dt.timedelta(minutes=15, seconds=1))
    assert error.message == (
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120001Z "
        "(20260101T121501Z - 15 min.)"
    )
    error = refused(signed, "InvalidSignatureException", now=SIGNED_AT - dt.timedelta(minutes=16))
    assert error.message == (
        "Signature not yet current: 20260101T120000Z is still later than 20260101T115900Z "
        "(20260101T114400Z + 15 min.)"
    )


@pytest.mark.usefixtures("frozen_clock")
def test_content_sha256_header_must_match_body() -> None:
    signed = sign(headers={"X-Amz-Content-SHA256": "0" * 64})
    error = refused(signed, "InvalidSignatureException")
    assert "x-amz-content-sha256" in error.message


def test_missing_authorization() -> None:
    signed = Signed(
        "POST", URL, {"Host": "api.ecr.us-east-1.amazonaws.com", "X-Amz-Date": "20260101T120000Z"}, BODY
    )
    error = refused(signed, "MissingAuthenticationTokenException")
    assert error.message == "Missing Authentication Token"


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecr/aws4_request, Signature=abc",
            "'SignedHeaders'",
        ),
        ("Bearer abc", "Authorization header requires 'Credential' parameter."),
        ("AWS4-HMAC-SHA512 Credential=a", "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/ecr/aws4_request, SignedHeaders=host, Signature=abc",
            "Credential must have the form",
        ),
    ],
)
def test_malformed_authorization(authorization: str, fragment: str) -> None:
    headers = {"Host": "h", "X-Amz-Date": "20260101T120000Z", "Authorization": authorization}
    error = refused(Signed("POST", URL, headers, BODY), "IncompleteSignatureException")
    assert fragment in error.message


def test_missing_date() -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecr/aws4_request, "
        "SignedHeaders=host, Signature=ab"
    )
    error = refused(
        Signed("POST", URL, {"Host": "h", "Authorization": auth}, BODY), "IncompleteSignatureException"
    )
    assert error.message == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={auth}"
    )
    bad_date = {"Host": "h", "Authorization": auth, "X-Amz-Date": "2026-01-01T12:00:00Z"}
    error = refused(Signed("POST", URL, bad_date, BODY), "IncompleteSignatureException")
    assert error.message.startswith("Date must be in ISO-8601 'basic format'. Got '2026-01-01T12:00:00Z'.")


@pytest.mark.usefixtures("frozen_clock")
def test_host_must_be_signed() -> None:
    signed = sign()
    signed.headers["Authorization"] = signed.headers["Authorization"].replace("host;", "")
    assert "host" not in signed.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    error = refused(signed, "InvalidSignatureException")
    assert error.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


# ------------------------------------------------------------------------------ presigned


@pytest.mark.usefixtures("frozen_clock")
def test_presigned_valid_until_expiry() -> None:
    signed = presign(expires=300)
    assert "X-Amz-Signature=" in signed.query
    identity = signed.verify(SIGNED_AT + dt.timedelta(seconds=299))
    assert identity.presigned
    # presigned URLs outlive the 15-minute skew window when X-Amz-Expires says so
    presign(expires=3600).verify(SIGNED_AT + dt.timedelta(minutes=59))


@pytest.mark.usefixtures("frozen_clock")
def test_presigned_expired() -> None:
    error = refused(
        presign(expires=300), "InvalidSignatureException", now=SIGNED_AT + dt.timedelta(seconds=301)
    )
    assert error.message.startswith("Signature expired: 20260101T120000Z is now earlier than")


@pytest.mark.usefixtures("frozen_clock")
def test_presigned_tampered() -> None:
    signed = presign()
    signed.query = signed.query.replace("b=two%20words", "b=three%20words")
    refused(signed, "InvalidSignatureException")
    signed = presign()
    signed.query = signed.query.replace("X-Amz-Expires=300", "X-Amz-Expires=600")
    refused(signed, "InvalidSignatureException")


@pytest.mark.usefixtures("frozen_clock")
def test_presigned_with_session_token() -> None:
    temporary = {ACCESS_KEY: Credential(ACCESS_KEY, SECRET_KEY, TOKEN)}
    assert presign(token=TOKEN).verify(secrets=temporary.get).session_token == TOKEN


@pytest.mark.usefixtures("frozen_clock")
def test_presigned_incomplete_and_too_long() -> None:
    signed = presign()
    signed.query = "&".join(p for p in signed.query.split("&") if not p.startswith("X-Amz-Date="))
    assert "must include" in refused(signed, "IncompleteSignatureException").message
    signed = presign()
    signed.query = signed.query.replace("X-Amz-Expires=300", "X-Amz-Expires=604801")
    assert "less than a week" in refused(signed, "IncompleteSignatureException").message


@pytest.mark.usefixtures("frozen_clock")
def test_header_and_query_auth_together_refused() -> None:
    signed = presign()
    signed.headers["Authorization"] = sign().headers["Authorization"]
    refused(signed, "IncompleteSignatureException")
