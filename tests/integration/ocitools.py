"""Helpers for the OCI Distribution Spec (v1.1) integration tests (``test_oci_*.py``), and the
/v2/ pushes every other integration test uses (``push_blob``, ``push_image``, ``try_push_image``).

The tests talk to the shared ``registry`` session server from ``tests/integration/conftest.py``
(``.url``, ``.create_repo(name)``, ``.username``/``.password``) through its ``oci`` fixture.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

# --------------------------------------------------------------------------------------------------
# Media types and well-known values
# --------------------------------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCTET = "application/octet-stream"

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
EMPTY_DESCRIPTOR = {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2}

ALL_MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
ACCEPT_ALL_MANIFESTS = ", ".join(ALL_MANIFEST_TYPES)

# The error code table of the spec ("Error Codes", code-1 .. code-14).
SPEC_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)
# Legacy Docker codes the spec says clients may encounter ("Legacy Docker support error codes").
LEGACY_ERROR_CODES = frozenset({"TAG_INVALID", "MANIFEST_UNVERIFIED"})

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
RANGE_RE = re.compile(r"^0-(\d+)$")


# --------------------------------------------------------------------------------------------------
# Digests and JSON
# --------------------------------------------------------------------------------------------------


def digest(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def jbytes(obj: Any, *, pretty: bool = False) -> bytes:
    """Serialise a manifest.  ``pretty`` produces non-canonical bytes to check byte-exact storage."""
    if pretty:
        return (json.dumps(obj, indent=3) + "\n").encode()
    return json.dumps(obj, separators=(",", ":")).encode()


def unique(prefix: str = "oci") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def rand_bytes(n: int) -> bytes:
    return os.urandom(n)


# --------------------------------------------------------------------------------------------------
# Assertion helpers producing self-explanatory failures
# --------------------------------------------------------------------------------------------------


def describe(resp: Any, limit: int = 1500) -> str:
    """A one-stop description of a request/response pair for assertion messages."""
    if isinstance(resp, RawResponse):
        return resp.describe(limit)
    req = resp.request
    body = resp.content
    try:
        text = body[:limit].decode("utf-8", "replace")
    except Exception:  # pragma: no cover
        text = repr(body[:limit])
    if len(body) > limit:
        text += f"... ({len(body)} bytes)"
    hdrs = "; ".join(f"{k}: {v}" for k, v in resp.headers.multi_items())
    req_hdrs = "; ".join(
        f"{k}: {v}"
        for k, v in req.headers.multi_items()
        if k.lower() in ("content-type", "content-range", "content-length", "range", "accept")
    )
    return (
        f"\n  request: {req.method} {req.url} [{req_hdrs}]"
        f"\n  response: {resp.status_code} [{hdrs}]\n  body: {text}"
    )


def error_codes(resp: Any) -> list[str]:
    try:
        data = json.loads(resp.content)
    except ValueError:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return []
    return [e.get("code") for e in data["errors"] if isinstance(e, dict)]


def errors_of(resp: Any) -> list[dict[str, Any]]:
    data = json.loads(resp.content)
    return data["errors"]


def expect(resp: Any, status: int | tuple[int, ...], what: str = "") -> Any:
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status_code in statuses, (
        f"{what}: expected HTTP {' or '.join(map(str, statuses))}" + describe(resp)
    )
    return resp


def expect_error(
    resp: Any, status: int | tuple[int, ...], codes: str | tuple[str, ...], what: str = ""
) -> Any:
    """Assert the status and that the body is the spec error envelope carrying one of ``codes``."""
    expect(resp, status, what)
    codes = (codes,) if isinstance(codes, str) else codes
    assert_envelope(resp, what)
    got = error_codes(resp)
    assert any(c in codes for c in got), (
        f"{what}: expected error code {' or '.join(codes)}, got {got}" + describe(resp)
    )
    return resp


def assert_envelope(resp: Any, what: str = "") -> None:
    """Body must be {"errors":[{"code":..., "message":..., "detail":...}]} with spec codes."""
    try:
        data = json.loads(resp.content)
    except ValueError:
        raise AssertionError(f"{what}: error body is not JSON" + describe(resp)) from None
    assert isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"], (
        f"{what}: error body is not the spec envelope" + describe(resp)
    )
    for err in data["errors"]:
        assert isinstance(err, dict), f"{what}: error entry is not an object" + describe(resp)
        code = err.get("code")
        assert isinstance(code, str) and re.fullmatch(r"[A-Z_]+", code), (
            f"{what}: error code must be uppercase letters/underscores" + describe(resp)
        )
        assert code in SPEC_ERROR_CODES | LEGACY_ERROR_CODES, (
            f"{what}: code {code!r} not in spec table" + describe(resp)
        )
        if "message" in err:
            assert isinstance(err["message"], str), f"{what}: message must be a string" + describe(resp)


def expect_no_5xx(resp: Any, what: str = "") -> Any:
    assert resp.status_code < 500, f"{what}: server error" + describe(resp)
    return resp


def parse_link_next(link: str | None) -> str | None:
    """Return the target of an RFC 5988 Link header with rel="next" (or None)."""
    if not link:
        return None
    for part in link.split(","):
        m = re.match(r"\s*<([^>]*)>\s*;(.*)$", part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None


def split_url(target: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(target)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


# --------------------------------------------------------------------------------------------------
# Raw HTTP (no client-side path normalisation, arbitrary headers / Content-Length)
# --------------------------------------------------------------------------------------------------


@dataclass
class RawResponse:
    method: str
    target: str
    req_headers: dict[str, str]
    status_code: int
    headers: http.client.HTTPMessage
    content: bytes

    def describe(self, limit: int = 1500) -> str:
        text = self.content[:limit].decode("utf-8", "replace")
        hdrs = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        req = {
            k: ("<redacted>" if k.lower() == "authorization" else v[:200])
            for k, v in self.req_headers.items()
        }
        return (
            f"\n  request: {self.method} {self.target[:300]!r} {req}"
            f"\n  response: {self.status_code} [{hdrs}]\n  body: {text}"
        )


# --------------------------------------------------------------------------------------------------
# Descriptors and manifests
# --------------------------------------------------------------------------------------------------


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"mediaType": media_type, "digest": digest(data), "size": len(data)}
    d.update(extra)
    return d


@dataclass
class Image:
    """An image/artifact manifest plus the blobs it references."""

    manifest: dict[str, Any]
    blobs: list[bytes] = field(default_factory=list)
    pretty: bool = True

    @property
    def body(self) -> bytes:
        return jbytes(self.manifest, pretty=self.pretty)

    @property
    def digest(self) -> str:
        return digest(self.body)

    @property
    def media_type(self) -> str:
        return self.manifest["mediaType"]

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest.get("layers", [])]

    def desc(self, **extra: Any) -> dict[str, Any]:
        return descriptor(self.media_type, self.body, **extra)


def make_image(
    *,
    layers: int = 2,
    layer_size: int = 256,
    docker: bool = False,
    artifact_type: str | None = None,
    config: bytes | None = None,
    config_media_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    pretty: bool = True,
) -> Image:
    if config is None:
        config = jbytes(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {"Labels": {"nonce": uuid.uuid4().hex}},
            }
        )
    layer_blobs = [rand_bytes(layer_size) for _ in range(layers)]
    cfg_mt = config_media_type or (DOCKER_CONFIG if docker else OCI_CONFIG)
    layer_mt = DOCKER_LAYER if docker else OCI_LAYER
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
    }
    if artifact_type:
        manifest["artifactType"] = artifact_type
    manifest["config"] = descriptor(cfg_mt, config)
    manifest["layers"] = [descriptor(layer_mt, b) for b in layer_blobs]
    if subject is not None:
        manifest["subject"] = subject
    if annotations:
        manifest["annotations"] = annotations
    return Image(manifest, [config, *layer_blobs], pretty=pretty)


def seeded_image(seed: str) -> Image:
    """A one-layer OCI image whose bytes depend only on ``seed``: the same seed, the same digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer for {seed}".encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER_TAR, layer)],
    }
    return Image(manifest, [config, layer], pretty=False)


def make_index(
    children: list[Image],
    *,
    docker: bool = False,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    platforms = [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "s390x", "os": "linux"},
    ]
    manifests = []
    for i, child in enumerate(children):
        manifests.append(child.desc(platform=platforms[i % len(platforms)]))
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": DOCKER_LIST if docker else OCI_INDEX}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    manifest["manifests"] = manifests
    if subject is not None:
        manifest["subject"] = subject
    if annotations:
        manifest["annotations"] = annotations
    return Image(manifest, [])


# --------------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------------


class Oci:
    """Thin OCI distribution client on top of httpx, bound to one registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.url = str(registry.url).rstrip("/")
        user = getattr(registry, "username", None)
        password = getattr(registry, "password", None)
        self.auth = (user, password) if user is not None else None
        self.client = self.new_client()

    # -- plumbing --------------------------------------------------------------------------------

    def new_client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            auth=self.auth,
            timeout=httpx.Timeout(120.0, connect=10.0),
            follow_redirects=True,
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Oci:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.client.request(method, self.abs(url), **kw)

    def abs(self, url: str) -> str:
        """Resolve a (possibly relative) Location against the registry URL."""
        return urljoin(self.url + "/", url)

    def new_repo(self, prefix: str = "oci") -> str:
        name = unique(prefix)
        self.registry.create_repo(name)
        return name

    def raw(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> RawResponse:
        """Send a request with http.client: the target is sent verbatim (no dot-segment removal)
        and Content-Length can disagree with Content-Range."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        hdrs = dict(headers or {})
        if self.auth is not None:
            import base64

            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            hdrs.setdefault("Authorization", f"Basic {token}")
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for k, v in hdrs.items():
                conn.putheader(k, v)
            if body is not None and not any(k.lower() == "content-length" for k in hdrs):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            content = b"" if method == "HEAD" else resp.read()
            return RawResponse(method, target, hdrs, resp.status, resp.headers, content)
        finally:
            conn.close()

    # -- blobs -----------------------------------------------------------------------------------

    def start_upload(self, repo: str, **params: str) -> httpx.Response:
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", params=params, headers={"Content-Length": "0"})
        expect(r, 202, "start upload")
        assert r.headers.get("Location"), "upload POST must return Location" + describe(r)
        return r

    def upload_location(self, repo: str, **params: str) -> str:
        return self.start_upload(repo, **params).headers["Location"]

    def push_blob(self, repo: str, data: bytes, algo: str = "sha256") -> str:
        """Push a blob (single POST, falling back to POST+PUT); returns its digest."""
        dig = digest(data, algo)
        expect(self.try_push_blob(repo, data, algo), 201, f"push blob {dig} to {repo}")
        return dig

    def try_push_blob(self, repo: str, data: bytes, algo: str = "sha256") -> httpx.Response:
        """Push a blob (single POST, falling back to POST+PUT); the last response, refused or not."""
        dig = digest(data, algo)
        r = self.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": dig},
            content=data,
            headers={"Content-Type": OCTET},
        )
        if r.status_code == 202:
            loc = r.headers["Location"]
            r = self.request(
                "PUT", loc, params={"digest": dig}, content=data, headers={"Content-Type": OCTET}
            )
        return r

    def put_upload(self, location: str, dig: str, data: bytes = b"", **headers: str) -> httpx.Response:
        hdrs = {"Content-Type": OCTET, **headers}
        return self.request("PUT", location, params={"digest": dig}, content=data, headers=hdrs)

    def patch_chunk(self, location: str, data: bytes, start: int | None) -> httpx.Response:
        hdrs = {"Content-Type": OCTET}
        if start is not None:
            hdrs["Content-Range"] = f"{start}-{start + len(data) - 1}"
        return self.request("PATCH", location, content=data, headers=hdrs)

    def get_blob(self, repo: str, dig: str, **headers: str) -> httpx.Response:
        return self.request("GET", f"/v2/{repo}/blobs/{dig}", headers=headers)

    def head_blob(self, repo: str, dig: str) -> httpx.Response:
        return self.request("HEAD", f"/v2/{repo}/blobs/{dig}")

    def assert_blob(self, repo: str, data: bytes, dig: str | None = None) -> None:
        dig = dig or digest(data)
        r = expect(self.get_blob(repo, dig), 200, f"pull blob {dig}")
        assert r.content == data, f"blob {dig} content differs (got {len(r.content)} bytes)"
        assert r.headers.get("Docker-Content-Digest") == dig, "Docker-Content-Digest" + describe(r)

    # -- manifests -------------------------------------------------------------------------------

    def put_manifest(
        self, repo: str, ref: str, body: bytes, media_type: str | None, params: Any = None
    ) -> httpx.Response:
        headers = {"Content-Type": media_type} if media_type else {}
        return self.request(
            "PUT", f"/v2/{repo}/manifests/{ref}", content=body, headers=headers, params=params
        )

    def get_manifest(self, repo: str, ref: str, accept: str = ACCEPT_ALL_MANIFESTS) -> httpx.Response:
        return self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})

    def head_manifest(self, repo: str, ref: str, accept: str = ACCEPT_ALL_MANIFESTS) -> httpx.Response:
        return self.request("HEAD", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})

    def push_image(self, repo: str, image: Image, ref: str | None = None) -> httpx.Response:
        """Push the blobs of ``image`` and then its manifest (by ``ref`` or by digest)."""
        for b in image.blobs:
            self.push_blob(repo, b)
        r = self.put_manifest(repo, ref or image.digest, image.body, image.media_type)
        expect(r, 201, f"push manifest {ref or image.digest} to {repo}")
        return r

    def try_push_image(self, repo: str, image: Image, ref: str | None = None) -> httpx.Response:
        """Push ``image`` as far as the server lets it: the first refused blob push's response,
        else the manifest PUT's (for tests that expect a refusal)."""
        for b in image.blobs:
            r = self.try_push_blob(repo, b)
            if r.status_code != 201:
                return r
        return self.put_manifest(repo, ref or image.digest, image.body, image.media_type)


# --------------------------------------------------------------------------------------------------
# Pushes for tests that hold a server (``registry``) rather than an ``Oci`` client
# --------------------------------------------------------------------------------------------------


def push_blob(registry: Any, repo: str, data: bytes) -> str:
    """Push one blob over /v2/; its digest."""
    with Oci(registry) as oci:
        return oci.push_blob(repo, data)


def push_image(registry: Any, repo: str, ref: str | None = None, image: Image | None = None) -> Image:
    """Push ``image`` (by default a fresh one-layer image) over /v2/, by ``ref`` or by digest."""
    image = image or make_image(layers=1)
    with Oci(registry) as oci:
        oci.push_image(repo, image, ref)
    return image


def try_push_image(registry: Any, repo: str, ref: str | None, image: Image) -> httpx.Response:
    """:meth:`Oci.try_push_image` on ``registry``: the refusal, or the manifest PUT's response."""
    with Oci(registry) as oci:
        return oci.try_push_image(repo, image, ref)


def put_manifest(registry: Any, repo: str, ref: str, body: bytes, media_type: str) -> str:
    """PUT a manifest whose blobs are already there; its digest as the server reports it."""
    with Oci(registry) as oci:
        r = expect(oci.put_manifest(repo, ref, body, media_type), 201, f"push manifest {ref} to {repo}")
    return str(r.headers["Docker-Content-Digest"])
