"""File analyzers: each decides from a tar member's path, mode and size whether it wants the file,
and turns its bytes into packages, OS facts or a list of OS-owned files.

Analyzers only see one layer's files, never the merged filesystem: results are keyed by path and
merged later (apply.py), which is what makes per-layer caching possible. OS packages come out
without an ecosystem (the layer does not know which OS it belongs to); apply.py fills it in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from dockyard.features.scanning.model import Package

KiB = 1024
MiB = 1024 * KiB


@dataclass(slots=True)
class FileOutput:
    """What one file contributed: packages, OS facts (raw key/values), files owned by the OS."""

    packages: list[Package] = field(default_factory=list)
    os: dict[str, str] | None = None
    owned: list[str] | None = None
    notes: list[str] = field(default_factory=list)


class Analyzer(Protocol):
    name: str
    # Files larger than this are skipped (with a note) rather than read.
    max_size: int
    # Whether the file is read into memory (small text files) or spooled to a temp file.
    spool: bool

    def wants(self, path: str, mode: int, size: int) -> bool:
        """Decide from metadata alone; `path` is normalised (no leading slash)."""
        ...

    def magic_ok(self, head: bytes) -> bool:
        """Second gate on the first bytes, so only real candidates get spooled."""
        ...

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput: ...


class BaseAnalyzer(ABC):
    """Defaults: small text files read into memory, no content gate."""

    name = "base"
    max_size = 8 * MiB
    spool = False

    @abstractmethod
    def wants(self, path: str, mode: int, size: int) -> bool: ...

    def magic_ok(self, head: bytes) -> bool:
        return True

    @abstractmethod
    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput: ...


def decode(data: bytes) -> str:
    """Package databases are UTF-8 in practice; never fail a scan on a stray byte."""
    return data.decode("utf-8", errors="replace")


def all_analyzers() -> list[Analyzer]:
    from dockyard.features.scanning.analyzers.apk import ApkAnalyzer
    from dockyard.features.scanning.analyzers.binary import BinaryAnalyzer
    from dockyard.features.scanning.analyzers.dpkg import DpkgAnalyzer
    from dockyard.features.scanning.analyzers.java import JavaAnalyzer
    from dockyard.features.scanning.analyzers.npm import NpmAnalyzer
    from dockyard.features.scanning.analyzers.os_release import OsReleaseAnalyzer
    from dockyard.features.scanning.analyzers.python import PythonAnalyzer
    from dockyard.features.scanning.analyzers.rpm import RpmAnalyzer
    from dockyard.features.scanning.analyzers.ruby import RubyAnalyzer

    return [
        OsReleaseAnalyzer(),
        DpkgAnalyzer(),
        ApkAnalyzer(),
        RpmAnalyzer(),
        PythonAnalyzer(),
        NpmAnalyzer(),
        JavaAnalyzer(),
        RubyAnalyzer(),
        BinaryAnalyzer(),
    ]
