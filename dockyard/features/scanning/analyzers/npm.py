"""npm: package.json at package roots under node_modules (name or @scope/name right after the last
node_modules segment), so helper manifests like rxjs/ajax/package.json are not mistaken for packages."""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from packageurl import PackageURL

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB
from dockyard.features.scanning.model import NODEPKG, Package


def is_package_root(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json" or "node_modules" not in parts[:-1]:
        return False
    last = len(parts) - 1 - parts[::-1].index("node_modules")
    rest = parts[last + 1 : -1]
    if len(rest) == 1:
        return not rest[0].startswith("@") and rest[0] not in ("", ".bin")
    return len(rest) == 2 and rest[0].startswith("@")


def npm_license(data: dict[str, Any]) -> str | None:
    lic = data.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if isinstance(lic, str) and lic:
        return lic
    lics = data.get("licenses")
    if isinstance(lics, list):
        raw = [x.get("type") if isinstance(x, dict) else x for x in lics]
        names = [n for n in raw if isinstance(n, str) and n]
        return " OR ".join(names) or None
    return None


def npm_package(data: Any, path: str) -> Package | None:
    if not isinstance(data, dict):
        return None
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    namespace, _, short = name.rpartition("/")
    purl = PackageURL(type="npm", namespace=namespace or None, name=short, version=version).to_string()
    return Package(
        name=name,
        version=version,
        ecosystem="npm",
        package_manager=NODEPKG,
        file_path=path,
        purl=purl,
        license=npm_license(data),
    )


class NpmAnalyzer(BaseAnalyzer):
    name = "npm"
    max_size = 2 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.endswith("/package.json") and is_package_root(path)

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        try:
            data = json.loads(f.read(self.max_size))
        except (ValueError, UnicodeDecodeError):
            return FileOutput(notes=[f"{path}: invalid JSON"])
        p = npm_package(data, path)
        return FileOutput(packages=[p] if p else [])
