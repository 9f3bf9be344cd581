"""Installed Python distributions: *.dist-info/METADATA and egg-info PKG-INFO (RFC 822 headers)."""

from __future__ import annotations

import re
from typing import BinaryIO

from packageurl import PackageURL

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB, decode
from dockyard.features.scanning.model import PYTHONPKG, Package


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_metadata(text: str) -> dict[str, str]:
    """Headers up to the first blank line (the body may contain `Name:`-looking lines)."""
    fields: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and key:
            continue  # folded continuation (long License texts); the first line is enough
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields.setdefault(key, value.strip())
    return fields


def python_package(fields: dict[str, str], path: str) -> Package | None:
    name, version = fields.get("Name"), fields.get("Version")
    if not name or not version:
        return None
    license_ = fields.get("License-Expression") or fields.get("License") or None
    if license_ and license_.upper() == "UNKNOWN":
        license_ = None
    return Package(
        name=name,
        version=version,
        ecosystem="PyPI",
        package_manager=PYTHONPKG,
        file_path=path,
        purl=PackageURL(type="pypi", name=pep503(name), version=version).to_string(),
        license=license_,
    )


class PythonAnalyzer(BaseAnalyzer):
    name = "python"
    max_size = 4 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return (
            path.endswith(".dist-info/METADATA")
            or path.endswith(".egg-info/PKG-INFO")
            or path.endswith("EGG-INFO/PKG-INFO")
            or path.endswith(".egg-info")  # egg-info as a single file (distutils installs)
        )

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        # Headers come first; the long description after them can be large and is not needed.
        p = python_package(parse_metadata(decode(f.read(256 * 1024))), path)
        return FileOutput(packages=[p] if p else [])
