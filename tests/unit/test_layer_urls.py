"""Unit tests for the layer download URL signer and the layer API's pure helpers."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from dockyard.core.layer_urls import LAYER_URL_TTL, LayerUrlInvalid, LayerUrlSigner
from dockyard.ecr.actions.layers import (
    DEFAULT_LAYER_MEDIA_TYPE,
    MIB,
    InvalidLayerPart,
    PartLog,
    _digest_ok,
    _media_type_in,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def signer() -> LayerUrlSigner:
    return LayerUrlSigner.from_secret(LayerUrlSigner.generate_key())


def test_issue_then_verify(signer: LayerUrlSigner) -> None:
    now = time.time()
    grant = signer.verify(signer.issue("123456789012", "team/app", DIGEST, now=now))
    assert (grant.account_id, grant.repository, grant.digest) == ("123456789012", "team/app", DIGEST)
    assert grant.expires_at == int(now) + LAYER_URL_TTL
    assert LAYER_URL_TTL == 3600


def test_expired_token_is_refused(signer: LayerUrlSigner) -> None:
    token = signer.issue("123456789012", "r", DIGEST, now=1000)
    assert signer.verify(token, now=1000 + LAYER_URL_TTL - 1).digest == DIGEST
    with pytest.raises(LayerUrlInvalid) as excinfo:
        signer.verify(token, now=1000 + LAYER_URL_TTL)
    assert excinfo.value.expired


def test_tampered_or_foreign_tokens_are_refused(signer: LayerUrlSigner) -> None:
    token = signer.issue("123456789012", "r", DIGEST)
    header, payload, signature = token.split(".")
    other = LayerUrlSigner.from_secret(LayerUrlSigner.generate_key())
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (
        f"{header}.{payload}.{flipped}",
        other.issue("123456789012", "r", DIGEST),  # another key
        "garbage",
        "",
    ):
        with pytest.raises(LayerUrlInvalid) as excinfo:
            signer.verify(bad)
        assert not excinfo.value.expired


def test_a_token_of_another_kind_with_the_same_key_is_refused() -> None:
    secret = LayerUrlSigner.generate_key()
    signer = LayerUrlSigner.from_secret(secret)
    key = OctKey.import_key({"kty": "oct", "k": secret})
    claims = {"acct": "123456789012", "repo": "r", "dig": DIGEST, "exp": int(time.time()) + 60}
    with pytest.raises(LayerUrlInvalid):
        signer.verify(jwt.encode({"alg": "HS256"}, claims, key))  # no audience


def test_part_log_flags_small_parts_that_are_not_last() -> None:
    log = PartLog()
    log.record("u", 0, 5 * MIB)
    log.record("u", 5 * MIB, 5 * MIB)
    log.record("u", 10 * MIB, 10)
    assert log.too_small("u", 10 * MIB + 10) is None  # only the last part is small
    log.record("v", 0, MIB)
    log.record("v", MIB, MIB)
    assert log.too_small("v", 2 * MIB) == (0, MIB)
    assert log.too_small("unknown", 123) is None
    log.forget("v")
    assert log.too_small("v", 2 * MIB) is None


def test_part_log_is_bounded() -> None:
    log = PartLog(capacity=2)
    for name in ("a", "b", "c"):
        log.record(name, 0, 1)
        log.record(name, 1, 1)
    assert log.too_small("a", 2) is None  # evicted
    assert log.too_small("c", 2) == (0, 1)


def test_digest_validity() -> None:
    assert _digest_ok(DIGEST)
    assert _digest_ok("sha512:" + "0" * 128)
    for bad in ("sha256:abc", "sha256:" + "AB" * 32, "md5:" + "0" * 32, "nope", "sha256:", ""):
        assert not _digest_ok(bad), bad


def test_media_type_comes_from_the_manifest_descriptor() -> None:
    manifest = (
        b'{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        b'"digest":"sha256:cc","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
        b'"digest":"' + DIGEST.encode() + b'","size":3}]}'
    )
    assert _media_type_in(manifest, DIGEST) == "application/vnd.oci.image.layer.v1.tar"
    assert _media_type_in(manifest, "sha256:cc") == "application/vnd.oci.image.config.v1+json"
    assert _media_type_in(manifest, "sha256:dd") == DEFAULT_LAYER_MEDIA_TYPE
    assert _media_type_in(None, DIGEST) == DEFAULT_LAYER_MEDIA_TYPE
    assert _media_type_in(b"not json", DIGEST) == DEFAULT_LAYER_MEDIA_TYPE
    assert _media_type_in(b"[]", DIGEST) == DEFAULT_LAYER_MEDIA_TYPE


def test_invalid_layer_part_carries_the_upload_coordinates() -> None:
    err = InvalidLayerPart("bad part", "123456789012", "r", "u-1", received=10)
    assert err.to_body() == {
        "__type": "InvalidLayerPartException",
        "message": "bad part",
        "registryId": "123456789012",
        "repositoryName": "r",
        "uploadId": "u-1",
        "lastValidByteReceived": 9,
    }
    assert "lastValidByteReceived" not in InvalidLayerPart("m", "1", "r", "u", received=0).to_body()
    assert err.status == 400
