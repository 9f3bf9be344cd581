"""OCI Distribution Spec v1.1 — pushing, pulling, mounting and deleting blobs.

Spec sections: "Pushing blobs", "Pushing a blob in chunks", "Cancel a blob upload",
"Mounting a blob from another repository", "Pulling blobs", "Checking if content exists",
"Deleting Blobs"; endpoints end-2, end-4a/b/c, end-5, end-6, end-10, end-11, end-13, end-14.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from urllib.parse import urlsplit

import pytest

from tests.integration import ocitools as t

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(oci):
    return oci.new_repo("blobs")


def _range_end(resp) -> int:
    rng = resp.headers.get("Range")
    assert rng is not None, "missing Range header" + t.describe(resp)
    m = t.RANGE_RE.match(rng)
    assert m, f"Range header must match 0-<end>, got {rng!r}" + t.describe(resp)
    return int(m.group(1))


def _assert_blob_absent(oci, repo, dig, what=""):
    r = oci.head_blob(repo, dig)
    t.expect(r, 404, f"HEAD {dig} {what}")
    r = oci.get_blob(repo, dig)
    t.expect_error(r, 404, "BLOB_UNKNOWN", f"GET {dig} {what}")


# ------------------------------------------------------------------------------------------------
# Monolithic uploads
# ------------------------------------------------------------------------------------------------


def test_monolithic_single_post(oci, repo):
    data = t.rand_bytes(1234)
    dig = t.digest(data)
    r = oci.request(
        "POST",
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": dig},
        content=data,
        headers={"Content-Type": t.OCTET},
    )
    t.expect(r, 201, "single POST ?digest= (end-4b)")
    assert r.headers.get("Location"), "201 must carry Location" + t.describe(r)
    assert r.headers.get("Docker-Content-Digest") == dig, t.describe(r)
    loc = t.expect(oci.request("GET", r.headers["Location"]), 200, "GET the returned blob Location")
    assert loc.content == data
    oci.assert_blob(repo, data)


def test_post_then_put(oci, repo):
    data = t.rand_bytes(4096)
    dig = t.digest(data)
    r = oci.start_upload(repo)
    loc = r.headers["Location"]
    session = r.headers.get("Docker-Upload-UUID")
    assert t.UUID_RE.search(loc) or (session and session in loc), (
        "Location MUST contain a UUID representing the session (Pushing a blob monolithically)"
        + t.describe(r)
    )
    other = oci.start_upload(repo).headers["Location"]
    assert other != loc, "two POSTs must return distinct upload sessions"
    r = oci.put_upload(loc, dig, data)
    t.expect(r, 201, "PUT <location>?digest= with the whole blob (end-6)")
    assert r.headers.get("Location"), t.describe(r)
    assert r.headers.get("Docker-Content-Digest") == dig, t.describe(r)
    assert t.expect(oci.request("GET", r.headers["Location"]), 200).content == data
    oci.assert_blob(repo, data)
    # the session is closed once the blob is committed
    t.expect_error(oci.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN", "status of a completed upload")


def test_repushing_existing_blob_is_idempotent(oci, repo):
    data = t.rand_bytes(300)
    oci.push_blob(repo, data)
    oci.push_blob(repo, data)
    loc = oci.upload_location(repo)
    t.expect(oci.put_upload(loc, t.digest(data), data), 201, "POST+PUT of an already stored blob")
    oci.assert_blob(repo, data)


def test_zero_byte_blob(oci, repo):
    dig = t.digest(b"")
    assert dig == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    r = oci.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": dig}, content=b"")
    if r.status_code == 202:  # the registry may not support single-POST uploads
        r = oci.put_upload(r.headers["Location"], dig, b"")
    t.expect(r, 201, "push 0-byte blob")
    h = t.expect(oci.head_blob(repo, dig), 200, "HEAD 0-byte blob")
    assert h.headers.get("Content-Length") == "0", t.describe(h)
    assert h.headers.get("Docker-Content-Digest") == dig, t.describe(h)
    g = t.expect(oci.get_blob(repo, dig), 200, "GET 0-byte blob")
    assert g.content == b"", t.describe(g)
    # also via POST + PUT with no body at all
    repo2 = oci.new_repo("blobs")
    loc = oci.upload_location(repo2)
    t.expect(oci.put_upload(loc, dig), 201, "POST + empty PUT for the empty blob")
    t.expect(oci.head_blob(repo2, dig), 200)


# ------------------------------------------------------------------------------------------------
# Chunked uploads
# ------------------------------------------------------------------------------------------------


def test_chunked_upload_headers_and_status(oci, repo):
    data = t.rand_bytes(3000)
    dig = t.digest(data)
    post = oci.start_upload(repo)
    loc = post.headers["Location"]
    offset = 0
    for size in (1000, 1000, 1000):
        chunk = data[offset : offset + size]
        r = oci.patch_chunk(loc, chunk, offset)
        t.expect(r, 202, f"PATCH chunk {offset}-{offset + size - 1} (end-5)")
        assert r.headers.get("Location"), "PATCH 202 must carry Location" + t.describe(r)
        assert r.headers.get("Docker-Upload-UUID"), "PATCH 202 should carry Docker-Upload-UUID" + t.describe(
            r
        )
        assert _range_end(r) == offset + size - 1, t.describe(r)
        loc = r.headers["Location"]
        offset += size
        st = oci.request("GET", loc)
        t.expect(st, 204, "GET upload status (end-13)")
        assert st.headers.get("Location"), "status 204 must carry Location" + t.describe(st)
        assert _range_end(st) == offset - 1, t.describe(st)
        loc = st.headers["Location"]
    r = oci.put_upload(loc, dig)
    t.expect(r, 201, "closing PUT without body (end-6)")
    assert r.headers.get("Docker-Content-Digest") == dig, t.describe(r)
    assert r.headers.get("Location"), t.describe(r)
    oci.assert_blob(repo, data)


def test_chunked_upload_final_chunk_in_put(oci, repo):
    data = t.rand_bytes(2500)
    dig = t.digest(data)
    loc = oci.upload_location(repo)
    r = t.expect(oci.patch_chunk(loc, data[:2000], 0), 202)
    loc = r.headers["Location"]
    r = oci.put_upload(loc, dig, data[2000:], **{"Content-Range": "2000-2499"})
    t.expect(r, 201, "closing PUT carrying the final chunk")
    oci.assert_blob(repo, data)


def test_out_of_order_chunk_is_416_and_upload_survives(oci, repo):
    data = t.rand_bytes(3000)
    dig = t.digest(data)
    loc = oci.upload_location(repo)
    r = t.expect(oci.patch_chunk(loc, data[:1000], 0), 202)
    loc = r.headers["Location"]
    # skip ahead: 2000-2999 instead of 1000-1999
    bad = oci.patch_chunk(loc, data[2000:], 2000)
    t.expect(bad, 416, "out-of-order chunk (Pushing a blob in chunks: MUST respond 416)")
    # overlapping / restarting chunk is out of order too
    bad = oci.patch_chunk(loc, data[:1000], 0)
    t.expect(bad, 416, "chunk restarting at 0 after 0-999 was accepted")
    st = t.expect(oci.request("GET", loc), 204, "status after a 416")
    assert _range_end(st) == 999, "a rejected chunk must not change the offset" + t.describe(st)
    loc = st.headers["Location"]
    # final chunk in PUT out of order -> 416 as well
    bad = oci.put_upload(loc, dig, data[2000:], **{"Content-Range": "2000-2999"})
    t.expect(bad, 416, "closing PUT with an out-of-order final chunk")
    st = t.expect(oci.request("GET", loc), 204, "status after a 416 on PUT")
    assert _range_end(st) == 999, t.describe(st)
    loc = st.headers["Location"]
    r = t.expect(oci.patch_chunk(loc, data[1000:2000], 1000), 202, "resume with the right chunk")
    loc = r.headers["Location"]
    r = oci.put_upload(loc, dig, data[2000:], **{"Content-Range": "2000-2999"})
    t.expect(r, 201, "finish after recovery")
    oci.assert_blob(repo, data)


def test_streamed_patch_without_content_range(oci, repo):
    data = t.rand_bytes(70_000)
    dig = t.digest(data)
    loc = oci.upload_location(repo)
    r = oci.request("PATCH", loc, content=data, headers={"Content-Type": t.OCTET})
    t.expect(r, 202, "streamed PATCH without Content-Range")
    assert r.headers.get("Location"), t.describe(r)
    assert _range_end(r) == len(data) - 1, t.describe(r)
    r = oci.put_upload(r.headers["Location"], dig)
    t.expect(r, 201, "closing PUT after a streamed PATCH")
    oci.assert_blob(repo, data)


def test_streamed_patch_body_without_content_length(oci, repo):
    """A chunked transfer-encoded PATCH (no Content-Length), as sent by streaming clients."""
    data = t.rand_bytes(50_000)
    dig = t.digest(data)
    loc = oci.upload_location(repo)

    def gen():
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    r = oci.request("PATCH", loc, content=gen(), headers={"Content-Type": t.OCTET})
    t.expect(r, 202, "streamed PATCH with Transfer-Encoding: chunked")
    assert _range_end(r) == len(data) - 1, t.describe(r)
    t.expect(oci.put_upload(r.headers["Location"], dig), 201)
    oci.assert_blob(repo, data)


def test_upload_status_of_fresh_session(oci, repo):
    loc = oci.upload_location(repo)
    st = oci.request("GET", loc)
    t.expect(st, 204, "GET status of a new upload (end-13)")
    assert st.headers.get("Location"), t.describe(st)
    assert "Range" in st.headers, "status must carry a Range header" + t.describe(st)


def test_cancel_upload(oci, repo):
    data = t.rand_bytes(100)
    loc = oci.upload_location(repo)
    r = t.expect(oci.patch_chunk(loc, data, 0), 202)
    loc = r.headers["Location"]
    d = oci.request("DELETE", loc, headers={"Content-Length": "0"})
    t.expect(d, 204, "DELETE <blob-push-location> (end-14, SHOULD be 204)")
    t.expect_error(oci.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN", "status after cancel")
    t.expect_error(oci.patch_chunk(loc, data, 100), 404, "BLOB_UPLOAD_UNKNOWN", "PATCH after cancel")
    t.expect_error(
        oci.put_upload(loc, t.digest(data)), 404, "BLOB_UPLOAD_UNKNOWN", "PUT after cancel (end-6 404)"
    )
    t.expect_error(oci.request("DELETE", loc), 404, "BLOB_UPLOAD_UNKNOWN", "second cancel")
    _assert_blob_absent(oci, repo, t.digest(data), "after cancelled upload")


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_upload_id(oci, repo, method):
    loc = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    params = {"digest": t.digest(b"abc")} if method == "PUT" else None
    content = b"abc" if method in ("PATCH", "PUT") else None
    r = oci.request(method, loc, params=params, content=content)
    t.expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN", f"{method} on an unknown upload id")


def test_upload_session_is_bound_to_its_repository(oci, repo):
    other = oci.new_repo("blobs")
    loc = oci.upload_location(repo)
    session = urlsplit(loc).path.rstrip("/").rsplit("/", 1)[-1]
    r = oci.request("GET", f"/v2/{other}/blobs/uploads/{session}")
    t.expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "using repo A's upload session through repo B")


# ------------------------------------------------------------------------------------------------
# Digest validation
# ------------------------------------------------------------------------------------------------


def test_final_put_with_wrong_digest(oci, repo):
    data = t.rand_bytes(2048)
    wrong = t.digest(b"something else entirely")
    loc = oci.upload_location(repo)
    r = t.expect(oci.patch_chunk(loc, data, 0), 202)
    r = oci.put_upload(r.headers["Location"], wrong)
    t.expect_error(r, 400, "DIGEST_INVALID", "closing PUT whose digest does not match the content")
    _assert_blob_absent(oci, repo, wrong, "(claimed digest of a rejected upload)")
    _assert_blob_absent(oci, repo, t.digest(data), "(real digest of a rejected upload)")


def test_monolithic_post_with_wrong_digest(oci, repo):
    data = t.rand_bytes(512)
    wrong = t.digest(b"other")
    r = oci.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, content=data)
    if r.status_code == 202:
        r = oci.put_upload(r.headers["Location"], wrong, data)
    t.expect_error(r, 400, "DIGEST_INVALID", "monolithic upload with mismatching digest")
    _assert_blob_absent(oci, repo, wrong)
    _assert_blob_absent(oci, repo, t.digest(data))


MALFORMED_DIGESTS = [
    "sha256:xyz",
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "A" * 64,
    "sha256:" + "g" * 64,
    "sha256:",
    "sha256",
    ":" + "a" * 64,
    "md5:" + "d41d8cd98f00b204e9800998ecf8427e",
    "sha1:" + "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "sha512:" + "a" * 64,
    "foo",
]


@pytest.mark.parametrize("bad", MALFORMED_DIGESTS)
def test_malformed_digest_on_monolithic_post(oci, repo, bad):
    r = oci.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": bad}, content=b"data")
    t.expect_error(r, 400, "DIGEST_INVALID", f"POST ?digest={bad!r} (Pushing blobs: SHOULD 400)")


@pytest.mark.parametrize("bad", [*MALFORMED_DIGESTS, ""])
def test_malformed_digest_on_closing_put(oci, repo, bad):
    loc = oci.upload_location(repo)
    r = oci.request("PUT", loc, params={"digest": bad}, content=b"data", headers={"Content-Type": t.OCTET})
    t.expect_error(r, 400, "DIGEST_INVALID", f"PUT ?digest={bad!r}")


def test_closing_put_without_digest(oci, repo):
    loc = oci.upload_location(repo)
    r = oci.request("PUT", loc, content=b"data", headers={"Content-Type": t.OCTET})
    t.expect_error(r, 400, "DIGEST_INVALID", "closing PUT without ?digest=")
    _assert_blob_absent(oci, repo, t.digest(b"data"), "after a digest-less closing PUT")


@pytest.mark.parametrize("bad", ["sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "A" * 64])
def test_malformed_digest_on_pull_never_500(oci, repo, bad):
    for method in ("GET", "HEAD", "DELETE"):
        r = oci.request(method, f"/v2/{repo}/blobs/{bad}")
        t.expect(r, (400, 404), f"{method} blob with malformed digest {bad!r}")
        if method != "HEAD" and r.status_code == 400:
            t.expect_error(r, 400, "DIGEST_INVALID", f"{method} blob {bad!r}")


# ------------------------------------------------------------------------------------------------
# sha512
# ------------------------------------------------------------------------------------------------


def test_sha512_blob_monolithic(oci, repo):
    data = t.rand_bytes(5000)
    dig = oci.push_blob(repo, data, "sha512")
    assert dig.startswith("sha512:") and len(dig) == 7 + 128
    h = t.expect(oci.head_blob(repo, dig), 200, "HEAD sha512 blob")
    assert h.headers.get("Docker-Content-Digest") == dig, t.describe(h)
    assert h.headers.get("Content-Length") == str(len(data)), t.describe(h)
    oci.assert_blob(repo, data, dig)


def test_sha512_blob_chunked_with_digest_algorithm(oci, repo):
    data = t.rand_bytes(3000)
    dig = t.digest(data, "sha512")
    r = oci.start_upload(repo, **{"digest-algorithm": "sha512"})
    loc = r.headers["Location"]
    r = t.expect(oci.patch_chunk(loc, data[:1500], 0), 202)
    r = t.expect(oci.patch_chunk(r.headers["Location"], data[1500:], 1500), 202)
    r = oci.put_upload(r.headers["Location"], dig)
    t.expect(r, 201, "closing PUT with ?digest=sha512:... (end-4c flow)")
    assert r.headers.get("Docker-Content-Digest") == dig, t.describe(r)
    oci.assert_blob(repo, data, dig)


def test_sha512_wrong_digest(oci, repo):
    data = t.rand_bytes(100)
    wrong = t.digest(b"nope", "sha512")
    loc = oci.upload_location(repo)
    r = oci.put_upload(loc, wrong, data)
    t.expect_error(r, 400, "DIGEST_INVALID", "sha512 digest mismatch")


# ------------------------------------------------------------------------------------------------
# Pull, HEAD, ranges
# ------------------------------------------------------------------------------------------------


def test_head_and_get_blob(oci, repo):
    data = t.rand_bytes(777)
    dig = oci.push_blob(repo, data)
    h = t.expect(oci.head_blob(repo, dig), 200, "HEAD blob (end-2)")
    assert h.headers.get("Content-Length") == "777", t.describe(h)
    assert h.headers.get("Docker-Content-Digest") == dig, t.describe(h)
    assert h.content == b""
    g = t.expect(oci.get_blob(repo, dig), 200, "GET blob (end-2)")
    assert g.headers.get("Content-Length") == "777", t.describe(g)
    assert g.headers.get("Docker-Content-Digest") == dig, t.describe(g)
    assert g.content == data


def test_unknown_blob_is_404(oci, repo):
    dig = t.digest(t.rand_bytes(10))
    t.expect(oci.head_blob(repo, dig), 404, "HEAD unknown blob")
    t.expect_error(oci.get_blob(repo, dig), 404, "BLOB_UNKNOWN", "GET unknown blob")


@pytest.fixture
def range_blob(oci, repo):
    data = t.rand_bytes(1000)
    return repo, oci.push_blob(repo, data), data


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=10-99", 10, 99),
        ("bytes=0-0", 0, 0),
        ("bytes=500-", 500, 999),
        ("bytes=-100", 900, 999),
        ("bytes=900-5000", 900, 999),  # last-pos beyond the end is clamped (RFC 9110 14.1.2)
        ("bytes=0-999", 0, 999),
    ],
)
def test_range_requests(oci, range_blob, spec, start, end):
    repo, dig, data = range_blob
    r = oci.get_blob(repo, dig, Range=spec)
    t.expect(r, 206, f"GET blob with Range: {spec} (Pulling blobs: SHOULD support Range, RFC 9110 14)")
    assert r.headers.get("Content-Range") == f"bytes {start}-{end}/{len(data)}", t.describe(r)
    assert r.headers.get("Content-Length") == str(end - start + 1), t.describe(r)
    assert r.content == data[start : end + 1]


@pytest.mark.parametrize("spec", ["bytes=1000-1100", "bytes=5000-10000", "bytes=500-0"])
def test_unsatisfiable_range_is_416(oci, range_blob, spec):
    repo, dig, data = range_blob
    r = oci.get_blob(repo, dig, Range=spec)
    t.expect(r, 416, f"GET blob with unsatisfiable Range: {spec} (as in the OCI conformance suite)")
    if spec != "bytes=500-0":
        assert r.headers.get("Content-Range") == f"bytes */{len(data)}", (
            "416 SHOULD carry Content-Range: bytes */<size> (RFC 9110 15.5.17)" + t.describe(r)
        )


def test_range_on_large_chunked_blob(oci, repo):
    """5 MiB blob pushed in 3 chunks: reassembly verified by GET, sha256 and ranges across chunk seams."""
    size = 5 * 1024 * 1024
    data = t.rand_bytes(size)
    dig = t.digest(data)
    post = oci.start_upload(repo)
    loc = post.headers["Location"]
    chunk = size // 3 + 1
    min_len = post.headers.get("OCI-Chunk-Min-Length")
    if min_len:
        chunk = max(chunk, int(min_len))
    offset = 0
    while offset < size:
        piece = data[offset : offset + chunk]
        r = t.expect(oci.patch_chunk(loc, piece, offset), 202, f"PATCH chunk at {offset}")
        assert _range_end(r) == offset + len(piece) - 1, t.describe(r)
        loc = r.headers["Location"]
        offset += len(piece)
    r = t.expect(oci.put_upload(loc, dig), 201, "close 5 MiB upload")
    g = t.expect(oci.get_blob(repo, dig), 200)
    assert len(g.content) == size
    assert hashlib.sha256(g.content).hexdigest() == dig.split(":")[1], "reassembled blob hash differs"
    seam = chunk - 5
    r = t.expect(oci.get_blob(repo, dig, Range=f"bytes={seam}-{seam + 9}"), 206)
    assert r.content == data[seam : seam + 10], "range across a chunk boundary"


# ------------------------------------------------------------------------------------------------
# Delete
# ------------------------------------------------------------------------------------------------


def test_delete_blob(oci, repo):
    data = t.rand_bytes(64)
    dig = oci.push_blob(repo, data)
    r = oci.request("DELETE", f"/v2/{repo}/blobs/{dig}")
    t.expect(r, 202, "DELETE blob (end-10)")
    _assert_blob_absent(oci, repo, dig, "after DELETE")
    t.expect_error(oci.request("DELETE", f"/v2/{repo}/blobs/{dig}"), 404, "BLOB_UNKNOWN", "second DELETE")


def test_delete_unknown_blob(oci, repo):
    r = oci.request("DELETE", f"/v2/{repo}/blobs/{t.digest(t.rand_bytes(8))}")
    t.expect_error(r, 404, "BLOB_UNKNOWN", "DELETE unknown blob (Deleting Blobs: MUST 404)")


def test_delete_blob_in_one_repo_keeps_it_in_another(oci):
    a, b = oci.new_repo("blobs"), oci.new_repo("blobs")
    data = t.rand_bytes(200)
    dig = oci.push_blob(a, data)
    oci.push_blob(b, data)
    t.expect(oci.request("DELETE", f"/v2/{a}/blobs/{dig}"), 202)
    t.expect(oci.head_blob(a, dig), 404)
    oci.assert_blob(b, data)


# ------------------------------------------------------------------------------------------------
# Repository isolation and cross-repository mounts
# ------------------------------------------------------------------------------------------------


def test_blob_is_scoped_to_its_repository(oci):
    a, b = oci.new_repo("blobs"), oci.new_repo("blobs")
    data = t.rand_bytes(300)
    dig = oci.push_blob(a, data)
    t.expect(oci.head_blob(b, dig), 404, "HEAD in repo B of a blob only pushed to repo A")
    t.expect_error(oci.get_blob(b, dig), 404, "BLOB_UNKNOWN", "GET in repo B of a blob only in repo A")


def test_mount_from_other_repository(oci):
    a, b = oci.new_repo("blobs"), oci.new_repo("blobs")
    data = t.rand_bytes(300)
    dig = oci.push_blob(a, data)
    r = oci.request("POST", f"/v2/{b}/blobs/uploads/", params={"mount": dig, "from": a})
    t.expect(r, 201, "mount with from= of a blob present in the source repo (end-11)")
    assert r.headers.get("Location"), "mount 201 must carry Location" + t.describe(r)
    assert r.headers.get("Docker-Content-Digest") == dig, t.describe(r)
    assert t.expect(oci.request("GET", r.headers["Location"]), 200).content == data
    oci.assert_blob(b, data)
    oci.assert_blob(a, data)


def test_mount_from_repo_lacking_blob_starts_upload(oci):
    a, b = oci.new_repo("blobs"), oci.new_repo("blobs")
    data = t.rand_bytes(300)
    dig = t.digest(data)
    r = oci.request("POST", f"/v2/{b}/blobs/uploads/", params={"mount": dig, "from": a})
    t.expect(r, 202, "mount of a blob the source repo does not have -> upload session")
    assert r.headers.get("Location"), t.describe(r)
    t.expect(oci.put_upload(r.headers["Location"], dig, data), 201, "complete the fallback upload")
    oci.assert_blob(b, data)
    t.expect(oci.head_blob(a, dig), 404, "the source repo must not gain the blob")


def test_mount_without_from_when_known_in_account(oci):
    a, c = oci.new_repo("blobs"), oci.new_repo("blobs")
    data = t.rand_bytes(333)
    dig = oci.push_blob(a, data)
    r = oci.request("POST", f"/v2/{c}/blobs/uploads/", params={"mount": dig})
    t.expect(r, 201, "mount without from= of a blob known to the account (spec: MAY cross-mount)")
    assert r.headers.get("Location"), t.describe(r)
    assert r.headers.get("Docker-Content-Digest") == dig, t.describe(r)
    oci.assert_blob(c, data)


def test_mount_without_from_of_unknown_blob_starts_upload(oci, repo):
    data = t.rand_bytes(100)
    r = oci.request("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": t.digest(data)})
    t.expect(r, 202, "mount of a blob unknown to the account -> upload session")
    assert r.headers.get("Location"), t.describe(r)
    t.expect(oci.put_upload(r.headers["Location"], t.digest(data), data), 201)


def test_mount_into_unknown_repository(oci, repo):
    dig = oci.push_blob(repo, t.rand_bytes(10))
    r = oci.request("POST", f"/v2/{t.unique('missing')}/blobs/uploads/", params={"mount": dig, "from": repo})
    t.expect_error(r, 404, "NAME_UNKNOWN", "mount into a repository that does not exist (end-11 404)")


def test_mount_of_deleted_blob_is_not_possible(oci):
    a, b = oci.new_repo("blobs"), oci.new_repo("blobs")
    data = t.rand_bytes(99)
    dig = oci.push_blob(a, data)
    t.expect(oci.request("DELETE", f"/v2/{a}/blobs/{dig}"), 202)
    r = oci.request("POST", f"/v2/{b}/blobs/uploads/", params={"mount": dig, "from": a})
    t.expect(r, 202, "mounting a blob deleted from the source repo must fall back to an upload")


# ------------------------------------------------------------------------------------------------
# Concurrency
# ------------------------------------------------------------------------------------------------


def test_concurrent_uploads_of_same_blob(oci, repo):
    data = t.rand_bytes(1024 * 1024 + 17)
    dig = t.digest(data)
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def worker(i: int) -> None:
        client = oci.new_client()
        try:
            loc = client.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"}).headers[
                "Location"
            ]
            half = len(data) // 2
            barrier.wait(30)
            r = client.patch(
                oci.abs(loc),
                content=data[:half],
                headers={"Content-Type": t.OCTET, "Content-Range": f"0-{half - 1}"},
            )
            assert r.status_code == 202, t.describe(r)
            barrier.wait(30)
            r = client.put(
                oci.abs(r.headers["Location"]),
                params={"digest": dig},
                content=data[half:],
                headers={"Content-Type": t.OCTET, "Content-Range": f"{half}-{len(data) - 1}"},
            )
            results[i] = r
        except BaseException as e:
            results[i] = e
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    for i, res in enumerate(results):
        assert not isinstance(res, BaseException), f"client {i} failed: {res!r}"
        assert res is not None, f"client {i} did not finish"
        t.expect(res, 201, f"concurrent upload {i}")
        assert res.headers.get("Docker-Content-Digest") == dig, t.describe(res)
    oci.assert_blob(repo, data)
