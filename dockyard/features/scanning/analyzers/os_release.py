"""OS identification files: os-release (both locations, since etc/os-release is usually a symlink
that the layer walker does not follow) and the distribution-specific release files."""

from __future__ import annotations

import shlex
from typing import BinaryIO

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, KiB, decode

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
# Single-line release files; apply.py knows what each means.
RELEASE_FILES = (
    "etc/debian_version",
    "etc/alpine-release",
    "etc/lsb-release",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/fedora-release",
    "etc/system-release",
    "etc/apk/repositories",
)


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting; malformed lines are ignored, as systemd does."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        out[key.strip()] = " ".join(parts)
    return out


class OsReleaseAnalyzer(BaseAnalyzer):
    name = "os-release"
    max_size = 64 * KiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path in OS_RELEASE or path in RELEASE_FILES

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        text = decode(f.read(self.max_size))
        if path in OS_RELEASE:
            fields = parse_os_release(text)
            return FileOutput(os=fields if fields.get("ID") else None)
        if path == "etc/lsb-release":
            return FileOutput(os=parse_os_release(text) or None)
        if path == "etc/apk/repositories":
            repos = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
            return FileOutput(os={"repositories": "\n".join(repos)})
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return FileOutput(os={"content": first} if first else None)
