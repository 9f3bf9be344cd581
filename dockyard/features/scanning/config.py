"""Registry scanning configuration (PutRegistryScanningConfiguration) and what it means for one
repository.

ECR keeps one configuration per registry: a scan type (BASIC or ENHANCED) and at most two rules,
each a scan frequency with WILDCARD repository filters. A repository's effective frequency is
decided here once, so the push hook, the continuous rescan and BatchGetRepositoryScanningConfiguration
all agree. The repository's own (legacy) ``scanOnPush`` flag still counts in BASIC mode, as on ECR;
in ENHANCED mode ECR ignores it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

BASIC, ENHANCED = "BASIC", "ENHANCED"
SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL = "SCAN_ON_PUSH", "CONTINUOUS_SCAN", "MANUAL"
WILDCARD = "WILDCARD"
SCAN_TYPES = (BASIC, ENHANCED)
FREQUENCIES = (SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL)
# When a repository matches filters of both rules, the more frequent scanning wins.
_PRECEDENCE = {CONTINUOUS_SCAN: 0, SCAN_ON_PUSH: 1, MANUAL: 2}


class ScanningConfigError(ValueError):
    """A configuration ECR refuses; ``kind`` says how: "invalid" (a value the service refuses)
    or "malformed" (outside the API model: an enum value it does not list). The doors name it."""

    def __init__(self, message: str, kind: Literal["invalid", "malformed"] = "invalid") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Rule:
    scan_frequency: str
    filters: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "scanFrequency": self.scan_frequency,
            "repositoryFilters": [{"filter": f, "filterType": WILDCARD} for f in self.filters],
        }


@dataclass(frozen=True, slots=True)
class RegistryScanningConfig:
    scan_type: str = BASIC
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"scanType": self.scan_type, "rules": [r.to_json() for r in self.rules]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RegistryScanningConfig:
        """The stored form (accounts.scanning_configuration); None is ECR's default: BASIC, no rules."""
        if not data:
            return cls()
        rules = tuple(
            Rule(
                str(r["scanFrequency"]),
                tuple(str(f["filter"]) for f in r.get("repositoryFilters") or []),
            )
            for r in data.get("rules") or []
        )
        return cls(str(data.get("scanType") or BASIC), rules)


@dataclass(frozen=True, slots=True)
class RepositoryScanning:
    """BatchGetRepositoryScanningConfiguration's view of one repository."""

    scan_type: str
    scan_frequency: str
    scan_on_push: bool
    applied_filters: tuple[str, ...]

    @property
    def scans_on_push(self) -> bool:
        return self.scan_frequency in (SCAN_ON_PUSH, CONTINUOUS_SCAN)

    @property
    def rescans(self) -> bool:
        """Re-matched when the vulnerability database changes (continuous rules, and scan on push)."""
        return self.scan_frequency in (SCAN_ON_PUSH, CONTINUOUS_SCAN)

    def to_json(self) -> dict[str, Any]:
        return {
            "scanOnPush": self.scan_on_push,
            "scanFrequency": self.scan_frequency,
            "appliedScanFilters": [{"filter": f, "filterType": WILDCARD} for f in self.applied_filters],
        }


def filter_matches(pattern: str, repository: str) -> bool:
    """ECR's WILDCARD filter: ``*`` is any run of characters; without ``*`` the filter matches
    every repository name that contains it."""
    if "*" not in pattern:
        return pattern in repository
    return fnmatch.fnmatchcase(repository, pattern.replace("[", "[[]").replace("?", "[?]"))


def parse(scan_type: str | None, rules: list[dict[str, Any]] | None) -> RegistryScanningConfig:
    """Validate a PutRegistryScanningConfiguration request (the model already checked types,
    enums, lengths and the filter pattern); the errors are ECR's."""
    kind = scan_type or BASIC
    if kind not in SCAN_TYPES:
        raise ScanningConfigError(
            f"1 validation error detected: Value '{kind}' at 'scanType' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(SCAN_TYPES)}]",
            "malformed",
        )
    parsed: list[Rule] = []
    seen: set[str] = set()
    for rule in rules or []:
        frequency = str(rule.get("scanFrequency"))
        filters = rule.get("repositoryFilters") or []
        if frequency in seen:
            raise ScanningConfigError(
                "Invalid parameter at 'rules' failed to satisfy constraint: "
                f"'Scan frequency {frequency} is specified in more than one rule'"
            )
        seen.add(frequency)
        if kind == BASIC and frequency == CONTINUOUS_SCAN:
            raise ScanningConfigError(
                "Invalid parameter at 'scanFrequency' failed to satisfy constraint: "
                "'CONTINUOUS_SCAN is not supported for scan type BASIC. "
                "Supported scan frequencies for BASIC are [SCAN_ON_PUSH, MANUAL]'"
            )
        if kind == ENHANCED and frequency == MANUAL:
            raise ScanningConfigError(
                "Invalid parameter at 'scanFrequency' failed to satisfy constraint: "
                "'MANUAL is not supported for scan type ENHANCED. "
                "Supported scan frequencies for ENHANCED are [SCAN_ON_PUSH, CONTINUOUS_SCAN]'"
            )
        if not filters:
            raise ScanningConfigError(
                "Invalid parameter at 'repositoryFilters' failed to satisfy constraint: "
                "'A rule must have at least one repository filter'"
            )
        values: list[str] = []
        for item in filters:
            if item.get("filterType") != WILDCARD:
                raise ScanningConfigError(
                    "1 validation error detected: Value at "
                    "'rules.member.repositoryFilters.member.filterType' failed to satisfy constraint: "
                    "Member must satisfy enum value set: [WILDCARD]",
                    "malformed",
                )
            value = str(item.get("filter"))
            if value not in values:
                values.append(value)
        parsed.append(Rule(frequency, tuple(values)))
    return RegistryScanningConfig(kind, tuple(parsed))


def effective(config: RegistryScanningConfig, repository: str, scan_on_push_flag: bool) -> RepositoryScanning:
    """How ``repository`` is scanned under ``config`` (plus its own scanOnPush flag in BASIC mode).

    ``scanOnPush`` is the configuration in effect, not the repository's own flag: botocore
    documents RepositoryScanningConfiguration.scanOnPush as "whether or not scan on push is
    configured for the repository", beside scanFrequency and appliedScanFilters, which describe
    what the registry's rules apply; ECR calls the repository-level flag deprecated in favour of
    those rules. So a repository created with scanOnPush=false that a SCAN_ON_PUSH rule matches
    reads true here (its pushes are scanned), while DescribeRepositories still shows its own
    ``imageScanningConfiguration`` flag unchanged.
    """
    best: tuple[str, tuple[str, ...]] | None = None
    for rule in config.rules:
        matched = tuple(f for f in rule.filters if filter_matches(f, repository))
        if not matched:
            continue
        if best is None or _PRECEDENCE[rule.scan_frequency] < _PRECEDENCE[best[0]]:
            best = (rule.scan_frequency, matched)
    if best is not None and best[0] != MANUAL:
        frequency, applied = best
        return RepositoryScanning(config.scan_type, frequency, True, applied)
    if config.scan_type == BASIC and scan_on_push_flag:
        return RepositoryScanning(BASIC, SCAN_ON_PUSH, True, ())
    applied_manual = best[1] if best is not None else ()
    return RepositoryScanning(config.scan_type, MANUAL, False, applied_manual)
