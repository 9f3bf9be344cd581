"""dpkg: the status database, distroless status.d/ (one file per package) and the info/ file lists
that say which files belong to OS packages (used to drop language packages dpkg installed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB, decode
from dockyard.features.scanning.model import OS, Package

STATUS = ("var/lib/dpkg/status",)
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
# Companion files next to distroless status.d entries; package names themselves contain dots.
STATUS_D_SKIP = (".md5sums", ".list", ".conffiles", ".preinst", ".postinst", ".prerm", ".postrm")
SOURCE_RE = re.compile(r"(?P<name>\S+)(?:\s+\((?P<version>[^)]*)\))?")


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs; continuation lines (leading space/tab) extend the previous field."""
    fields: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                fields[key] += "\n" + line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    if fields:
        yield fields


def installed(status: str | None) -> bool:
    """Trivy's rule: any `deinstall` or `purge` word means not installed (e.g. `rc` packages)."""
    return not status or not ({"deinstall", "purge"} & set(status.split()))


def package_from(fields: dict[str, str], path: str) -> Package | None:
    name, version = fields.get("Package"), fields.get("Version")
    if not name or not version or not installed(fields.get("Status")):
        return None
    src_name, src_version = name, version
    m = SOURCE_RE.match(fields.get("Source", ""))
    if m:
        src_name = m.group("name")
        src_version = m.group("version") or version
    return Package(
        name=name,
        version=version,
        ecosystem=None,
        package_manager=OS,
        file_path=path,
        source_name=src_name,
        source_version=src_version,
        arch=fields.get("Architecture") or None,
    )


def parse_status(text: str, path: str) -> list[Package]:
    return [p for f in paragraphs(text) if (p := package_from(f, path)) is not None]


def parse_owned(text: str, md5sums: bool) -> list[str]:
    """`.list` lines are absolute paths; `.md5sums` lines are `<md5>  <relative path>`."""
    out = []
    for line in text.splitlines():
        if md5sums:
            parts = line.split(None, 1)
            if len(parts) != 2:
                continue
            entry = parts[1]
        else:
            entry = line
        entry = entry.strip().lstrip("/")
        if entry and entry != ".":
            out.append(entry)
    return out


class DpkgAnalyzer(BaseAnalyzer):
    name = "dpkg"
    max_size = 64 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        if path in STATUS:
            return True
        if path.startswith(STATUS_D):
            return "/" not in path[len(STATUS_D) :]
        if path.startswith(INFO):
            return "/" not in path[len(INFO) :] and path.endswith((".list", ".md5sums"))
        return False

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        text = decode(f.read(self.max_size))
        if path.startswith(INFO):
            return FileOutput(owned=parse_owned(text, path.endswith(".md5sums")))
        if path.startswith(STATUS_D):
            if path.endswith(".md5sums"):
                return FileOutput(owned=parse_owned(text, True))
            if path.endswith(STATUS_D_SKIP):
                return FileOutput()
        return FileOutput(packages=parse_status(text, path))
