"""Registry scanning configuration: validation as ECR does it, WILDCARD filters, and the
effective configuration of one repository."""

from __future__ import annotations

import pytest

from dockyard.ecr.errors import from_validation
from dockyard.features.scanning import config as sc


def rule(frequency: str, *filters: str) -> dict[str, object]:
    return {
        "scanFrequency": frequency,
        "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters],
    }


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("prod", "prod", True),
        ("prod", "team/prod-api", True),  # no '*': "contains"
        ("prod", "production", True),
        ("prod", "staging", False),
        ("prod*", "production", True),
        ("prod*", "team/prod", False),  # with '*': the whole name
        ("*", "anything/at/all", True),
        ("team/*", "team/api", True),
        ("team/*", "other/team/api", False),
        ("*-api", "team/x-api", True),
        ("*-api", "team/x-api-v2", False),
    ],
)
def test_wildcard_filters(pattern: str, name: str, expected: bool) -> None:
    assert sc.filter_matches(pattern, name) is expected


def test_parse_round_trip_and_defaults() -> None:
    parsed = sc.parse("ENHANCED", [rule("CONTINUOUS_SCAN", "prod*"), rule("SCAN_ON_PUSH", "*")])
    assert parsed.to_json() == {
        "scanType": "ENHANCED",
        "rules": [rule("CONTINUOUS_SCAN", "prod*"), rule("SCAN_ON_PUSH", "*")],
    }
    assert sc.RegistryScanningConfig.from_json(parsed.to_json()) == parsed
    assert sc.RegistryScanningConfig.from_json(None).to_json() == {"scanType": "BASIC", "rules": []}
    assert sc.parse(None, None).to_json() == {"scanType": "BASIC", "rules": []}


@pytest.mark.parametrize(
    ("scan_type", "rules", "code", "fragment"),
    [
        (
            "BASIC",
            [rule("CONTINUOUS_SCAN", "*")],
            "InvalidParameterException",
            "not supported for scan type BASIC",
        ),
        (
            "ENHANCED",
            [rule("MANUAL", "*")],
            "InvalidParameterException",
            "not supported for scan type ENHANCED",
        ),
        (
            "BASIC",
            [rule("SCAN_ON_PUSH", "a"), rule("SCAN_ON_PUSH", "b")],
            "InvalidParameterException",
            "more than one rule",
        ),
        ("BASIC", [rule("SCAN_ON_PUSH")], "InvalidParameterException", "at least one repository filter"),
        ("FAST", [], "ValidationException", "enum value set: [BASIC, ENHANCED]"),
    ],
)
def test_invalid_configurations(
    scan_type: str, rules: list[dict[str, object]], code: str, fragment: str
) -> None:
    with pytest.raises(sc.ScanningConfigError) as info:
        sc.parse(scan_type, rules)
    assert from_validation(info.value.kind, info.value.message).code == code
    assert fragment in info.value.message


def test_effective_configuration() -> None:
    basic = sc.parse("BASIC", [rule("SCAN_ON_PUSH", "prod")])
    hit = sc.effective(basic, "team/prod-api", scan_on_push_flag=False)
    assert hit.to_json() == {
        "scanOnPush": True,
        "scanFrequency": "SCAN_ON_PUSH",
        "appliedScanFilters": [{"filter": "prod", "filterType": "WILDCARD"}],
    }
    assert hit.scans_on_push and hit.rescans
    miss = sc.effective(basic, "dev/api", scan_on_push_flag=False)
    assert (miss.scan_frequency, miss.scan_on_push, miss.scans_on_push) == ("MANUAL", False, False)
    # BASIC honours the repository's own scanOnPush flag when no rule matches.
    flagged = sc.effective(basic, "dev/api", scan_on_push_flag=True)
    assert (flagged.scan_frequency, flagged.scan_on_push, flagged.applied_filters) == (
        "SCAN_ON_PUSH",
        True,
        (),
    )

    enhanced = sc.parse("ENHANCED", [rule("SCAN_ON_PUSH", "*"), rule("CONTINUOUS_SCAN", "prod*")])
    # Both rules match: continuous scanning wins.
    both = sc.effective(enhanced, "prod-api", scan_on_push_flag=False)
    assert (both.scan_type, both.scan_frequency, both.applied_filters) == (
        "ENHANCED",
        "CONTINUOUS_SCAN",
        ("prod*",),
    )
    assert sc.effective(enhanced, "dev", scan_on_push_flag=False).scan_frequency == "SCAN_ON_PUSH"
    # ENHANCED ignores the repository flag.
    only_flag = sc.parse("ENHANCED", [rule("CONTINUOUS_SCAN", "prod*")])
    assert sc.effective(only_flag, "dev", scan_on_push_flag=True).scan_frequency == "MANUAL"
