"""apk: lib/apk/db/installed, blank-line separated records of `X:value` lines."""

from __future__ import annotations

from typing import BinaryIO

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB, decode
from dockyard.features.scanning.model import OS, Package

INSTALLED = ("lib/apk/db/installed", "usr/lib/apk/db/installed")


def parse_installed(text: str, path: str) -> tuple[list[Package], list[str]]:
    """Packages (origin = source package, the name advisories use) and every owned file (F:+R:)."""
    packages: list[Package] = []
    owned: list[str] = []
    record: dict[str, str] = {}
    directory = ""

    def flush() -> None:
        name, version = record.get("P"), record.get("V")
        if name and version:
            packages.append(
                Package(
                    name=name,
                    version=version,
                    ecosystem=None,
                    package_manager=OS,
                    file_path=path,
                    source_name=record.get("o") or name,
                    source_version=version,
                    arch=record.get("A") or None,
                    license=record.get("L") or None,
                )
            )

    for line in text.splitlines():
        if not line.strip():
            flush()
            record, directory = {}, ""
            continue
        if len(line) < 2 or line[1] != ":":
            continue
        key, value = line[0], line[2:]
        if key == "F":
            directory = value.strip("/")
        elif key == "R":
            owned.append(f"{directory}/{value}" if directory else value)
        elif key not in record:
            record[key] = value
    flush()
    return packages, owned


class ApkAnalyzer(BaseAnalyzer):
    name = "apk"
    max_size = 64 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path in INSTALLED

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        packages, owned = parse_installed(decode(f.read(self.max_size)), path)
        return FileOutput(packages=packages, owned=owned)
