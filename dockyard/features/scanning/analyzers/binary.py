"""Executables: Go build info (module path/version of the main module and every dependency, plus a
`stdlib` pseudo-package for the toolchain) and Rust cargo-auditable dependency lists (.dep-v0).

Go format (src/debug/buildinfo): find `\\xff Go buildinf:` 16-byte aligned near the start of the
.go.buildinfo section (or the first writable, non-executable PT_LOAD). Flag 0x2 means the Go >= 1.18
inline format (two uvarint-prefixed strings after a 32-byte header); otherwise two pointers to Go
string headers that must be mapped from virtual addresses to file offsets.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any, BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from packageurl import PackageURL

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, KiB, MiB
from dockyard.features.scanning.model import CARGO, GOBINARY, Package

MAGIC = b"\xff Go buildinf:"
SEARCH = 64 * KiB
MAX_MODINFO = 4 * MiB
PF_X, PF_W = 0x1, 0x2


class _Elf:
    """Virtual-address reads through PT_LOAD segments, as Go's debug/buildinfo does."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.elf = ELFFile(f)
        self.loads = [s.header for s in self.elf.iter_segments() if s.header.p_type == "PT_LOAD"]

    def read(self, addr: int, size: int) -> bytes:
        for p in self.loads:
            if p.p_filesz and p.p_vaddr <= addr < p.p_vaddr + p.p_filesz:
                n = min(size, p.p_vaddr + p.p_filesz - addr)
                self.f.seek(p.p_offset + addr - p.p_vaddr)
                return self.f.read(n)
        return b""

    def data_start(self) -> tuple[int, int] | None:
        sec = self.elf.get_section_by_name(".go.buildinfo")
        if sec is not None and sec.header.sh_type != "SHT_NOBITS":
            return int(sec.header.sh_addr), int(sec.header.sh_size)
        for p in self.loads:
            if p.p_flags & (PF_X | PF_W) == PF_W:
                return int(p.p_vaddr), int(p.p_memsz)
        return None


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad uvarint")


def _inline_string(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _uvarint(data, pos)
    if n > len(data) - pos:
        raise ValueError("string runs past data")
    return data[pos : pos + n], pos + n


def go_buildinfo(exe: _Elf) -> tuple[str, str] | None:
    """(go version, modinfo text) or None when this is not a Go binary with build info."""
    start = exe.data_start()
    if start is None:
        return None
    addr, size = start
    data = exe.read(addr, min(size, SEARCH))
    i = data.find(MAGIC)
    while i >= 0 and i % 16:
        i = data.find(MAGIC, i + 1)
    if i < 0 or len(data) - i < 32:
        return None
    ptr_size, flags = data[i + 14], data[i + 15]
    if flags & 0x2:
        blob = exe.read(addr + i, min(size - i, MAX_MODINFO))
        vers, pos = _inline_string(blob, 32)
        mod, _ = _inline_string(blob, pos)
    else:
        if ptr_size not in (4, 8):
            return None
        order = ">" if flags & 0x1 else "<"
        fmt = order + ("I" if ptr_size == 4 else "Q")

        def read_ptr(b: bytes) -> int:
            return int(struct.unpack(fmt, b[:ptr_size])[0])

        def read_string(at: int) -> bytes:
            hdr = exe.read(at, 2 * ptr_size)
            if len(hdr) < 2 * ptr_size:
                return b""
            ptr, length = read_ptr(hdr), read_ptr(hdr[ptr_size:])
            return exe.read(ptr, min(length, MAX_MODINFO)) if length else b""

        vers = read_string(read_ptr(data[i + 16 :]))
        mod = read_string(read_ptr(data[i + 16 + ptr_size :]))
    # modinfo is framed by 16-byte sentinels, which are not UTF-8.
    if len(mod) >= 33 and mod[-17] == ord("\n"):
        mod = mod[16:-16]
    elif mod:
        return vers.decode("utf-8", "replace"), ""
    return vers.decode("utf-8", "replace"), mod.decode("utf-8", "replace")


def go_stdlib_version(go_version: str) -> str | None:
    """`go1.22.1 X:loopvar` -> `1.22.1`; devel toolchains have no comparable version."""
    v = go_version.split(" ", 1)[0]
    return v[2:] if v.startswith("go") and len(v) > 2 else None


def _go_package(module: str, version: str, path: str) -> Package:
    namespace, _, name = module.rpartition("/")
    purl = PackageURL(type="golang", namespace=namespace or None, name=name, version=version).to_string()
    return Package(
        name=module, version=version, ecosystem="Go", package_manager=GOBINARY, file_path=path, purl=purl
    )


# `-X pkg.Var=value` in the recorded -ldflags (values may be wrapped in Go-quoted \" pairs).
LDFLAGS_X = re.compile(r"""-X[= ]\s*(?:\\?")?(?P<key>[^\s="\\]+)=(?P<value>[^\s"\\]+)""")
SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+\-]*)?$")


def ldflags_version(ldflags: str) -> str | None:
    """A `(devel)` main module's release version, as Trivy and syft recover it: a `-X` of
    main.version (or a `version`/`cmd` package's Version variable) holding a semver."""
    for m in LDFLAGS_X.finditer(ldflags):
        package, _, var = m.group("key").rpartition(".")
        if var.lower() not in ("version", "ver"):
            continue
        segments = package.split("/")
        if package != "main" and not ({"version", "cmd"} & set(segments)):
            continue
        value = m.group("value")
        if SEMVER.match(value):
            return value if value.startswith("v") else "v" + value
    return None


def _local(module: str) -> bool:
    return module.startswith((".", "/"))


def go_packages(go_version: str, modinfo: str, path: str) -> list[Package]:
    main: tuple[str, str] | None = None
    deps: list[tuple[str, str]] = []
    ldflags = ""
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] == "mod" and len(parts) >= 3:
            main = (parts[1], parts[2])
        elif parts[0] == "dep" and len(parts) >= 3:
            deps.append((parts[1], parts[2]))
        elif parts[0] == "=>" and len(parts) >= 2 and deps:
            # A replacement applies to the dep before it. A local directory (`=> ./lib (devel)`)
            # is code from the main module's tree: no module an advisory could name.
            if _local(parts[1]) or len(parts) < 3 or parts[2] in ("", "(devel)"):
                deps.pop()
            else:
                deps[-1] = (parts[1], parts[2])
        elif parts[0] == "build" and len(parts) >= 2 and parts[1].startswith("-ldflags="):
            ldflags = parts[1]
    out: list[Package] = []
    if main and main[1] == "(devel)":
        main = (main[0], ldflags_version(ldflags) or "")
    if main and main[1]:
        out.append(_go_package(main[0], main[1], path))
    out.extend(_go_package(m, v, path) for m, v in deps if v and v != "(devel)" and not _local(m))
    std = go_stdlib_version(go_version)
    if std:
        out.append(
            Package(
                name="stdlib",
                version=std,
                ecosystem="Go",
                package_manager=GOBINARY,
                file_path=path,
                purl=PackageURL(type="golang", name="stdlib", version=std).to_string(),
            )
        )
    return out


def rust_packages(exe: _Elf, path: str) -> list[Package]:
    sec = exe.elf.get_section_by_name(".dep-v0")
    if sec is None or sec.header.sh_type == "SHT_NOBITS":
        return []
    d = zlib.decompressobj()
    raw = d.decompress(sec.data(), 16 * MiB)
    data: Any = json.loads(raw)
    out = []
    for p in data.get("packages", []) if isinstance(data, dict) else []:
        if not isinstance(p, dict) or p.get("source") != "crates.io":
            continue
        name, version = p.get("name"), p.get("version")
        if isinstance(name, str) and isinstance(version, str):
            out.append(
                Package(
                    name=name,
                    version=version,
                    ecosystem="crates.io",
                    package_manager=CARGO,
                    file_path=path,
                    purl=PackageURL(type="cargo", name=name, version=version).to_string(),
                )
            )
    return out


class BinaryAnalyzer(BaseAnalyzer):
    name = "binary"
    max_size = 1024 * MiB
    spool = True

    def wants(self, path: str, mode: int, size: int) -> bool:
        return bool(mode & 0o111) and size >= 64

    def magic_ok(self, head: bytes) -> bool:
        return head.startswith(b"\x7fELF")

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        try:
            exe = _Elf(f)
            packages: list[Package] = []
            info = go_buildinfo(exe)
            if info is not None:
                packages.extend(go_packages(info[0], info[1], path))
            packages.extend(rust_packages(exe, path))
        except (ELFError, ValueError, struct.error, zlib.error, OSError, KeyError, IndexError) as e:
            return FileOutput(notes=[f"{path}: unreadable executable ({type(e).__name__}: {e})"])
        return FileOutput(packages=packages)
