"""OCI Distribution Spec v1.1 — hostile and malformed input.

Every request here is sent verbatim with http.client (no client-side path normalisation), and no
answer may be a 5xx.  Invalid repository names are NAME_INVALID (400); a name the server cannot
tell from an unknown one may be 404 NAME_UNKNOWN.
"""

from __future__ import annotations

import pytest

try:
    from . import ocitools as t
except ImportError:
    import ocitools as t

pytestmark = pytest.mark.integration
oci = t.oci_fixture


@pytest.fixture(scope="module")
def victim(oci):
    """An image pushed before the abuse starts; it must come out intact."""
    repo = oci.new_repo("victim")
    img = t.make_image(layers=2, layer_size=4096)
    oci.push_image(repo, img, "stable")
    return repo, img


def _assert_intact(oci, victim):
    repo, img = victim
    r = t.expect(oci.get_manifest(repo, "stable"), 200, "victim manifest after bad input")
    assert r.content == img.body and t.digest(r.content) == img.digest, "victim manifest changed"
    for b in img.blobs:
        oci.assert_blob(repo, b)
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert tags["tags"] == ["stable"], tags


# ------------------------------------------------------------------------------------------------
# Repository names
# ------------------------------------------------------------------------------------------------

BAD_NAMES = [
    "UpperCase",
    "upper/Case",
    "a..b",
    "a//b",
    "a/../b",
    "../etc",
    "..",
    ".hidden",
    "-lead",
    "trail-",
    "trail.",
    "a_-b",
    "a___b",
    "a/",
    "x" * 300,
    "y" * 257,
    "a%20b",
    "a%2Fb",
    "a%2e%2e/b",
    "sp%C3%A4m",
    "a%00b",
    "a%0Ab",
    "nl%0A",
]


def _name_rejected(r, what):
    t.expect(r, (400, 404), what)
    t.expect_error(r, (400, 404), ("NAME_INVALID", "NAME_UNKNOWN"), what)
    if r.status_code == 400:
        assert "NAME_INVALID" in t.error_codes(r), what + t.describe(r)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_repository_names(oci, name):
    for method, suffix, body in (
        ("GET", "/tags/list", None),
        ("GET", "/manifests/latest", None),
        ("HEAD", "/manifests/latest", None),
        ("GET", f"/blobs/{t.digest(b'x')}", None),
        ("POST", "/blobs/uploads/", b""),
        ("PUT", "/manifests/latest", b"{}"),
        ("GET", f"/referrers/{t.digest(b'x')}", None),
    ):
        r = oci.raw(method, f"/v2/{name}{suffix}", body=body)
        what = f"{method} /v2/{name[:40]}{suffix}"
        if method == "HEAD":
            t.expect(r, (400, 404), what)
        else:
            _name_rejected(r, what)


@pytest.mark.parametrize("name", ["UpperCase", "x" * 300, "a..b", "a%0Ab"])
def test_invalid_names_are_name_invalid(oci, name):
    """Names that can never be valid are NAME_INVALID (code-8), as in CNCF Distribution / ECR."""
    r = oci.raw("GET", f"/v2/{name}/tags/list")
    t.expect_error(r, 400, "NAME_INVALID", f"GET tags of invalid name {name[:40]!r}")


def test_missing_repository_message_says_how_to_create(oci):
    name = t.unique("missing")
    r = oci.request("POST", f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
    t.expect_error(r, 404, "NAME_UNKNOWN", "push to a repository that does not exist")
    err = next(e for e in t.errors_of(r) if e.get("code") == "NAME_UNKNOWN")
    text = (str(err.get("message", "")) + " " + str(err.get("detail", ""))).lower()
    assert "create" in text, "NAME_UNKNOWN should tell the user how to create the repository" + t.describe(r)
    assert name in text, "the message should name the repository" + t.describe(r)


# ------------------------------------------------------------------------------------------------
# Tags
# ------------------------------------------------------------------------------------------------

BAD_TAGS = [
    "a" * 129,
    ".hidden",
    "-dash",
    "tag%20space",
    "t%C3%A4g",
    "tag%0A",
    "tag%00",
    "tag+plus",
    "tag@at",
]


@pytest.mark.parametrize("tag", BAD_TAGS, ids=lambda s: s[:20])
def test_invalid_tags(oci, tag):
    repo = oci.new_repo("badtag")
    img = t.make_image(layers=1)
    for b in img.blobs:
        oci.push_blob(repo, b)
    r = oci.raw("PUT", f"/v2/{repo}/manifests/{tag}", headers={"Content-Type": img.media_type}, body=img.body)
    t.expect_error(r, 400, ("TAG_INVALID", "MANIFEST_INVALID"), f"PUT manifest with invalid tag {tag[:40]!r}")
    g = oci.raw("GET", f"/v2/{repo}/manifests/{tag}")
    t.expect(g, (400, 404), f"GET invalid tag {tag[:40]!r}")
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert tags["tags"] == [], f"an invalid tag was stored: {tags}"


def test_longest_valid_tag_is_accepted(oci):
    repo = oci.new_repo("badtag")
    img = t.make_image(layers=1)
    tag = "_" + "A1.-" * 31 + "xyz"
    assert len(tag) == 128
    oci.push_image(repo, img, tag)
    tags = t.expect(oci.request("GET", f"/v2/{repo}/tags/list"), 200).json()
    assert tags["tags"] == [tag]


# ------------------------------------------------------------------------------------------------
# Upload framing
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_range",
    ["bytes=0-9", "bytes 0-9/10", "0-", "-9", "9-0", "abc", "0-9-10", "0x0-0x9", "0 - 9", "-1-8", "1-10"],
)
def test_bad_content_range(oci, content_range):
    repo = oci.new_repo("framing")
    loc = oci.upload_location(repo)
    r = oci.raw(
        "PATCH",
        _path(oci, loc),
        headers={"Content-Type": t.OCTET, "Content-Range": content_range},
        body=b"0123456789",
    )
    t.expect(r, (400, 416), f"PATCH with Content-Range {content_range!r}")
    # the session is unharmed and still at offset 0: a first chunk 0-9 is accepted
    st = t.expect(oci.request("GET", loc), 204, "status after a rejected chunk")
    data = b"0123456789"
    r = t.expect(oci.patch_chunk(st.headers.get("Location", loc), data, 0), 202, "valid chunk after bad ones")
    t.expect(oci.put_upload(r.headers["Location"], t.digest(data)), 201)
    oci.assert_blob(repo, data)


def _path(oci, loc):
    target = oci.abs(loc)
    return target[len(oci.url) :]


def test_content_length_disagrees_with_content_range(oci):
    repo = oci.new_repo("framing")
    loc = oci.upload_location(repo)
    r = oci.raw(
        "PATCH",
        _path(oci, loc),
        headers={"Content-Type": t.OCTET, "Content-Range": "0-19"},
        body=b"0123456789",
    )
    t.expect(r, (400, 416), "Content-Range 0-19 with a 10-byte body")
    if r.status_code == 400:
        t.expect_error(r, 400, ("SIZE_INVALID", "BLOB_UPLOAD_INVALID"), "Content-Length mismatch")
    st = t.expect(oci.request("GET", loc), 204)
    # nothing of the rejected chunk may have been kept: a clean upload still yields the right digest
    data = b"abcdefghij"
    r = t.expect(oci.patch_chunk(st.headers.get("Location", loc), data, 0), 202, "clean chunk after mismatch")
    t.expect(oci.put_upload(r.headers["Location"], t.digest(data)), 201)
    oci.assert_blob(repo, data)


def test_closing_put_content_length_disagrees_with_content_range(oci):
    repo = oci.new_repo("framing")
    loc = oci.upload_location(repo)
    data = b"0123456789"
    r = oci.raw(
        "PUT",
        _path(oci, loc) + ("&" if "?" in loc else "?") + f"digest={t.digest(data)}",
        headers={"Content-Type": t.OCTET, "Content-Range": "0-4"},
        body=data,
    )
    t.expect(r, (400, 416), "closing PUT: Content-Range 0-4 with a 10-byte body")
    t.expect(oci.head_blob(repo, t.digest(data)), 404, "no blob from a rejected PUT")


@pytest.mark.parametrize(
    "upload_id",
    [
        "0b6e4a52-8f1c-4d1e-9a5b-3c2d1e0f9a8b",
        "not-a-uuid",
        "..",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "a" * 500,
        "%00",
        "12345678-1234-1234-1234-1234567890ab%0A",
    ],
    ids=lambda s: s[:20],
)
def test_unknown_or_garbage_upload_id(oci, upload_id):
    repo = oci.new_repo("framing")
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        query = f"?digest={t.digest(b'x')}" if method == "PUT" else ""
        r = oci.raw(
            method, f"/v2/{repo}/blobs/uploads/{upload_id}{query}", body=b"x" if method != "GET" else None
        )
        t.expect(r, (400, 404), f"{method} upload id {upload_id[:30]!r}")
        if t.UUID_RE.fullmatch(upload_id):
            t.expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN", f"{method} upload id {upload_id[:30]!r}")


# ------------------------------------------------------------------------------------------------
# Garbage
# ------------------------------------------------------------------------------------------------


def _garbage(repo: str, upload_path: str, dig: str) -> list[tuple[str, str, dict[str, str], bytes | None]]:
    j = {"Content-Type": t.OCI_MANIFEST}
    o = {"Content-Type": t.OCTET}
    return [
        ("GET", "/v2/../../etc/passwd", {}, None),
        ("GET", f"/v2/{repo}/../../../etc/passwd", {}, None),
        ("GET", f"/v2/{repo}/blobs/..%2f..%2f..%2fetc%2fpasswd", {}, None),
        ("GET", f"/v2/{repo}/blobs/sha256:..%2f..%2fetc%2fpasswd", {}, None),
        ("GET", f"/v2/{repo}/blobs/sha256:{'0' * 64}/../../x", {}, None),
        ("GET", f"/v2/{repo}/manifests/sha256:{'z' * 64}", {}, None),
        ("GET", f"/v2/{repo}/manifests/sha999:{'a' * 64}", {}, None),
        ("GET", f"/v2/{repo}/manifests/{'a' * 5000}", {}, None),
        ("GET", f"/v2/{repo}/manifests/%ff%fe", {}, None),
        ("GET", f"/v2/{repo}/manifests/stable", {"Accept": "\x01garbage;;;q=abc"}, None),
        ("GET", f"/v2/{repo}/manifests/stable", {"Accept": ", , ;q=2"}, None),
        ("GET", f"/v2/{repo}/tags/list?n=-1", {}, None),
        ("GET", f"/v2/{repo}/tags/list?n=abc", {}, None),
        ("GET", f"/v2/{repo}/tags/list?n=99999999999999999999999999", {}, None),
        ("GET", f"/v2/{repo}/tags/list?n=1.5", {}, None),
        ("GET", f"/v2/{repo}/tags/list?last=%ff%00", {}, None),
        ("GET", f"/v2/{repo}/tags/list?n=&last=", {}, None),
        ("GET", "/v2/_catalog?n=-5", {}, None),
        ("GET", "/v2/_catalog?n=x&last=%00", {}, None),
        ("GET", "/v2/_catalog?n=100000000000000000000000", {}, None),
        ("GET", f"/v2/{repo}/blobs/{dig}", {"Range": "bytes=abc"}, None),
        ("GET", f"/v2/{repo}/blobs/{dig}", {"Range": "bytes=-0"}, None),
        ("GET", f"/v2/{repo}/blobs/{dig}", {"Range": "bytes=0-1,5-6,-2"}, None),
        ("GET", f"/v2/{repo}/blobs/{dig}", {"Range": "items=0-5"}, None),
        ("GET", f"/v2/{repo}/blobs/{dig}", {"Range": "bytes=99999999999999999999999-"}, None),
        ("GET", f"/v2/{repo}/referrers/{dig}?artifactType=%00%ff", {}, None),
        ("GET", f"/v2/{repo}/referrers/sha256:{'a' * 64}?artifactType=", {}, None),
        ("POST", f"/v2/{repo}/blobs/uploads/?mount=garbage&from=../../x", {}, b""),
        ("POST", f"/v2/{repo}/blobs/uploads/?mount={dig}&from=UPPER", {}, b""),
        ("POST", f"/v2/{repo}/blobs/uploads/?mount={dig}&from={repo}&from=x", {}, b""),
        ("POST", f"/v2/{repo}/blobs/uploads/?digest-algorithm=md5", {}, b""),
        ("POST", f"/v2/{repo}/blobs/uploads/?digest-algorithm=%00", {}, b""),
        ("POST", f"/v2/{repo}/blobs/uploads/?digest={dig}&digest=sha256:xyz", o, b"xx"),
        ("POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "abc"}, None),
        ("POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "-1"}, None),
        ("PATCH", upload_path, {**o, "Content-Range": "0-99999999999999999999999"}, b"x"),
        (
            "PATCH",
            upload_path,
            {**o, "Content-Range": "99999999999999999999999-99999999999999999999999"},
            b"x",
        ),
        ("PUT", upload_path + "?digest=sha256%3Azz", o, b"x"),
        ("PUT", f"/v2/{repo}/manifests/stable", j, b"\x00" * 100),
        ("PUT", f"/v2/{repo}/manifests/stable", j, b'{"schemaVersion": 2, "config": 5, "layers": {}}'),
        ("PUT", f"/v2/{repo}/manifests/stable", j, b'{"schemaVersion": "2", "mediaType": 7}'),
        ("PUT", f"/v2/{repo}/manifests/stable", j, b'{"schemaVersion":2,"layers":[null,1,"x"]}'),
        ("PUT", f"/v2/{repo}/manifests/stable", j, b"[" * 10000 + b"]" * 10000),
        ("PUT", f"/v2/{repo}/manifests/stable", {"Content-Type": "text/plain"}, b"hello"),
        (
            "PUT",
            f"/v2/{repo}/manifests/stable",
            {"Content-Type": t.OCI_INDEX},
            b'{"schemaVersion":2,"manifests":7}',
        ),
        (
            "PUT",
            f"/v2/{repo}/manifests/stable",
            {"Content-Type": t.OCI_INDEX},
            b'{"manifests":[{"digest":1}]}',
        ),
        ("DELETE", f"/v2/{repo}/manifests/sha256:{'q' * 64}", {}, None),
        ("DELETE", f"/v2/{repo}/blobs/not-a-digest", {}, None),
        ("DELETE", "/v2/", {}, None),
        ("PROPFIND", f"/v2/{repo}/tags/list", {}, None),
        ("OPTIONS", f"/v2/{repo}/manifests/stable", {}, None),
        ("TRACE", "/v2/", {}, None),
        ("PATCH", f"/v2/{repo}/manifests/stable", j, b"{}"),
        ("POST", f"/v2/{repo}/manifests/stable", j, b"{}"),
        ("GET", "/v2/" + "a/" * 2000 + "tags/list", {}, None),
        ("GET", "/v2/%", {}, None),
        ("GET", "/v2/%zz/tags/list", {}, None),
        ("GET", f"/v2/{repo}/tags/list", {"Authorization": "Basic !!!notbase64"}, None),
        ("GET", f"/v2/{repo}/tags/list", {"Authorization": "Bearer"}, None),
        ("GET", f"/v2/{repo}/manifests/stable", {"X-Huge": "h" * 6000}, None),
    ]


def test_garbage_never_yields_500_and_data_survives(oci, victim):
    repo, img = victim
    dig = t.digest(img.blobs[1])
    loc = oci.upload_location(repo)
    upload_path = _path(oci, loc).split("?")[0]
    failures = []
    cases = _garbage(repo, upload_path, dig)
    assert len(cases) >= 50
    for method, target, headers, body in cases:
        try:
            r = oci.raw(method, target, headers=headers, body=body)
        except Exception as e:  # a dropped connection is a server failure too
            failures.append(f"{method} {target[:80]!r}: {e!r}")
            continue
        if r.status_code >= 500:
            failures.append(
                f"{method} {target[:80]!r} {headers} body={(body or b'')[:60]!r}: "
                f"{r.status_code} {r.content[:300]!r}"
            )
    assert not failures, f"{len(failures)} requests produced server errors:\n" + "\n".join(failures)
    _assert_intact(oci, victim)
    t.expect(oci.request("GET", "/v2/"), 200, "server still healthy")


def test_data_intact_after_failed_overwrites(oci, victim):
    repo, img = victim
    bogus = t.make_image(layers=1)
    # the layers of `bogus` are never pushed: the overwrite must be rejected atomically
    r = oci.put_manifest(repo, "stable", bogus.body, bogus.media_type)
    t.expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN", "overwrite of a tag with a manifest lacking blobs")
    r = oci.put_manifest(repo, "stable", b"{broken", t.OCI_MANIFEST)
    t.expect_error(r, 400, "MANIFEST_INVALID")
    r = oci.put_manifest(repo, img.digest, bogus.body, bogus.media_type)
    t.expect_error(
        r, 400, ("DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN"), "PUT bogus body at the victim's digest"
    )
    # a failed upload of a blob with the same digest as an existing one must not corrupt it
    victim_layer = img.blobs[1]
    loc = oci.upload_location(repo)
    r = t.expect(oci.patch_chunk(loc, b"corrupted" * 100, 0), 202)
    r = oci.put_upload(r.headers["Location"], t.digest(victim_layer))
    t.expect_error(r, 400, "DIGEST_INVALID", "PUT wrong content under an existing blob's digest")
    _assert_intact(oci, victim)


@pytest.mark.parametrize("ctrl", ["%0A", "%0D", "%09"])
def test_control_characters_do_not_alias_other_names(oci, victim, ctrl):
    """`/v2/vic%0Atim/...` names the (invalid) repository "vic\\ntim", not "victim"; likewise for tags.
    Silently dropping the control character would let a request address a different repository/tag."""
    repo, img = victim
    aliased = repo[:3] + ctrl + repo[3:]
    r = oci.raw("GET", f"/v2/{aliased}/tags/list")
    t.expect(r, (400, 404), f"tags/list of {aliased!r}")
    assert b"stable" not in r.content, f"{aliased!r} was resolved to {repo!r}" + t.describe(r)
    r = oci.raw("GET", f"/v2/{repo}/manifests/sta{ctrl}ble")
    t.expect(r, (400, 404), f"manifest sta{ctrl}ble must not resolve to tag 'stable'")
    r = oci.raw(
        "PUT", f"/v2/{repo}/manifests/stable{ctrl}", headers={"Content-Type": img.media_type}, body=img.body
    )
    t.expect_error(r, 400, ("TAG_INVALID", "MANIFEST_INVALID"), f"PUT tag 'stable{ctrl}'")


# ------------------------------------------------------------------------------------------------
# HTTP framing and the Host header (issue 16, defect 5), over a raw socket to the real server.


def _raw_exchange(oci, request: bytes) -> bytes:
    """Send bytes verbatim; everything the server answers until it closes the connection."""
    import socket
    from urllib.parse import urlparse

    address = urlparse(oci.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize(
    "host",
    [b'evil.example", x="y', b"evil example", b"a\\b", b"host:port:extra", b"[::1", b"h\x7fst"],
)
def test_malformed_host_is_refused_never_echoed(oci, host):
    answer = _raw_exchange(oci, b"GET /v2/ HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"www-authenticate" not in answer.lower(), answer[:300]


def test_two_host_headers_are_refused(oci):
    port = oci.url.rsplit(":", 1)[1].encode()
    host = b"Host: 127.0.0.1:" + port + b"\r\n"
    request = b"GET /v2/ HTTP/1.1\r\n" + host + b"Host: other\r\nConnection: close\r\n\r\n"
    assert _raw_exchange(oci, request).startswith(b"HTTP/1.1 400 ")


def test_well_formed_hosts_reach_the_challenge(oci):
    for host in (b"127.0.0.1:5000", b"[::1]:5000", b"registry.example.com", b"xn--bcher-kva.example"):
        answer = _raw_exchange(oci, b"GET /v2/ HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:300]
        assert f'realm="http://{host.decode()}/"'.encode() in answer


def test_transfer_encoding_with_content_length_cannot_smuggle(oci):
    """Granian frames such a request by Transfer-Encoding alone (RFC 9112 6.3: the body below is
    the empty chunked body, not Content-Length's 5 bytes), drops Content-Length before the app
    sees it, and closes the connection after answering: the bytes after the chunked body are
    never read as a second request."""
    port = oci.url.rsplit(":", 1)[1].encode()
    smuggled = b"GET /v2/_catalog HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    request = (
        b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + port + b"\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled
    )
    answer = _raw_exchange(oci, request)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert answer.startswith(b"HTTP/1.1 200 ") or answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"connection: close" in answer.lower(), answer
