"""Model-driven validation and serialisation against real ECR operations."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from botocore.parsers import create_parser

from dockyard.ecr import model
from dockyard.ecr.errors import EcrError

NAME_PATTERN = model.service_model().shape_for("RepositoryName").metadata["pattern"]


def fail(operation: str, params: object) -> EcrError:
    with pytest.raises(EcrError) as info:
        model.validate_input(operation, params)
    return info.value


# ------------------------------------------------------------------- classic operations


def test_bad_repository_name_pattern() -> None:
    error = fail("CreateRepository", {"repositoryName": "Foo"})
    assert error.code == "InvalidParameterException"
    assert error.status == 400
    assert error.message == (
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
        f"'must satisfy regular expression '{NAME_PATTERN}''"
    )


def test_repository_name_too_long_and_too_short() -> None:
    error = fail("CreateRepository", {"repositoryName": "a" * 257})
    assert error.message == (
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
        "'must have length less than or equal to 256'"
    )
    error = fail("CreateRepository", {"repositoryName": "a"})
    assert error.message.endswith("'must have length greater than or equal to 2'")


def test_repository_name_boundaries_accepted() -> None:
    for name in ("ab", "a" * 256, "team/app", "a__b", "a--b", "a.b_c-d/e"):
        assert model.validate_input("CreateRepository", {"repositoryName": name}) == {"repositoryName": name}


def test_bad_enum() -> None:
    error = fail("CreateRepository", {"repositoryName": "app", "imageTagMutability": "SOMETIMES"})
    assert error.code == "InvalidParameterException"
    assert error.message == (
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: "
        "'Member must satisfy enum value set: "
        "[IMMUTABLE, MUTABLE, MUTABLE_WITH_EXCLUSION, IMMUTABLE_WITH_EXCLUSION]'"
    )
    # ECR's order, not the model's; the values must still be the model's own.
    model_values = model.service_model().shape_for("ImageTagMutability").enum
    assert sorted(model._ECR_ENUM_ORDER["ImageTagMutability"]) == sorted(model_values)


def test_missing_required() -> None:
    error = fail("CreateRepository", {})
    assert (
        error.message
        == "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must not be null'"
    )
    error = fail("CreateRepository", {"repositoryName": None})
    assert "'Member must not be null'" in error.message


def test_image_ids_list_bounds() -> None:
    ids = [{"imageTag": f"t{i}"} for i in range(101)]
    error = fail("BatchGetImage", {"repositoryName": "app", "imageIds": ids})
    assert error.message == (
        "Invalid parameter at 'imageIds' failed to satisfy constraint: "
        "'Member must have length less than or equal to 100'"
    )
    error = fail("BatchGetImage", {"repositoryName": "app", "imageIds": []})
    assert error.message.endswith("'Member must have length greater than or equal to 1'")
    assert model.validate_input("BatchGetImage", {"repositoryName": "app", "imageIds": ids[:100]})


def test_nested_member_path_is_one_based() -> None:
    error = fail(
        "BatchDeleteImage", {"repositoryName": "app", "imageIds": [{"imageTag": "ok"}, {"imageTag": ""}]}
    )
    assert error.message == (
        "Invalid parameter at 'imageIds.2.member.imageTag' failed to satisfy constraint: "
        "'Member must have length greater than or equal to 1'"
    )


def test_max_results_range() -> None:
    error = fail("ListImages", {"repositoryName": "app", "maxResults": 1001})
    assert error.message == (
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'"
    )
    error = fail("DescribeRepositories", {"maxResults": 0})
    assert error.message.endswith("'Member must have value greater than or equal to 1'")


def test_registry_id_pattern_is_anchored() -> None:
    error = fail("DescribeRepositories", {"registryId": "1234567890123"})
    assert "'Member must satisfy regular expression pattern: [0-9]{12}'" in error.message
    assert model.validate_input("DescribeRepositories", {"registryId": "123456789012"})


# ------------------------------------------------------- operations with ValidationException


def test_validation_exception_counts_all_errors() -> None:
    error = fail(
        "DescribeImageScanFindings",
        {"repositoryName": "Bad", "imageId": {"imageTag": ""}, "maxResults": 5000},
    )
    assert error.code == "ValidationException"
    assert error.message == (
        "3 validation errors detected: "
        f"Value 'Bad' at 'repositoryName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}; "
        "Value '' at 'imageId.imageTag' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '5000' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000"
    )


def test_validation_exception_single_null() -> None:
    error = fail("GetAccountSetting", {})
    assert error.code == "ValidationException"
    assert error.message == (
        "1 validation error detected: "
        "Value null at 'name' failed to satisfy constraint: Member must not be null"
    )


# ------------------------------------------------------------------------ types and shapes


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        (
            "ListImages",
            {"repositoryName": "app", "maxResults": "10"},
            "STRING_VALUE can not be converted to an Integer",
        ),
        (
            "ListImages",
            {"repositoryName": "app", "maxResults": True},
            "BOOLEAN_VALUE can not be converted to an Integer",
        ),
        ("CreateRepository", {"repositoryName": 5}, "NUMBER_VALUE can not be converted to a String"),
        (
            "DeleteRepository",
            {"repositoryName": "app", "force": "yes"},
            "STRING_VALUE can not be converted to a Boolean",
        ),
        (
            "BatchGetImage",
            {"repositoryName": "app", "imageIds": {"imageTag": "x"}},
            "START_OBJECT can not be converted",
        ),
        ("CreateRepository", {"repositoryName": "app", "imageScanningConfiguration": []}, "START_ARRAY"),
    ],
)
def test_type_errors_are_serialization_exceptions(operation: str, params: object, message: str) -> None:
    error = fail(operation, params)
    assert error.code == "SerializationException"
    assert message in error.message


def test_request_must_be_object() -> None:
    assert fail("ListImages", ["x"]).code == "SerializationException"


def test_unknown_members_ignored_and_nulls_dropped() -> None:
    params = {
        "repositoryName": "app",
        "nextToken": None,
        "bogus": 1,
        "filter": {"tagStatus": "TAGGED", "x": 2},
    }
    assert model.validate_input("ListImages", params) == {
        "repositoryName": "app",
        "filter": {"tagStatus": "TAGGED"},
    }


def test_blob_decoded_and_limited() -> None:
    params = {
        "repositoryName": "app",
        "uploadId": "0b3c9b2e-1f0a-4c3e-9a6b-1d2e3f4a5b6c",
        "partFirstByte": 0,
        "partLastByte": 4,
        "layerPartBlob": base64.b64encode(b"hello").decode(),
    }
    assert model.validate_input("UploadLayerPart", params)["layerPartBlob"] == b"hello"
    bad = fail("UploadLayerPart", {**params, "layerPartBlob": "not base64!"})
    assert bad.code == "SerializationException"


def test_length_counts_utf16_units() -> None:
    # 150 astral characters are 300 UTF-16 units: at the ImageTag limit of 300 ...
    ok = {"repositoryName": "app", "imageManifest": "{}", "imageTag": "\U0001f600" * 150}
    assert model.validate_input("PutImage", ok)
    # ... and one more code unit goes over it, although len() would say 151.
    error = fail("PutImage", {**ok, "imageTag": "\U0001f600" * 150 + "a"})
    assert "'Member must have length less than or equal to 300'" in error.message


def test_unknown_operation() -> None:
    error = fail("CreateBucket", {})
    assert error.code == "UnknownOperationException"


def test_operation_lists() -> None:
    names = model.operation_names()
    assert "CreateRepository" in names and "GetAuthorizationToken" in names
    assert len(names) == len(set(names)) >= 58
    pages = model.paginated_operations()
    assert pages["ListImages"].input_token == "nextToken"
    assert pages["ListImages"].limit_key == "maxResults"
    assert pages["DescribeImageScanFindings"].result_keys == (
        "imageScanFindings.findings",
        "imageScanFindings.enhancedFindings",
    )
    assert set(pages) <= set(names)


# ---------------------------------------------------------------------------- serialization


def _botocore_parse(operation: str, document: dict[str, object]) -> dict[str, object]:
    shape = model.service_model().operation_model(operation).output_shape
    parsed: dict[str, object] = create_parser("json").parse(
        {"body": json.dumps(document).encode(), "headers": {}, "status_code": 200}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_serialize_datetimes_none_and_empty_lists() -> None:
    created = dt.datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)
    result = {
        "repositories": [
            {
                "repositoryName": "app",
                "createdAt": created,
                "imageScanningConfiguration": {"scanOnPush": False},
                "encryptionConfiguration": None,
                "internalOnly": "x",
            }
        ],
        "nextToken": None,
    }
    document = model.serialize_output("DescribeRepositories", result)
    assert document == {
        "repositories": [
            {
                "repositoryName": "app",
                "createdAt": created.timestamp(),
                "imageScanningConfiguration": {"scanOnPush": False},
            }
        ]
    }
    parsed = _botocore_parse("DescribeRepositories", document)
    assert parsed["repositories"][0]["createdAt"] == created  # type: ignore[index]
    assert model.serialize_output("DescribeRepositories", {"repositories": []}) == {"repositories": []}


def test_serialize_naive_datetime_is_utc() -> None:
    naive = dt.datetime(2026, 1, 1, 0, 0, 0)
    document = model.serialize_output(
        "GetAuthorizationToken",
        {
            "authorizationData": [
                {"authorizationToken": "QVdTOng=", "expiresAt": naive, "proxyEndpoint": "https://x"}
            ]
        },
    )
    assert document["authorizationData"][0]["expiresAt"] == naive.replace(tzinfo=dt.UTC).timestamp()


def test_serialize_no_output_members() -> None:
    assert model.serialize_output("TagResource", None) == {}
    assert model.serialize_output("TagResource", {}) == {}
