"""Synthetic container images for scanning tests, built in pure Python (no Docker, no network).

Everything is deterministic (PAX tars, mtime 0, uid/gid 0, fixed zip timestamps), so digests are
stable across runs and machines. Each builder returns a `TestImage` with the compressed layer
blobs, the config and an OCI manifest, ready to push into the registry or to write out as an OCI
layout / docker-archive for syft. The package facts follow scanning.md §6.7, which is what the
vulnerability-matching tests expect to find.

API (stable; other test suites import it):
    debian12_image(), alpine319_image(), go_binary_image(), java_image(), scratch_image(),
    all_images() -> dict[str, TestImage]
    TestImage.layers [(media_type, blob)], .config, .manifest, .digest, .diff_ids, .layer_digests,
    .uncompressed_layers, .config_digest, .manifest_media_type
    write_oci_layout(image, dir), write_docker_archive(image, file)
    build_layer(entries), Entry helpers: file(), directory(), symlink(), whiteout(), opaque()
    go_elf(go_version, modinfo_lines) / make_jar(files) for analyzer tests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

MEDIA_TYPES = {"plain": LAYER_TAR, "gzip": LAYER_GZIP, "zstd": LAYER_ZSTD}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class Entry:
    """One tar member: kind is file, dir, symlink or hardlink (whiteouts are empty files)."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""


def file(path: str, data: bytes | str, mode: int = 0o644) -> Entry:
    return Entry(path, "file", data.encode() if isinstance(data, str) else data, mode)


def directory(path: str) -> Entry:
    return Entry(path, "dir", mode=0o755)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, "symlink", mode=0o777, target=target)


def hardlink(path: str, target: str) -> Entry:
    return Entry(path, "hardlink", target=target)


def whiteout(path: str) -> Entry:
    """Delete `path` (and its subtree) from lower layers."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return file(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"")


def opaque(directory_path: str) -> Entry:
    """Hide every lower-layer child of `directory_path`."""
    return file(f"{directory_path.rstrip('/')}/.wh..wh..opq", b"")


def build_layer(entries: Iterable[Entry], *, add_parents: bool = True) -> bytes:
    """An uncompressed PAX tar; parent directories are added first, like `docker build` does."""
    buf = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if add_parents:
                parts = entry.path.strip("/").split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    parent = "/".join(parts[:i])
                    if parent not in seen:
                        seen.add(parent)
                        tar.addfile(_info(parent + "/", tarfile.DIRTYPE, 0o755))
            if entry.kind == "dir":
                name = entry.path.strip("/")
                if name in seen:
                    continue
                seen.add(name)
                tar.addfile(_info(name + "/", tarfile.DIRTYPE, entry.mode))
            elif entry.kind == "symlink":
                info = _info(entry.path, tarfile.SYMTYPE, entry.mode)
                info.linkname = entry.target
                tar.addfile(info)
            elif entry.kind == "hardlink":
                info = _info(entry.path, tarfile.LNKTYPE, entry.mode)
                info.linkname = entry.target
                tar.addfile(info)
            else:
                info = _info(entry.path, tarfile.REGTYPE, entry.mode)
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buf.getvalue()


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def compress(tar: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(tar, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(tar)
    if compression == "plain":
        return tar
    raise ValueError(compression)


# ---------------------------------------------------------------------------------------- images
@dataclass
class TestImage:
    """An image as a registry sees it: compressed blobs, config and manifest bytes."""

    __test__ = False  # not a pytest class

    name: str
    uncompressed_layers: list[bytes]
    layers: list[tuple[str, bytes]]  # (media type, compressed blob)
    config: bytes
    manifest: bytes
    manifest_media_type: str = OCI_MANIFEST
    tag: str = "latest"
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def diff_ids(self) -> list[str]:
        return [sha256(t) for t in self.uncompressed_layers]

    @property
    def layer_digests(self) -> list[str]:
        return [sha256(blob) for _, blob in self.layers]

    def blobs(self) -> dict[str, bytes]:
        """Every blob the manifest references, by digest (layers and config)."""
        out = {sha256(blob): blob for _, blob in self.layers}
        out[self.config_digest] = self.config
        return out


def make_image(
    name: str, layer_entries: Sequence[Sequence[Entry]], compressions: Sequence[str] | str = "gzip"
) -> TestImage:
    """Assemble layers, config (with rootfs.diff_ids) and an OCI manifest."""
    if isinstance(compressions, str):
        compressions = [compressions] * len(layer_entries)
    tars = [build_layer(entries) for entries in layer_entries]
    layers = [(MEDIA_TYPES[c], compress(t, c)) for t, c in zip(tars, compressions, strict=True)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(tars))
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": mt, "digest": sha256(blob), "size": len(blob)} for mt, blob in layers],
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return TestImage(name, tars, layers, config_bytes, manifest_bytes)


def write_oci_layout(image: TestImage, directory_path: str | Path) -> Path:
    """An OCI image layout directory (what `syft oci-dir:<dir>` reads)."""
    root = Path(directory_path)
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for digest, blob in {**image.blobs(), image.digest: image.manifest}.items():
        (blobs / digest.split(":", 1)[1]).write_bytes(blob)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": image.manifest_media_type,
                "digest": image.digest,
                "size": len(image.manifest),
                "annotations": {"org.opencontainers.image.ref.name": image.tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root


def write_docker_archive(image: TestImage, path: str | Path) -> Path:
    """A `docker save` tarball with uncompressed layers (what `syft docker-archive:<file>` reads)."""
    out = Path(path)
    config_name = image.config_digest.split(":", 1)[1] + ".json"
    layer_names = [f"{d.split(':', 1)[1]}/layer.tar" for d in image.diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [f"{image.name}:{image.tag}"], "Layers": layer_names}]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, data: bytes) -> None:
            info = _info(name, tarfile.REGTYPE, 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add(config_name, image.config)
        for name, data in zip(layer_names, image.uncompressed_layers, strict=True):
            add(name, data)
        add("manifest.json", json.dumps(manifest).encode())
    return out


# ---------------------------------------------------------------------------------------- content
def dpkg_paragraph(
    package: str,
    version: str,
    *,
    source: str | None = None,
    status: str = "install ok installed",
    arch: str = "amd64",
) -> str:
    lines = [
        f"Package: {package}",
        f"Status: {status}",
        "Priority: optional",
        "Section: libs",
        "Installed-Size: 100",
        "Maintainer: Debian Maintainers <debian@example.org>",
        f"Architecture: {arch}",
        "Multi-Arch: same",
    ]
    if source:
        lines.append(f"Source: {source}")
    lines += [
        f"Version: {version}",
        "Depends: libc6 (>= 2.34)",
        f"Description: {package} test package",
        " A continuation line of the long description.",
        " .",
        " Another paragraph of it.",
    ]
    return "\n".join(lines) + "\n"


def metadata(name: str, version: str, license_: str = "MIT") -> str:
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {name} test\n"
        f"License: {license_}\nRequires-Python: >=3.7\n\nLong description body.\nName: not-a-header\n"
    )


def os_release(**fields: str) -> str:
    return "".join(f'{k}="{v}"\n' for k, v in fields.items())


DEBIAN_OS_RELEASE = os_release(
    PRETTY_NAME="Debian GNU/Linux 12 (bookworm)",
    NAME="Debian GNU/Linux",
    VERSION_ID="12",
    VERSION="12 (bookworm)",
    VERSION_CODENAME="bookworm",
    ID="debian",
    HOME_URL="https://www.debian.org/",
)

SITE = "usr/lib/python3/dist-packages"


def debian12_image(compressions: Sequence[str] = ("gzip", "zstd")) -> TestImage:
    """Debian 12 with openssl/libssl3, libc6, zlib1g and an `rc` package; layer 2 (app) whites
    out requests' dist-info, opaque-replaces /opt/legacy (which held urllib3 1.26.16) and adds
    lodash 4.17.20. Surviving language packages: urllib3 2.0.5, lodash 4.17.20."""
    status = "\n".join(
        [
            dpkg_paragraph("openssl", "3.0.11-1~deb12u1"),
            dpkg_paragraph("libssl3", "3.0.11-1~deb12u1", source="openssl"),
            dpkg_paragraph("libc6", "2.36-9+deb12u1", source="glibc"),
            dpkg_paragraph("zlib1g", "1:1.2.13.dfsg-1", source="zlib"),
            dpkg_paragraph("libgdbm6", "1.23-3", source="gdbm", status="deinstall ok config-files"),
        ]
    )
    base = [
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file("etc/debian_version", "12.2\n"),
        file("var/lib/dpkg/status", status),
        file("var/lib/dpkg/info/openssl.list", "/.\n/usr\n/usr/bin\n/usr/bin/openssl\n"),
        file("var/lib/dpkg/info/openssl.md5sums", "0123456789abcdef0123456789abcdef  usr/bin/openssl\n"),
        file(
            "var/lib/dpkg/info/libssl3:amd64.list",
            "/.\n/usr/lib/x86_64-linux-gnu/libssl.so.3\n/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n",
        ),
        file("var/lib/dpkg/info/libc6:amd64.list", "/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n"),
        file("var/lib/dpkg/info/zlib1g:amd64.list", "/.\n/usr/lib/x86_64-linux-gnu/libz.so.1\n"),
        file("usr/bin/openssl", b"\x00not really openssl", 0o755),
        file(f"{SITE}/urllib3-2.0.5.dist-info/METADATA", metadata("urllib3", "2.0.5")),
        file(f"{SITE}/urllib3-2.0.5.dist-info/RECORD", "urllib3/__init__.py,,\n"),
        file(f"{SITE}/urllib3/__init__.py", "__version__ = '2.0.5'\n"),
        file(f"{SITE}/requests-2.31.0.dist-info/METADATA", metadata("requests", "2.31.0", "Apache 2.0")),
        file(
            "opt/legacy/lib/python3.11/site-packages/urllib3-1.26.16.dist-info/METADATA",
            metadata("urllib3", "1.26.16"),
        ),
    ]
    app = [
        whiteout(f"{SITE}/requests-2.31.0.dist-info"),
        opaque("opt/legacy"),
        file("opt/legacy/README", "replaced\n"),
        file(
            "app/node_modules/lodash/package.json",
            json.dumps({"name": "lodash", "version": "4.17.20", "license": "MIT", "main": "lodash.js"}),
        ),
        file("app/node_modules/lodash/lodash.js", "module.exports = {};\n"),
        file("app/main.js", "require('lodash');\n"),
    ]
    return make_image("debian12", [base, app], list(compressions))


def apk_record(name: str, version: str, origin: str, files: dict[str, list[str]], license_: str) -> str:
    lines = [
        "C:Q1" + "A" * 27 + "=",
        f"P:{name}",
        f"V:{version}",
        "A:x86_64",
        "S:100000",
        "I:300000",
        f"T:{name} test package",
        "U:https://example.org",
        f"L:{license_}",
        f"o:{origin}",
        "m:Maintainer <maint@example.org>",
        "t:1695000000",
        "c:0123456789abcdef0123456789abcdef01234567",
        "D:so:libc.musl-x86_64.so.1",
        f"p:so:{name}.so=1",
    ]
    for directory_path, names in files.items():
        lines.append(f"F:{directory_path}")
        for n in names:
            lines += [f"R:{n}", "a:0:0:755", "Z:Q1" + "B" * 27 + "="]
    return "\n".join(lines) + "\n"


def alpine319_image(compression: str = "gzip") -> TestImage:
    """Alpine 3.19 with musl and libssl3/libcrypto3 (origin openssl 3.1.3-r0)."""
    installed = "\n".join(
        [
            apk_record("musl", "1.2.4_git20230717-r4", "musl", {"lib": ["ld-musl-x86_64.so.1"]}, "MIT"),
            apk_record("libcrypto3", "3.1.3-r0", "openssl", {"lib": ["libcrypto.so.3"]}, "Apache-2.0"),
            apk_record("libssl3", "3.1.3-r0", "openssl", {"lib": ["libssl.so.3"]}, "Apache-2.0"),
        ]
    )
    base = [
        file(
            "etc/os-release",
            'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME="Alpine Linux v3.19"\n'
            'HOME_URL="https://alpinelinux.org/"\n',
        ),
        file("etc/alpine-release", "3.19.0\n"),
        file(
            "etc/apk/repositories",
            "https://dl-cdn.alpinelinux.org/alpine/v3.19/main\n"
            "https://dl-cdn.alpinelinux.org/alpine/v3.19/community\n",
        ),
        file("lib/apk/db/installed", installed),
        file("lib/ld-musl-x86_64.so.1", b"\x00musl", 0o755),
        file("lib/libssl.so.3", b"\x00ssl", 0o755),
        file("lib/libcrypto.so.3", b"\x00crypto", 0o755),
    ]
    return make_image("alpine319", [base], compression)


# ---------------------------------------------------------------------------------------- Go ELF
GO_SENTINEL_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
GO_SENTINEL_END = bytes.fromhex("f932433186182072008242104116d8f2")
BUILDINFO_MAGIC = b"\xff Go buildinf:"


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


GO_MODINFO = [
    "path\texample.com/app",
    "mod\texample.com/app\tv1.0.0\t",
    "dep\tgolang.org/x/net\tv0.10.0\th1:lUkak+MQ3X5yAW0mgALlCx3HvBp3Ydd0hNSRa1EVcOA=",
    "dep\tgolang.org/x/text\tv0.3.7\th1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=",
    "build\t-compiler=gc",
    "build\tCGO_ENABLED=0",
    "build\tGOARCH=amd64",
    "build\tGOOS=linux",
]


def go_buildinfo_inline(go_version: str, modinfo_lines: Sequence[str]) -> bytes:
    """The Go >= 1.18 `.go.buildinfo` blob: 32-byte header, then two uvarint-prefixed strings."""
    modinfo = GO_SENTINEL_START + ("\n".join(modinfo_lines) + "\n").encode() + GO_SENTINEL_END
    header = BUILDINFO_MAGIC + bytes([8, 0x2]) + b"\x00" * 16
    body = _uvarint(len(go_version)) + go_version.encode() + _uvarint(len(modinfo)) + modinfo
    return header + body


def elf64(sections: Sequence[tuple[str, bytes]], *, load_writable: bool = True) -> bytes:
    """A minimal little-endian x86-64 ET_EXEC ELF: the given sections (all covered by one PT_LOAD
    segment so virtual addresses map back to file offsets), a .shstrtab and the section table."""
    base = 0x400000
    ehsize, phsize, shsize = 64, 56, 64
    offset = ehsize + phsize
    blobs: list[tuple[str, int, bytes]] = []
    data = bytearray()
    for name, content in sections:
        pad = (-(offset + len(data))) % 16
        data += b"\x00" * pad
        blobs.append((name, offset + len(data), content))
        data += content
    shstr = bytearray(b"\x00")
    name_offsets = {}
    for name in [n for n, _ in sections] + [".shstrtab"]:
        name_offsets[name] = len(shstr)
        shstr += name.encode() + b"\x00"
    shstr_off = offset + len(data)
    data += shstr
    data += b"\x00" * ((-(offset + len(data))) % 8)
    shoff = offset + len(data)
    # The segment starts at the (16-aligned) first section, as Go's data segments do.
    seg_start = blobs[0][1] if blobs else offset
    seg_size = shstr_off - seg_start
    shnum = len(sections) + 2
    header = (
        b"\x7fELF"
        + bytes([2, 1, 1, 0])
        + b"\x00" * 8
        + struct.pack(
            "<HHIQQQIHHHHHH",
            2,
            62,
            1,
            base + 0x1000,
            ehsize,
            shoff,
            0,
            ehsize,
            phsize,
            1,
            shsize,
            shnum,
            shnum - 1,
        )
    )
    flags = 0x4 | (0x2 if load_writable else 0x1)  # PF_R | PF_W (data) or PF_X
    phdr = struct.pack(
        "<IIQQQQQQ", 1, flags, seg_start, base + seg_start, base + seg_start, seg_size, seg_size, 0x1000
    )
    shdrs = bytearray(b"\x00" * shsize)
    for name, off, content in blobs:
        shdrs += struct.pack(
            "<IIQQQQIIQQ", name_offsets[name], 1, 0x3, base + off, off, len(content), 0, 0, 16, 0
        )
    shdrs += struct.pack("<IIQQQQIIQQ", name_offsets[".shstrtab"], 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    return header + phdr + bytes(data) + bytes(shdrs)


def go_elf(go_version: str = "go1.21.1", modinfo_lines: Sequence[str] = GO_MODINFO) -> bytes:
    return elf64([(".go.buildinfo", go_buildinfo_inline(go_version, modinfo_lines))])


def go_binary_image(compression: str = "gzip") -> TestImage:
    """A distroless-static-like image: no OS, one Go binary (go1.21.1, x/text v0.3.7, x/net v0.10.0)."""
    return make_image(
        "gobinary",
        [
            [
                file("usr/local/bin/app", go_elf(), 0o755),
                file("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"),
            ]
        ],
        compression,
    )


# ---------------------------------------------------------------------------------------- Java
def make_jar(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def log4j_jar(version: str = "2.14.1") -> bytes:
    return make_jar(
        {
            "META-INF/MANIFEST.MF": (
                "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.apache.logging.log4j.core\r\n"
                f"Bundle-Version: {version}\r\nImplementation-Title: Apache Log4j Core\r\n"
                f"Implementation-Version: {version}\r\n"
                "Implementation-Vendor-Id: org.apache.logging.log4j\r\n\r\n"
            ),
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": (
                "#Created by Apache Maven 3.6.3\n"
                f"version={version}\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\n"
            ),
            "org/apache/logging/log4j/core/Logger.class": b"\xca\xfe\xba\xbe",
        }
    )


def java_image(compression: str = "gzip") -> TestImage:
    """No OS; /opt/app/lib/log4j-core-2.14.1.jar with pom.properties and MANIFEST.MF."""
    return make_image(
        "java",
        [
            [
                file("opt/app/lib/log4j-core-2.14.1.jar", log4j_jar()),
                file("opt/app/run.sh", "#!/bin/sh\n", 0o755),
            ]
        ],
        compression,
    )


def scratch_image(compression: str = "plain") -> TestImage:
    """FROM scratch: one static file, no OS, no packages."""
    return make_image("scratch", [[file("hello", "hello world\n", 0o755)]], compression)


def all_images() -> dict[str, TestImage]:
    return {
        "debian12": debian12_image(),
        "alpine319": alpine319_image(),
        "gobinary": go_binary_image(),
        "java": java_image(),
        "scratch": scratch_image(),
    }


# ---------------------------------------------------------------------------------------- RPM
RPM_STRING, RPM_INT32, RPM_STRING_ARRAY = 6, 4, 8


def rpm_header(tags: dict[int, tuple[int, object]]) -> bytes:
    """An RPM header blob as rpmdb.sqlite stores it: (il, dl), il 16-byte index entries
    (tag, type, offset, count; big-endian), then the data store. INT32 data is 4-aligned."""
    index, store = b"", b""
    for tag, (typ, value) in sorted(tags.items()):
        if typ == RPM_INT32:
            store += b"\x00" * (-len(store) % 4)
            ints = value if isinstance(value, list) else [value]
            off, data, count = len(store), struct.pack(f">{len(ints)}i", *ints), len(ints)
        elif typ == RPM_STRING_ARRAY:
            strs = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            off, data, count = len(store), b"".join(v.encode() + b"\x00" for v in strs), len(strs)
        else:
            off, data, count = len(store), str(value).encode() + b"\x00", 1
        store += data
        index += struct.pack(">iIiI", tag, typ, off, count)
    return struct.pack(">II", len(tags), len(store)) + index + store


def rpm_package(
    name: str, version: str, release: str, *, epoch: int | None = None, arch: str = "x86_64",
    source_rpm: str | None = None, license_: str = "MIT", files: Sequence[str] = (),
) -> bytes:  # fmt: skip
    tags: dict[int, tuple[int, object]] = {
        1000: (RPM_STRING, name),
        1001: (RPM_STRING, version),
        1002: (RPM_STRING, release),
        1004: (RPM_STRING, f"{name} test package"),
        1014: (RPM_STRING, license_),
        1022: (RPM_STRING, arch),
        1044: (RPM_STRING, source_rpm or f"{name}-{version}-{release}.src.rpm"),
    }
    if epoch is not None:
        tags[1003] = (RPM_INT32, epoch)
    if files:
        dirs = sorted({f.rsplit("/", 1)[0] + "/" for f in files})
        tags[1116] = (RPM_INT32, [dirs.index(f.rsplit("/", 1)[0] + "/") for f in files])
        tags[1117] = (RPM_STRING_ARRAY, [f.rsplit("/", 1)[1] for f in files])
        tags[1118] = (RPM_STRING_ARRAY, dirs)
    return rpm_header(tags)


def rpmdb_sqlite(headers: Sequence[bytes]) -> bytes:
    """The bytes of an rpm >= 4.16 sqlite database holding these headers."""
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
        conn.commit()
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        return path.read_bytes()


def rocky9_image(compression: str = "gzip") -> TestImage:
    """Rocky Linux 9.3 with an sqlite rpmdb: openssl-libs (epoch 1), glibc, bash, a gpg-pubkey."""
    headers = [
        rpm_package("glibc", "2.34", "83.el9_3.7", files=["/usr/lib64/libc.so.6"], license_="LGPLv2+"),
        rpm_package(
            "openssl-libs", "3.0.7", "24.el9", epoch=1, source_rpm="openssl-3.0.7-24.el9.src.rpm",
            files=["/usr/lib64/libssl.so.3", "/usr/lib64/libcrypto.so.3"], license_="ASL 2.0",
        ),
        rpm_package("bash", "5.1.8", "6.el9_1", files=["/usr/bin/bash"], license_="GPLv3+"),
        rpm_header({1000: (RPM_STRING, "gpg-pubkey"), 1001: (RPM_STRING, "350d275d"),
                    1002: (RPM_STRING, "6279464b")}),
    ]  # fmt: skip
    base = [
        file(
            "etc/os-release",
            'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
            'VERSION_ID="9.3"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n',
        ),
        file("etc/rocky-release", "Rocky Linux release 9.3 (Blue Onyx)\n"),
        symlink("etc/redhat-release", "rocky-release"),
        file("var/lib/rpm/rpmdb.sqlite", rpmdb_sqlite(headers)),
    ]
    return make_image("rocky9", [base], compression)


def distroless_image(compression: str = "gzip") -> TestImage:
    """gcr.io/distroless/base-debian12-like: dpkg status.d (one file per package, plus md5sums)
    and a Go binary on top."""

    def para(name: str, version: str, source: str | None = None, arch: str = "amd64") -> str:
        return dpkg_paragraph(name, version, source=source, arch=arch).replace(
            "Status: install ok installed\n", ""
        )

    base = [
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file("etc/debian_version", "12.4\n"),
        file("var/lib/dpkg/status.d/base-files", para("base-files", "12.4+deb12u4", arch="amd64")),
        file("var/lib/dpkg/status.d/libssl3", para("libssl3", "3.0.11-1~deb12u2", "openssl")),
        file(
            "var/lib/dpkg/status.d/libssl3.md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/lib/libssl.so.3\n"
        ),
        file("var/lib/dpkg/status.d/tzdata", para("tzdata", "2024a-0+deb12u1", arch="all")),
        file("var/lib/dpkg/status.d/libc6", para("libc6", "2.36-9+deb12u4+b1", "glibc (2.36-9+deb12u4)")),
    ]
    app = [file("app/server", go_elf("go1.22.1 X:loopvar", GO_MODINFO), 0o755)]
    return make_image("distroless", [base, app], compression)


def more_images() -> dict[str, TestImage]:
    """Images beyond the stable `all_images()` set (RPM sqlite and Berkeley DB, distroless, Ruby)."""
    return {
        "rocky9": rocky9_image(),
        "ubi8": ubi8_image(),
        "distroless": distroless_image("zstd"),
        "ruby": ruby_image(),
    }


# ---------------------------------------------------------------------------------------- Ruby
def gemspec(name: str, version: str, licenses: Sequence[str] = ("MIT",)) -> str:
    """The stub RubyGems writes to specifications/ at install time."""
    lic = ", ".join(f'"{x}".freeze' for x in licenses)
    return (
        "# -*- encoding: utf-8 -*-\n"
        f"# stub: {name} {version} ruby lib\n\n"
        "Gem::Specification.new do |s|\n"
        f'  s.name = "{name}".freeze\n'
        f'  s.version = "{version}"\n\n'
        '  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze)'
        " if s.respond_to? :required_rubygems_version=\n"
        '  s.require_paths = ["lib".freeze]\n'
        '  s.authors = ["Someone".freeze]\n'
        f"  s.licenses = [{lic}]\n"
        '  s.required_ruby_version = Gem::Requirement.new(">= 2.4.0".freeze)\n'
        '  s.rubygems_version = "3.4.10".freeze\n'
        f'  s.summary = "{name} test gem".freeze\n'
        "end\n"
    )


def ruby_image(compression: str = "gzip") -> TestImage:
    """No OS; a bundler-installed gem (rack 2.2.8) and a default gem of the Ruby install."""
    return make_image(
        "ruby",
        [
            [
                file("usr/local/bundle/specifications/rack-2.2.8.gemspec", gemspec("rack", "2.2.8")),
                file(
                    "usr/local/lib/ruby/gems/3.2.0/specifications/default/json-2.6.3.gemspec",
                    gemspec("json", "2.6.3", ["Ruby", "BSD-2-Clause"]),
                ),
                file("usr/local/bundle/gems/rack-2.2.8/lib/rack.rb", "module Rack; end\n"),
            ]
        ],
        compression,
    )


def ubi8_image(compression: str = "gzip") -> TestImage:
    """UBI 8 with a real Berkeley DB rpmdb (libuuid; see tests/unit/scanning/data/README.md).
    RHEL advisories need repository CPEs, so its packages get no ecosystem."""
    bdb = Path(__file__).parent / "unit" / "scanning" / "data" / "rpm-bdb-libuuid-Packages.gz"
    base = [
        file(
            "etc/os-release",
            'NAME="Red Hat Enterprise Linux"\nVERSION="8.8 (Ootpa)"\nID="rhel"\nID_LIKE="fedora"\n'
            'VERSION_ID="8.8"\nPLATFORM_ID="platform:el8"\n'
            'PRETTY_NAME="Red Hat Enterprise Linux 8.8 (Ootpa)"\n',
        ),
        file("etc/redhat-release", "Red Hat Enterprise Linux release 8.8 (Ootpa)\n"),
        file("var/lib/rpm/Packages", gzip.decompress(bdb.read_bytes())),
    ]
    return make_image("ubi8", [base], compression)
