"""Version ordering per OSV ecosystem, so advisories are evaluated the way their publisher orders them.

OSV.dev itself orders Debian/Ubuntu, Alpine and RPM-family versions with (a vendored copy of)
univers, and PyPI with PEP 440, so using the same libraries keeps our answers identical to the
data's. A version one scheme cannot parse raises `UncomparableVersion`; the matcher then skips
that range (and logs) rather than guessing, because a wrong guess is a false finding or a missed one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import semver
from packaging.version import InvalidVersion as PepInvalidVersion
from packaging.version import Version as PepVersion
from univers import versions as uv

__all__ = ["UncomparableVersion", "compare", "normalize_name", "scheme_for", "sort_key"]


class UncomparableVersion(ValueError):
    """A version string the ecosystem's scheme cannot parse (so no ordering is known)."""

    def __init__(self, scheme: str, version: str, reason: str = "") -> None:
        super().__init__(f"{scheme}: cannot order version {version!r}" + (f" ({reason})" if reason else ""))
        self.scheme = scheme
        self.version = version


# OSV ecosystem (the part before the first ':') -> ordering scheme.
_SCHEMES: dict[str, str] = {
    "Debian": "deb",
    "Ubuntu": "deb",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "Rocky Linux": "rpm",
    "AlmaLinux": "rpm",
    "Red Hat": "rpm",
    "openSUSE": "rpm",
    "SUSE": "rpm",
    "Mageia": "rpm",
    "Photon OS": "rpm",
    "openEuler": "rpm",
    "Azure Linux": "rpm",
    "PyPI": "pep440",
    "Maven": "maven",
    "Go": "go",
    "npm": "semver",
    "crates.io": "semver",
    "Hex": "semver",
    "Pub": "semver",
    "RubyGems": "gem",
    "NuGet": "nuget",
    "Packagist": "composer",
}


def scheme_for(ecosystem_or_range_type: str) -> str:
    """The ordering scheme for an OSV ecosystem string ("Debian:12") or range type ("SEMVER")."""
    if ecosystem_or_range_type == "SEMVER":
        return "semver"
    base = ecosystem_or_range_type.split(":", 1)[0]
    scheme = _SCHEMES.get(base)
    if scheme is None:
        raise UncomparableVersion(ecosystem_or_range_type, "", "no ordering known for this ecosystem")
    return scheme


_SHORT_NUMERIC = re.compile(r"^\d+(\.\d+)?$")


def _semver(text: str) -> semver.Version:
    s = text.strip()
    if s[:1] in ("v", "V"):
        s = s[1:]
    if _SHORT_NUMERIC.match(s):  # "1.21" / "0": pad like node-semver's coercion of OSV's "0"
        s = ".".join([*s.split("."), "0", "0"][:3])
    return semver.Version.parse(s)


def _go(text: str) -> semver.Version:
    s = text.strip()
    if s.startswith("go"):  # stdlib versions as Go reports them: "go1.21.1", "go1.22.1 X:loopvar"
        s = s[2:].split(" ", 1)[0]
    s = s.removesuffix("+incompatible")
    # Go writes pre-releases of the toolchain as "1.21rc2"; SemVer spells that "1.21.0-rc2".
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?((?:rc|beta|alpha)\d*)$", s)
    if m:
        s = f"{m[1]}.{m[2]}.{m[3] or 0}-{m[4]}"
    return _semver(s)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "deb": uv.DebianVersion,
    "apk": uv.AlpineLinuxVersion,
    "rpm": uv.RpmVersion,
    "maven": uv.MavenVersion,
    "gem": uv.RubygemsVersion,
    "nuget": uv.NugetVersion,
    "composer": uv.ComposerVersion,
    "pep440": PepVersion,
    "semver": _semver,
    "go": _go,
}


@lru_cache(maxsize=65536)
def _parse(scheme: str, text: str) -> Any:
    if not text or text.strip() != text:
        raise UncomparableVersion(scheme, text, "empty or padded")
    try:
        return _PARSERS[scheme](text)
    except (ValueError, TypeError, PepInvalidVersion, uv.InvalidVersion) as e:
        raise UncomparableVersion(scheme, text, str(e)) from None


def sort_key(ecosystem_or_range_type: str, version: str) -> Any:
    """A value that orders like the version does (for sorted()/min()); raises UncomparableVersion."""
    return _parse(scheme_for(ecosystem_or_range_type), version)


def compare(ecosystem_or_range_type: str, a: str, b: str) -> int:
    """-1, 0 or 1 as a orders before, equal to or after b in the given ecosystem or range type."""
    return _compare(scheme_for(ecosystem_or_range_type), a, b)


@lru_cache(maxsize=262144)
def _compare(scheme: str, a: str, b: str) -> int:
    # Cached: a rescan compares the same installed versions with the same fixed versions again,
    # and univers' dpkg comparison is pure Python.
    va, vb = _parse(scheme, a), _parse(scheme, b)
    try:
        return -1 if va < vb else (1 if va > vb else 0)
    except TypeError as e:  # univers refuses to compare some mixed forms
        raise UncomparableVersion(scheme, f"{a} vs {b}", str(e)) from None


_PEP503 = re.compile(r"[-_.]+")


def normalize_name(ecosystem: str, name: str) -> str:
    """The package name as advisories key it: PEP 503 for PyPI, unchanged elsewhere."""
    if ecosystem == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name
