"""Server-side verification of AWS Signature Version 4 (header and presigned-query forms).

The AWS CLI and SDKs authenticate every ECR API call with SigV4, so Dockyard must check
signatures exactly as AWS does. The key derivation, header canonicalisation and
string-to-sign come from botocore's own ``SigV4Auth`` (the very code that signed the
request on the client side), so both ends agree by construction; this module adds what
only a server does: parsing, scope/clock checks, and AWS's refusal messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import inspect
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from dockyard.ecr.errors import (
    EcrError,
    incomplete_signature,
    invalid_signature,
    missing_authentication_token,
    unrecognized_client,
)

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = dt.timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # one week, as AWS allows

_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)


@dataclass(frozen=True)
class Credential:
    """A secret the identity store holds for an access key id."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None  # set for temporary credentials; must then be presented


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who signed the request and for which scope; only returned when the signature holds."""

    access_key_id: str
    region: str
    service: str
    date: dt.datetime  # the signed request time (X-Amz-Date), UTC
    session_token: str | None = None
    presigned: bool = False


SyncSecretLookup = Callable[[str], Credential | None]
AsyncSecretLookup = Callable[[str], Awaitable[Credential | None]]
SecretLookup = SyncSecretLookup | AsyncSecretLookup


@dataclass(frozen=True)
class _Parsed:
    """The signature claims of a request, before we know the secret."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    when: dt.datetime
    session_token: str | None
    presigned: bool
    expires: int | None
    canonical_query: str


# ------------------------------------------------------------------------------ helpers


def _header_items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(lowercase name, value) pairs, keeping repeated headers (Starlette's multi_items)."""
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        items: Iterable[tuple[str, str]] = multi()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    return [(name.lower(), value) for name, value in items]


def _first(items: list[tuple[str, str]], name: str) -> str | None:
    for key, value in items:
        if key == name:
            return value
    return None


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs of a raw query string, in order."""
    pairs = []
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _canonical_query(pairs: list[tuple[str, str]], skip: str | None = None) -> str:
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs if k != skip)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_uri(path: str) -> str:
    """Same normalisation botocore applies when signing for non-S3 services.

    ``path`` is the raw (still percent-encoded) request path, so this double-encodes
    escapes exactly as the client did.
    """
    return str(quote(normalize_url_path(path), safe="/~"))


def _parse_amz_date(value: str) -> dt.datetime:
    if not _AMZ_DATE.fullmatch(value):
        raise incomplete_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )
    try:
        return dt.datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        raise incomplete_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def _fmt(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime(SIGV4_TIMESTAMP)


def _split_credential(credential: str, service: str, regions: Collection[str] | None) -> tuple[str, ...]:
    """Split ``AKID/YYYYMMDD/region/service/aws4_request`` and check the scope."""
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise incomplete_signature(
            "Credential must have the form "
            f"'<access key id>/<YYYYMMDD>/<region>/<service>/{TERMINATOR}'. Credential={credential}"
        )
    access_key_id, scope_date, region, scope_service, terminator = parts
    if terminator != TERMINATOR:
        raise invalid_signature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        )
    if scope_service != service:
        raise invalid_signature(f"Credential should be scoped to correct service: '{service}'. ")
    check_region(region, regions)
    return access_key_id, scope_date, region, scope_service


def check_region(region: str, regions: Collection[str] | None) -> None:
    """Refuse a credential scoped to a region this server does not serve, in AWS's words.

    A regional endpoint answers a request signed for another region with
    ``InvalidSignatureException``: "Credential should be scoped to a valid region, not
    'eu-west-1'. " (the text AWS's JSON services return; reported verbatim in public SDK issues,
    e.g. aws/aws-sdk-js#4545 and joona/aws-es-curl#15). The deployment's regions are `--region`
    plus `--served-region`.
    """
    if regions is not None and region not in regions:
        raise invalid_signature(f"Credential should be scoped to a valid region, not '{region}'. ")


def _parse_authorization(header: str) -> dict[str, str]:
    """``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` -> its fields."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ALGORITHM:
        if scheme.startswith("AWS4-"):
            raise incomplete_signature(f"Unsupported AWS 'algorithm': '{scheme}'")
        rest = ""
    fields: dict[str, str] = {}
    for chunk in rest.split(","):
        name, sep, value = chunk.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def _parse(
    method: str,
    query_string: str,
    items: list[tuple[str, str]],
    service: str,
    regions: Collection[str] | None,
) -> _Parsed:
    query = _query_pairs(query_string)
    query_map = {k: v for k, v in query}
    authorization = _first(items, "authorization")
    presigned = any(name in query_map for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"))
    if authorization is not None and presigned:
        raise incomplete_signature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified"
        )
    if authorization is None and not presigned:
        raise missing_authentication_token()

    expires: int | None = None
    if presigned:
        missing = [name for name in _PRESIGN_PARAMS if not query_map.get(name)]
        if missing:
            raise incomplete_signature(
                "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
                "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. "
                "Re-examine the query-string parameters."
            )
        if query_map["X-Amz-Algorithm"] != ALGORITHM:
            raise incomplete_signature(f"Unsupported AWS 'algorithm': '{query_map['X-Amz-Algorithm']}'")
        try:
            expires = int(query_map["X-Amz-Expires"])
        except ValueError:
            raise incomplete_signature("X-Amz-Expires should be a number") from None
        if expires < 0:
            raise incomplete_signature("X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGN_EXPIRES:
            raise incomplete_signature(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
            )
        credential = query_map["X-Amz-Credential"]
        signed_headers_text = query_map["X-Amz-SignedHeaders"]
        signature = query_map["X-Amz-Signature"]
        amz_date = query_map["X-Amz-Date"]
        session_token = query_map.get("X-Amz-Security-Token")
        canonical_query = _canonical_query(query, skip="X-Amz-Signature")
    else:
        assert authorization is not None
        fields = _parse_authorization(authorization)
        amz_date_header = _first(items, "x-amz-date")
        date_header = _first(items, "date")
        problems = [
            f"Authorization header requires '{name}' parameter. "
            for name in ("Credential", "Signature", "SignedHeaders")
            if not fields.get(name)
        ]
        if amz_date_header is None and date_header is None:
            problems.append(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            )
        if problems:
            raise incomplete_signature("".join(problems) + f"Authorization={authorization}")
        credential = fields["Credential"]
        signed_headers_text = fields["SignedHeaders"]
        signature = fields["Signature"]
        if amz_date_header is not None:
            amz_date = amz_date_header
        else:
            assert date_header is not None
            try:
                amz_date = _fmt(parsedate_to_datetime(date_header))
            except (TypeError, ValueError):
                raise incomplete_signature(
                    f"Date must be in ISO-8601 'basic format'. Got '{date_header}'. "
                    "See http://en.wikipedia.org/wiki/ISO_8601"
                ) from None
        session_token = _first(items, "x-amz-security-token")
        canonical_query = _canonical_query(query)

    when = _parse_amz_date(amz_date)
    access_key_id, scope_date, region, scope_service = _split_credential(credential, service, regions)
    if scope_date != amz_date[:8]:
        raise invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    signed_headers = tuple(h.strip().lower() for h in signed_headers_text.split(";") if h.strip())
    if "host" not in signed_headers and ":authority" not in signed_headers:
        raise invalid_signature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return _Parsed(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=scope_service,
        signed_headers=signed_headers,
        signature=signature,
        amz_date=amz_date,
        when=when,
        session_token=session_token,
        presigned=presigned,
        expires=expires,
        canonical_query=canonical_query,
    )


def _check_clock(parsed: _Parsed, now: dt.datetime, max_skew: dt.timedelta) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    if parsed.when > now + max_skew:
        raise invalid_signature(
            f"Signature not yet current: {parsed.amz_date} is still later than {_fmt(now + max_skew)} "
            f"({_fmt(now)} + {_minutes(max_skew)} min.)"
        )
    if parsed.presigned:
        assert parsed.expires is not None
        deadline = parsed.when + dt.timedelta(seconds=parsed.expires)
        if now > deadline:
            raise invalid_signature(
                f"Signature expired: {parsed.amz_date} is now earlier than "
                f"{_fmt(now - dt.timedelta(seconds=parsed.expires))} ({_fmt(now)} - {parsed.expires} sec.)"
            )
    elif parsed.when < now - max_skew:
        raise invalid_signature(
            f"Signature expired: {parsed.amz_date} is now earlier than {_fmt(now - max_skew)} "
            f"({_fmt(now)} - {_minutes(max_skew)} min.)"
        )


def _minutes(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _check_signature(
    parsed: _Parsed,
    credential: Credential,
    method: str,
    path: str,
    items: list[tuple[str, str]],
    body: bytes,
) -> None:
    # Temporary credentials are only valid together with their session token.
    presented = parsed.session_token
    expected = credential.session_token
    if (presented is None) != (expected is None) or (
        presented is not None
        and expected is not None
        and not hmac.compare_digest(presented.encode(), expected.encode())
    ):
        raise unrecognized_client()

    body_hash = hashlib.sha256(body).hexdigest()
    claimed = _first(items, "x-amz-content-sha256")
    if claimed is not None:
        if claimed == UNSIGNED_PAYLOAD:
            if not parsed.presigned:
                raise invalid_signature("UNSIGNED-PAYLOAD is not accepted for this service.")
        elif not hmac.compare_digest(claimed.lower().encode(), body_hash.encode()):
            raise invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        payload_hash = claimed
    else:
        payload_hash = body_hash

    to_sign = HTTPHeaders()
    for name in parsed.signed_headers:
        values = [value for key, value in items if key == name]
        for value in values or [""]:
            to_sign[name] = value

    signer = SigV4Auth(
        Credentials(credential.access_key_id, credential.secret_access_key, credential.session_token),
        parsed.service,
        parsed.region,
    )
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_uri(path),
            parsed.canonical_query,
            signer.canonical_headers(to_sign) + "\n",
            signer.signed_headers(to_sign),
            payload_hash,
        ]
    )
    context = SimpleNamespace(context={"timestamp": parsed.amz_date})
    string_to_sign = signer.string_to_sign(context, canonical_request)
    computed: str = signer.signature(string_to_sign, context)
    if not hmac.compare_digest(computed.encode(), parsed.signature.lower().encode()):
        raise invalid_signature()


# -------------------------------------------------------------------------------- API


def _prepare(
    method: str,
    query_string: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    now: dt.datetime | None,
    service: str,
    regions: Collection[str] | None,
    max_skew: dt.timedelta,
) -> tuple[_Parsed, list[tuple[str, str]]]:
    items = _header_items(headers)
    parsed = _parse(method, query_string, items, service, regions)
    _check_clock(parsed, now or dt.datetime.now(dt.UTC), max_skew)
    return parsed, items


def _identity(parsed: _Parsed) -> VerifiedIdentity:
    return VerifiedIdentity(
        access_key_id=parsed.access_key_id,
        region=parsed.region,
        service=parsed.service,
        date=parsed.when,
        session_token=parsed.session_token,
        presigned=parsed.presigned,
    )


async def verify(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    lookup_secret: SecretLookup,
    now: dt.datetime | None = None,
    *,
    service: str = "ecr",
    regions: Collection[str] | None = None,
    max_skew: dt.timedelta = MAX_SKEW,
) -> VerifiedIdentity:
    """Verify a SigV4-signed request; ``lookup_secret`` may be sync or async.

    ``path`` and ``query_string`` are raw, as on the wire (Starlette:
    ``request.scope["raw_path"]`` / ``request.scope["query_string"]`` decoded as latin-1).
    Raises EcrError with AWS's code and text on any refusal.
    """
    parsed, items = _prepare(method, query_string, headers, now, service, regions, max_skew)
    found: Any = lookup_secret(parsed.access_key_id)
    if inspect.isawaitable(found):
        found = await found
    return _finish(parsed, found, method, path, items, body)


def verify_sync(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    lookup_secret: SyncSecretLookup,
    now: dt.datetime | None = None,
    *,
    service: str = "ecr",
    regions: Collection[str] | None = None,
    max_skew: dt.timedelta = MAX_SKEW,
) -> VerifiedIdentity:
    """``verify`` for callers with a synchronous secret lookup."""
    parsed, items = _prepare(method, query_string, headers, now, service, regions, max_skew)
    return _finish(parsed, lookup_secret(parsed.access_key_id), method, path, items, body)


async def verify_asgi_request(
    request: Any,
    body: bytes,
    lookup_secret: SecretLookup,
    now: dt.datetime | None = None,
    *,
    service: str = "ecr",
    regions: Collection[str] | None = None,
    max_skew: dt.timedelta = MAX_SKEW,
) -> VerifiedIdentity:
    """``verify`` for a Starlette ``Request`` (anything with ``method``, ``scope``, ``headers``).

    Uses the raw path and query from the ASGI scope, since the signature covers the bytes
    on the wire, not Starlette's decoded view.
    """
    scope = request.scope
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(scope.get("path", "/"))
    query_string = scope.get("query_string", b"").decode("latin-1")
    return await verify(
        request.method,
        path,
        query_string,
        request.headers,
        body,
        lookup_secret,
        now,
        service=service,
        regions=regions,
        max_skew=max_skew,
    )


def _finish(
    parsed: _Parsed,
    credential: Credential | None,
    method: str,
    path: str,
    items: list[tuple[str, str]],
    body: bytes,
) -> VerifiedIdentity:
    if credential is None:
        raise unrecognized_client()
    if not isinstance(credential, Credential):
        raise TypeError("lookup_secret must return a sigv4.Credential or None")
    _check_signature(parsed, credential, method, path, items, body)
    return _identity(parsed)


__all__ = [
    "Credential",
    "EcrError",
    "SecretLookup",
    "VerifiedIdentity",
    "check_region",
    "verify",
    "verify_asgi_request",
    "verify_sync",
]
