"""Hypothesis strategies for hostile input: JSON shaped like manifests, policies and lifecycle
documents (with wrong types and deep nesting mixed in), digests, names, ranges, SigV4 headers,
and ECR request bodies built from botocore's own model of the ECR API."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from hypothesis import strategies as st

MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.image.config.v1+json",
    "application/json",
    "text/plain",
    "",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def deep_nesting(opening: str, closing: str) -> st.SearchStrategy[str]:
    return st.integers(1, 3000).map(lambda n: opening * n + closing * n)


nested_json_text = deep_nesting("[", "]") | deep_nesting('{"a":', "}") | deep_nesting('{"a":[', "]}")

hex_chars = st.text("0123456789abcdefABCDEF", min_size=0, max_size=130)
digests = st.one_of(
    st.builds(lambda h: "sha256:" + h, st.text("0123456789abcdef", min_size=64, max_size=64)),
    st.builds(
        lambda alg, sep, h: alg + sep + h,
        st.sampled_from(["sha256", "sha512", "sha384", "md5", "SHA256", "", "sha256+b64", "a" * 300]),
        st.sampled_from([":", "", "::", "/", "%3A"]),
        hex_chars,
    ),
    st.text(max_size=80),
)

descriptor = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from(MEDIA_TYPES) | st.text(max_size=20) | json_values,
        "digest": digests | json_values,
        "size": st.integers(-(2**70), 2**70) | json_values,
        "urls": st.lists(st.text(max_size=30), max_size=2) | json_values,
        "annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3) | json_values,
        "platform": st.fixed_dictionaries(
            {}, optional={"os": st.text(max_size=10), "architecture": st.text(max_size=10)}
        )
        | json_values,
        "artifactType": st.text(max_size=20) | json_values,
    },
)
manifest_docs = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2, 3, 0, -1, "2", 2.0]) | json_values,
        "mediaType": st.sampled_from(MEDIA_TYPES) | json_values,
        "config": descriptor | json_values,
        "layers": st.lists(descriptor, max_size=3) | json_values,
        "manifests": st.lists(descriptor, max_size=3) | json_values,
        "subject": descriptor | json_values,
        "artifactType": st.text(max_size=20) | json_values,
        "annotations": json_values,
        "fsLayers": json_values,
        "signatures": json_values,
    },
)
manifest_bodies = st.one_of(
    manifest_docs.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda d: json.dumps(d).encode()),
    nested_json_text.map(str.encode),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)

name_alphabet = st.characters(codec="utf-8") | st.sampled_from(list("abz09/._-:%@ ?#\\A\x00\t"))
names = st.one_of(
    st.text(name_alphabet, max_size=60),
    st.sampled_from(["../x", "a/../../b", "%2e%2e/x", "a//b", "a" * 300, "-a", "a-", "A/b", "a/b/"]),
    st.lists(st.text("abc._-", min_size=1, max_size=8), min_size=1, max_size=6).map("/".join),
)
tags = st.one_of(
    st.text(name_alphabet, max_size=140), st.sampled_from(["latest", "a" * 128, "a" * 129, ".x", "-x"])
)

range_headers = st.one_of(
    st.builds(
        lambda unit, parts: unit + ",".join(parts),
        st.sampled_from(["bytes=", "bytes =", "items=", "", "BYTES="]),
        st.lists(
            st.builds(
                lambda a, sep, b: a + sep + b,
                st.sampled_from(["", "0", "1", "-1", "99999999999999999999", "5", " 3"])
                | st.text("0123456789", max_size=25),
                st.sampled_from(["-", "", "--", " - "]),
                st.sampled_from(["", "0", "1", "1649", "1650", "2000", "-3"])
                | st.text("0123456789", max_size=25),
            ),
            min_size=1,
            max_size=3,
        ),
    ),
    st.text(max_size=40),
)

# ---------------------------------------------------------------- policies and lifecycle documents
statement = st.fixed_dictionaries(
    {},
    optional={
        "Sid": st.text(max_size=10) | json_values,
        "Effect": st.sampled_from(["Allow", "Deny", "allow", "Maybe"]) | json_values,
        "Principal": st.sampled_from(
            ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::123456789012:root"]}, {"Service": "x"}]
        )
        | json_values,
        "NotPrincipal": json_values,
        "Action": st.sampled_from(["ecr:*", "ecr:BatchGetImage", "*", ["ecr:Get*"], "s3:*"]) | json_values,
        "NotAction": json_values,
        "Resource": st.sampled_from(["*", "arn:aws:ecr:us-east-1:123456789012:repository/*"]) | json_values,
        "Condition": st.dictionaries(
            st.sampled_from(["StringEquals", "IpAddress", "DateLessThan", "Bogus", "ForAnyValue:StringLike"]),
            st.dictionaries(st.text(max_size=15), json_values, max_size=2),
            max_size=2,
        )
        | json_values,
    },
)
policy_texts = st.one_of(
    st.fixed_dictionaries(
        {"Statement": st.lists(statement, max_size=3) | statement | json_values},
        optional={
            "Version": st.sampled_from(["2012-10-17", "2008-10-17", "x"]) | json_values,
            "Id": json_values,
        },
    ).map(json.dumps),
    json_values.map(json.dumps),
    nested_json_text,
    st.text(max_size=100),
)
lifecycle_rule = st.fixed_dictionaries(
    {},
    optional={
        "rulePriority": st.integers(-5, 2**40) | json_values,
        "description": st.text(max_size=20) | json_values,
        "selection": st.fixed_dictionaries(
            {},
            optional={
                "tagStatus": st.sampled_from(["tagged", "untagged", "any", "TAGGED", "x"]) | json_values,
                "tagPrefixList": st.lists(st.text(max_size=5), max_size=3) | json_values,
                "tagPatternList": st.lists(st.text("ab*?", max_size=6), max_size=3) | json_values,
                "countType": st.sampled_from(
                    [
                        "imageCountMoreThan",
                        "sinceImagePushed",
                        "sinceImagePulled",
                        "sinceImageTransitioned",
                        "x",
                    ]
                )
                | json_values,
                "countUnit": st.sampled_from(["days", "hours", "x"]) | json_values,
                "countNumber": st.integers(-(2**40), 2**70) | json_values,
                "storageClass": st.sampled_from(["standard", "archive", "x"]) | json_values,
            },
        )
        | json_values,
        "action": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["expire", "transition", "x"]) | json_values,
                "targetStorageClass": st.sampled_from(["archive", "standard"]) | json_values,
            },
        )
        | json_values,
    },
)
lifecycle_texts = st.one_of(
    st.fixed_dictionaries({"rules": st.lists(lifecycle_rule, max_size=3) | json_values}).map(json.dumps),
    json_values.map(json.dumps),
    nested_json_text,
    st.text(max_size=100),
)


# ---------------------------------------------------------------- botocore's ECR input shapes
@cache
def ecr_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ecr")


def from_shape(
    shape: Any, depth: int = 0, special: dict[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    """Values matching a botocore input shape, mostly; wrong types sometimes (and at depth 6, always)."""
    special = special or {}
    if depth > 6:
        return scalars
    kind = shape.type_name
    if kind == "structure":
        members = dict(shape.members)
        required = set(shape.required_members)

        def member(name: str, sub: Any) -> st.SearchStrategy[Any]:
            base = special.get(name, from_shape(sub, depth + 1, special))
            return st.one_of(base, json_values) if depth > 0 else base | scalars

        strategy: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {n: member(n, s) for n, s in members.items() if n in required},
            optional={n: member(n, s) for n, s in members.items() if n not in required},
        )
    elif kind == "list":
        strategy = st.lists(from_shape(shape.member, depth + 1, special), max_size=4)
    elif kind == "map":
        strategy = st.dictionaries(
            st.text(max_size=10), from_shape(shape.value, depth + 1, special), max_size=3
        )
    elif kind == "string":
        strategy = (
            st.sampled_from(list(shape.enum)) | st.text(max_size=40) if shape.enum else st.text(max_size=60)
        )
    elif kind in ("integer", "long"):
        strategy = st.integers(-(2**63), 2**63)
    elif kind == "boolean":
        strategy = st.booleans()
    elif kind == "blob":
        strategy = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
    elif kind == "timestamp":
        strategy = st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    elif kind in ("float", "double"):
        strategy = st.floats(allow_nan=False)
    else:
        strategy = json_values
    return strategy | scalars if depth > 0 else strategy


def ecr_input(operation: str, special: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    shape = ecr_model().operation_model(operation).input_shape
    if shape is None:
        return st.just({}) | json_values
    return from_shape(shape, special=special) | json_values


def sigv4_authorizations(valid: str) -> st.SearchStrategy[str]:
    """Authorization headers: the valid one mutated, rebuilt from random parts, or noise."""
    credential = st.builds(
        lambda key, date, region, service, term: f"{key}/{date}/{region}/{service}/{term}",
        st.sampled_from([valid.split("Credential=")[1].split("/")[0], "AKIA0000", ""]) | st.text(max_size=25),
        st.sampled_from(["20250101", "99999999", ""]) | st.text(max_size=10),
        st.sampled_from(["us-east-1", "eu-west-1", ""]) | st.text(max_size=10),
        st.sampled_from(["ecr", "s3", ""]) | st.text(max_size=6),
        st.sampled_from(["aws4_request", ""]) | st.text(max_size=12),
    )
    rebuilt = st.builds(
        lambda alg, cred, sep1, signed, sep2, sig: (
            f"{alg} Credential={cred}{sep1}SignedHeaders={signed}{sep2}Signature={sig}"
        ),
        st.sampled_from(["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", "AWS", ""]),
        credential,
        st.sampled_from([", ", ",", " ", ""]),
        st.sampled_from(["host;x-amz-date", "host", "content-type;host;x-amz-date;x-amz-target", "", ";;"])
        | st.text(max_size=30),
        st.sampled_from([", ", ",", ""]),
        hex_chars,
    )

    def flip(i: int, c: str) -> str:
        i %= len(valid)
        return valid[:i] + c + valid[i + 1 :]

    mutated = st.builds(flip, st.integers(0, 10_000), st.characters(codec="utf-8"))
    return st.one_of(mutated, rebuilt, st.text(max_size=200))
