"""Merge per-layer results into one image inventory, with Trivy's layer semantics.

For each layer in order: first its whiteouts and opaque directories delete what lower layers
contributed (never the layer's own files), then every file the layer's analyzers read replaces
the lower copy. Packages remember the layer that last wrote their file (ECR's sourceLayerHash).
After that the OS is identified, OS packages get its OSV ecosystem, and language packages whose
files an OS package installed are dropped (the OS advisory covers them, as in Trivy).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Iterable
from typing import TypeVar

from packageurl import PackageURL

from dockyard.features.scanning.layers import LayerResult
from dockyard.features.scanning.model import OS, Inventory, OsInfo, Package

T = TypeVar("T")

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
RELEASE_FILE_IDS = {
    "etc/rocky-release": "rocky",
    "etc/almalinux-release": "almalinux",
    "etc/centos-release": "centos",
    "etc/fedora-release": "fedora",
    "etc/redhat-release": "rhel",
}
# purl namespaces name the vendor; otherwise the os-release ID is used, as syft does.
PURL_VENDOR = {"rhel": "redhat"}
# Ubuntu LTS releases, for os-release files whose VERSION does not say "LTS".
UBUNTU_LTS = {"14.04", "16.04", "18.04", "20.04", "22.04", "24.04", "26.04"}


def _hidden(path: str, whiteouts: set[str], opaque: set[str]) -> bool:
    """Whether a lower-layer path is removed by this layer's whiteouts/opaque markers."""
    if path in whiteouts:
        return True
    parent = path
    while parent:
        parent = posixpath.dirname(parent)
        if parent in opaque or parent in whiteouts:
            return True
    return "" in opaque


def _merge(
    state: dict[str, T], layer: dict[str, T], analyzed: Iterable[str], wo: set[str], op: set[str]
) -> None:
    if wo or op:
        for path in [p for p in state if _hidden(p, wo, op)]:
            del state[path]
    for path in analyzed:
        state.pop(path, None)
    state.update(layer)


def apply_layers(layers: list[tuple[str, LayerResult]]) -> Inventory:
    """`layers` are (layer digest, result) from the bottom layer up."""
    packages: dict[str, tuple[str, list[Package]]] = {}
    os_info: dict[str, dict[str, str]] = {}
    owned: dict[str, list[str]] = {}
    for digest, result in layers:
        wo, op = set(result.whiteouts), set(result.opaque_dirs)
        analyzed = result.analyzed
        _merge(packages, {k: (digest, v) for k, v in result.packages.items()}, analyzed, wo, op)
        _merge(os_info, result.os_info, analyzed, wo, op)
        _merge(owned, result.owned_files, analyzed, wo, op)

    os = detect_os(os_info)
    owned_paths = {p for paths in owned.values() for p in paths}
    os_packages: list[Package] = []
    language: list[Package] = []
    for path in sorted(packages):
        digest, pkgs = packages[path]
        for p in pkgs:
            if p.package_manager == OS:
                os_packages.append(_os_package(p, os, digest))
            elif path not in owned_paths:
                language.append(dataclasses.replace(p, layer_digest=digest))
    return Inventory(os=os, packages=os_packages + language)


# ------------------------------------------------------------------------------------------ OS
def detect_os(files: dict[str, dict[str, str]]) -> OsInfo | None:
    release: dict[str, str] = {}
    for path in reversed(OS_RELEASE_PATHS):  # etc/os-release wins over usr/lib/os-release
        release.update(files.get(path) or {})
    content = {p: v.get("content", "") for p, v in files.items() if "content" in v}
    os_id = release.get("ID", "").strip().lower()
    version = release.get("VERSION_ID", "").strip()
    pretty = release.get("PRETTY_NAME") or None
    if not os_id:
        if "etc/debian_version" in content:
            os_id = "debian"
        elif "etc/alpine-release" in content:
            os_id, version = "alpine", content["etc/alpine-release"]
        else:
            for path, rid in RELEASE_FILE_IDS.items():
                if path in content:
                    os_id = rid
                    m = re.search(r"release\s+(\d[\w.]*)", content[path])
                    version = m.group(1) if m else ""
                    pretty = content[path]
                    break
    if not os_id:
        return None
    if os_id == "debian":
        dv = content.get("etc/debian_version", "")
        if not version and dv:
            version = dv
    if os_id == "alpine" and not version:
        version = content.get("etc/alpine-release", "")
    ecosystem = os_ecosystem(os_id, version, release, files, content)
    return OsInfo(id=os_id, version_id=version, pretty_name=pretty, ecosystem=ecosystem)


def _major(version: str) -> str | None:
    m = re.match(r"(\d+)", version)
    return m.group(1) if m else None


def _major_minor(version: str) -> str | None:
    m = re.match(r"(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def os_ecosystem(
    os_id: str,
    version: str,
    release: dict[str, str],
    files: dict[str, dict[str, str]],
    content: dict[str, str],
) -> str | None:
    """The OSV ecosystem string for the distribution release, or None if no advisories exist."""
    if os_id == "debian":
        # Trivy matches Debian on the major version, preferring etc/debian_version (`12.5`).
        major = _major(content.get("etc/debian_version", "")) or _major(version)
        return f"Debian:{major}" if major else None
    if os_id == "ubuntu":
        mm = _major_minor(version)
        if not mm:
            return None
        lts = "LTS" in release.get("VERSION", "") or mm in UBUNTU_LTS
        return f"Ubuntu:{mm}:LTS" if lts else f"Ubuntu:{mm}"
    if os_id == "alpine":
        repos = (files.get("etc/apk/repositories") or {}).get("repositories", "")
        branches = set(re.findall(r"/(v\d+\.\d+|edge)/", repos))
        if branches == {"edge"} or "_alpha" in version:
            return None  # edge has no advisory branch
        mm = _major_minor(version)
        return f"Alpine:v{mm}" if mm else None
    if os_id == "rocky":
        major = _major(version)
        return f"Rocky Linux:{major}" if major else None
    if os_id == "almalinux":
        major = _major(version)
        return f"AlmaLinux:{major}" if major else None
    if os_id == "wolfi":
        return "Wolfi"
    if os_id == "chainguard":
        return "Chainguard"
    if os_id == "opensuse-leap" and version:
        return f"openSUSE:Leap {version}"
    if os_id == "sles":
        pretty = release.get("PRETTY_NAME", "")
        return f"SUSE:{pretty.removeprefix('SUSE ')}" if pretty.startswith("SUSE ") else None
    if os_id == "mageia" and _major(version):
        return f"Mageia:{_major(version)}"
    if os_id == "photon" and version:
        return f"Photon OS:{version}"
    if os_id == "azurelinux" and _major(version):
        return f"Azure Linux:{_major(version)}"
    return None  # rhel/centos (Red Hat data needs repository CPEs), fedora, unknown


def _os_pkg_type(file_path: str) -> str:
    if "/dpkg/" in file_path:
        return "deb"
    if "/apk/" in file_path:
        return "apk"
    return "rpm"


def _os_package(p: Package, os: OsInfo | None, digest: str) -> Package:
    """Attach the OS ecosystem and a syft-style purl (distro qualifier, upstream source)."""
    qualifiers: dict[str, str] = {}
    if p.arch:
        qualifiers["arch"] = p.arch
    if os:
        qualifiers["distro"] = f"{os.id}-{os.version_id}" if os.version_id else os.id
    kind = _os_pkg_type(p.file_path)
    version = p.version
    if kind == "rpm" and ":" in version:
        # purl spec: rpm versions are version-release, the epoch goes into a qualifier.
        epoch, version = version.split(":", 1)
        qualifiers["epoch"] = epoch
    # `upstream` as syft writes it: the source RPM file name; for deb/apk the source package,
    # with `@version` when a binNMU made the binary version differ.
    if kind == "rpm" and p.source_name and p.source_version:
        qualifiers["upstream"] = f"{p.source_name}-{p.source_version.split(':', 1)[-1]}.src.rpm"
    elif p.source_name and p.source_name != p.name:
        upstream = p.source_name
        if p.source_version and p.source_version != p.version:
            upstream += f"@{p.source_version}"
        qualifiers["upstream"] = upstream
    purl = PackageURL(
        type=kind,
        namespace=PURL_VENDOR.get(os.id, os.id) if os else None,
        name=p.name,
        version=version,
        qualifiers=qualifiers or None,
    ).to_string()
    return dataclasses.replace(p, ecosystem=os.ecosystem if os else None, layer_digest=digest, purl=purl)
