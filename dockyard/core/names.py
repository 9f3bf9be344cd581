"""Repository names and tags: the grammar shared by OCI and ECR."""

from __future__ import annotations

import re

from dockyard.core.errors import NameInvalid, TagInvalid

# OCI distribution-spec name grammar; ECR uses the same components and limits names to 2-256.
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
NAME_MIN, NAME_MAX = 2, 256


def validate_repository_name(name: str) -> str:
    if not (NAME_MIN <= len(name) <= NAME_MAX):
        raise NameInvalid(
            f"invalid repository name {name[:300]!r}: must be {NAME_MIN} to {NAME_MAX} characters long"
        )
    if not _NAME_RE.fullmatch(name):
        raise NameInvalid(
            f"invalid repository name {name!r}: use lowercase letters, digits and separators "
            "('.', '_', '__', '-') between them, with '/' between path components"
        )
    return name


def validate_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise TagInvalid(
            f"invalid tag {tag[:200]!r}: up to 128 characters of letters, digits, '_', '.', '-', "
            "not starting with '.' or '-'"
        )
    return tag
