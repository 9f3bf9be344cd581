"""Java archives: pom.properties (every one, so shaded dependencies count), else MANIFEST.MF,
else the file name; nested archives (BOOT-INF/lib, WEB-INF/lib) are opened recursively."""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from typing import BinaryIO

from packageurl import PackageURL

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB, decode
from dockyard.features.scanning.model import JAR, Package

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par")
NESTED_MAX = 256 * MiB  # bigger nested archives are skipped with a note
NESTED_IN_MEMORY = 4 * MiB
MAX_DEPTH = 3
FILENAME_RE = re.compile(r"^(?P<artifact>[A-Za-z][\w.\-]*?)-(?P<version>\d[\w.\-+]*)$")


def parse_properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_manifest(text: str) -> dict[str, str]:
    """Main section only; lines wrapped at 72 bytes continue with a single leading space."""
    out: dict[str, str] = {}
    key: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            break
        if line.startswith(" ") and key:
            out[key] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def maven_package(group: str | None, artifact: str, version: str, path: str) -> Package:
    name = f"{group}:{artifact}" if group else artifact
    purl = PackageURL(type="maven", namespace=group or None, name=artifact, version=version).to_string()
    return Package(
        name=name, version=version, ecosystem="Maven", package_manager=JAR, file_path=path, purl=purl
    )


def _usable(v: str | None) -> bool:
    return bool(v) and "${" not in (v or "")


def _header(m: dict[str, str], *names: str) -> str | None:
    """First usable value; `%key` values are OSGi localisation placeholders, not names."""
    for name in names:
        v = m.get(name, "").strip()
        if v and not v.startswith("%"):
            return v
    return None


def _clean_version(v: str) -> str:
    """`5.13.0 (b0)` -> `5.13.0`; `1.8.21-release-380(1.8.21)` -> `1.8.21-release-380`."""
    return v.split()[0].split("(")[0] if v.split() else v


def from_manifest(m: dict[str, str], filename: tuple[str, str] | None) -> tuple[str | None, str, str] | None:
    """Trivy's precedence: Implementation-* first, then Specification-*, then the OSGi bundle.
    A Maven-style file name (artifactId-version.jar) beats human-readable titles for the
    artifact and version; the manifest still supplies the group."""
    bundle = (_header(m, "Bundle-SymbolicName") or "").split(";")[0].strip()
    artifact = _header(m, "Implementation-Title", "Specification-Title", "Bundle-Name")
    version = _header(m, "Implementation-Version", "Specification-Version", "Bundle-Version")
    if filename:
        artifact, version = filename
    if not artifact or not version or not _usable(version):
        return None
    group = _header(m, "Implementation-Vendor-Id", "Specification-Vendor-Id")
    if not group and bundle:
        # com.fasterxml.jackson.core.jackson-databind -> com.fasterxml.jackson.core
        if bundle.endswith("." + artifact):
            group = bundle[: -len(artifact) - 1]
        elif "." in bundle:
            group = bundle.rsplit(".", 1)[0]
    if group and " " in group:
        group = None
    if " " in artifact and bundle:
        artifact = bundle.rsplit(".", 1)[-1]
    return group, artifact, _clean_version(version)


def _read_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = 1 * MiB) -> bytes:
    """At most `limit` bytes of a member: a metadata file inflating to gigabytes is not read."""
    with zf.open(info) as member:
        return member.read(limit)


def analyze_archive(zf: zipfile.ZipFile, path: str, notes: list[str], depth: int = 0) -> list[Package]:
    packages: list[Package] = []
    seen: set[tuple[str, str]] = set()
    manifest: dict[str, str] = {}
    nested: list[zipfile.ZipInfo] = []
    for info in zf.infolist():
        name = info.filename
        if info.is_dir():
            continue
        if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
            props = parse_properties(decode(_read_head(zf, info)))
            g, a, v = props.get("groupId"), props.get("artifactId"), props.get("version")
            if g and a and v and _usable(v) and (f"{g}:{a}", v) not in seen:
                seen.add((f"{g}:{a}", v))
                packages.append(maven_package(g, a, v, path))
        elif name.upper() == "META-INF/MANIFEST.MF":
            manifest = parse_manifest(decode(_read_head(zf, info)))
        elif name.lower().endswith(ARCHIVE_SUFFIXES):
            nested.append(info)
    if not packages:
        stem = path.rsplit("/", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)[0]
        m = FILENAME_RE.match(stem)
        filename = (m.group("artifact"), m.group("version")) if m else None
        found = from_manifest(manifest, filename)
        if found is None and filename:
            found = (None, *filename)
        if found:
            packages.append(maven_package(*found, path))
    for info in nested:
        inner = f"{path}:{info.filename}"
        if depth + 1 > MAX_DEPTH:
            notes.append(f"{inner}: nested too deep")
            continue
        if info.file_size > NESTED_MAX:
            notes.append(f"{inner}: nested archive over {NESTED_MAX} bytes skipped")
            continue
        try:
            # Spooled: small nested jars stay in memory, big ones go to a temp file.
            with tempfile.SpooledTemporaryFile(max_size=NESTED_IN_MEMORY) as spool:
                with zf.open(info) as member:
                    shutil.copyfileobj(member, spool, 1 * MiB)
                spool.seek(0)
                with zipfile.ZipFile(spool) as inner_zf:
                    packages.extend(analyze_archive(inner_zf, inner, notes, depth + 1))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            notes.append(f"{inner}: not a readable archive ({e})")
    return packages


class JavaAnalyzer(BaseAnalyzer):
    name = "java"
    max_size = 1024 * MiB
    spool = True

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.lower().endswith(ARCHIVE_SUFFIXES) and size > 22

    def magic_ok(self, head: bytes) -> bool:
        return head.startswith(b"PK")

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        notes: list[str] = []
        try:
            with zipfile.ZipFile(f) as zf:
                packages = analyze_archive(zf, path, notes)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            return FileOutput(notes=[f"{path}: not a readable archive ({e})"])
        return FileOutput(packages=packages, notes=notes)
