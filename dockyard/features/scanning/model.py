"""What scanning passes between its parts: packages found in an image, and vulnerabilities matched.

Detection (layers -> Inventory), the vulnerability database (Inventory -> Findings) and the
ECR front (Findings -> DescribeImageScanFindings) only meet through these types, and each
round-trips through JSON because inventories and findings are stored in the metadata database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Inspector2's packageManager enum values used for enhanced findings.
OS = "OS"
PYTHONPKG = "PYTHONPKG"
NODEPKG = "NODEPKG"
GOBINARY = "GOBINARY"
JAR = "JAR"
CARGO = "CARGO"
GEMSPEC = "GEMSPEC"

# ECR FindingSeverity values, most severe first.
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")


@dataclass(frozen=True, slots=True)
class OsInfo:
    id: str  # os-release ID: "debian", "alpine", "ubuntu", "rocky"...
    version_id: str  # "12", "3.19.1", "22.04"
    pretty_name: str | None = None
    # The OSV ecosystem its packages are advised under ("Debian:12", "Alpine:v3.19",
    # "Ubuntu:22.04:LTS"), or None for a distribution we have no advisory source for.
    ecosystem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OsInfo:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Package:
    name: str  # binary package / distribution name as installed
    version: str  # as installed ("1:1.2.13.dfsg-1", "3.1.4-r0", "2.0.5")
    # OSV ecosystem to look it up in: "Debian:12", "Alpine:v3.19", "PyPI", "npm", "Go", "Maven",
    # "crates.io"; None when no advisory source applies.
    ecosystem: str | None
    package_manager: str  # OS, PYTHONPKG, NODEPKG, GOBINARY, JAR, CARGO, GEMSPEC
    file_path: str  # the file it was found in (status db, METADATA, package.json, binary, jar)
    layer_digest: str | None = None  # the layer that last wrote file_path
    source_name: str | None = None  # dpkg Source / apk origin / rpm source package
    source_version: str | None = None
    arch: str | None = None
    purl: str | None = None
    license: str | None = None

    @property
    def lookup_name(self) -> str:
        """Distros advise on source packages; everything else on the package itself."""
        return self.source_name or self.name

    @property
    def lookup_version(self) -> str:
        return self.source_version or self.version

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Package:
        return cls(**{"ecosystem": None, **data})  # to_json() leaves out a None ecosystem


@dataclass(slots=True)
class Inventory:
    """Everything installed in one image, after all layers (and their whiteouts) are applied."""

    os: OsInfo | None
    packages: list[Package] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "os": self.os.to_json() if self.os else None,
            "packages": [p.to_json() for p in self.packages],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inventory:
        os_data = data.get("os")
        return cls(
            os=OsInfo.from_json(os_data) if os_data else None,
            packages=[Package.from_json(p) for p in data.get("packages", [])],
        )


@dataclass(frozen=True, slots=True)
class Cvss:
    version: str  # "2.0", "3.1", "4.0"
    vector: str  # as published ("AV:N/AC:L/..." for v2, "CVSS:3.1/AV:N/..." for v3)
    base_score: float
    source: str | None = None  # "NVD", "GHSA", "DEBIAN"...


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability affecting one installed package (ECR and Trivy report per binary package)."""

    vulnerability_id: str  # CVE id when there is one, else the advisory id (GHSA-..., GO-...)
    package: Package
    severity: str  # one of SEVERITIES
    description: str
    uri: str  # advisory page (distro tracker for distro packages)
    advisory_ids: tuple[str, ...]  # every record that reported it (DSA-..., DEBIAN-CVE-..., GHSA-...)
    fixed_version: str | None  # smallest fixed version above the installed one; None = no fix
    source: str  # Inspector-style source: "DEBIAN_CVE", "ALPINE_SEC", "GITHUB", "GO_VULNDB", "OSV"
    cvss: tuple[Cvss, ...] = ()
    vendor_severity: str | None = None  # the advisory's own word ("medium", "MODERATE", "unimportant")
    related: tuple[str, ...] = ()  # other CVE ids/aliases of the same issue
    references: tuple[str, ...] = ()
    published: str | None = None  # ISO 8601, from the advisory
    modified: str | None = None

    @property
    def key(self) -> str:
        """Stable identity across rescans (for firstObservedAt and findingArn)."""
        p = self.package
        return f"{self.vulnerability_id}|{p.ecosystem}|{p.name}|{p.version}|{p.file_path}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["package"] = self.package.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        data = dict(data)
        data["package"] = Package.from_json(data["package"])
        data["cvss"] = tuple(Cvss(**c) for c in data.get("cvss") or ())
        for name in ("advisory_ids", "related", "references"):
            data[name] = tuple(data.get(name) or ())
        return cls(**data)
