"""Installed Ruby gems: the `specifications/*.gemspec` stubs RubyGems writes at install time."""

from __future__ import annotations

import re
from typing import BinaryIO

from packageurl import PackageURL

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB, decode
from dockyard.features.scanning.model import GEMSPEC, Package

# Trivy's expressions; `.version` needs the dot, so required_ruby_version never matches.
NAME_RE = re.compile(r"""\.name\s*=\s*["']([^"']+)["']""")
VERSION_RE = re.compile(r"""\.version\s*=\s*["']([^"']+)["']""")
LICENSE_RE = re.compile(r"""\.license\s*=\s*["']([^"']+)["']""")
LICENSES_RE = re.compile(r"""\.licenses\s*=\s*\[(.+)\]""")


def parse_gemspec(text: str, path: str) -> Package | None:
    name, version = NAME_RE.search(text), VERSION_RE.search(text)
    if not name or not version:
        return None
    license_: str | None = None
    if m := LICENSES_RE.search(text):
        names = re.findall(r"""["']([^"']+)["']""", m.group(1))
        license_ = " AND ".join(names) or None
    elif m := LICENSE_RE.search(text):
        license_ = m.group(1)
    n, v = name.group(1), version.group(1)
    return Package(
        name=n,
        version=v,
        ecosystem="RubyGems",
        package_manager=GEMSPEC,
        file_path=path,
        purl=PackageURL(type="gem", name=n, version=v).to_string(),
        license=license_,
    )


class RubyAnalyzer(BaseAnalyzer):
    name = "ruby"
    max_size = 1 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.endswith(".gemspec") and "/specifications/" in "/" + path

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        p = parse_gemspec(decode(f.read(self.max_size)), path)
        return FileOutput(packages=[p] if p else [])
