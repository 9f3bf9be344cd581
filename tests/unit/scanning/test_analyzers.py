"""The file parsers on realistic inputs (shapes taken from real images and Trivy's test data)."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from dockyard.features.scanning.analyzers import FileOutput, all_analyzers
from dockyard.features.scanning.analyzers.apk import ApkAnalyzer, parse_installed
from dockyard.features.scanning.analyzers.binary import BinaryAnalyzer, go_stdlib_version
from dockyard.features.scanning.analyzers.dpkg import DpkgAnalyzer, parse_status
from dockyard.features.scanning.analyzers.java import JavaAnalyzer
from dockyard.features.scanning.analyzers.npm import NpmAnalyzer, is_package_root
from dockyard.features.scanning.analyzers.os_release import OsReleaseAnalyzer, parse_os_release
from dockyard.features.scanning.analyzers.python import PythonAnalyzer
from dockyard.features.scanning.analyzers.rpm import RpmAnalyzer, parse_header, split_source_rpm
from dockyard.features.scanning.model import CARGO, GOBINARY, JAR, NODEPKG, OS, PYTHONPKG
from tests.scanning_images import (
    BUILDINFO_MAGIC,
    GO_MODINFO,
    GO_SENTINEL_END,
    GO_SENTINEL_START,
    elf64,
    go_elf,
    log4j_jar,
    make_jar,
)


def run(analyzer: object, path: str, data: bytes, mode: int = 0o644) -> FileOutput:
    assert analyzer.wants(path, mode, len(data))  # type: ignore[attr-defined]
    return analyzer.analyze(path, io.BytesIO(data), len(data))  # type: ignore[attr-defined]


def nv(out: FileOutput) -> list[tuple[str, str]]:
    return [(p.name, p.version) for p in out.packages]


# ------------------------------------------------------------------------------------------ dpkg
UBUNTU_STATUS = """\
Package: adduser
Status: install ok installed
Priority: important
Section: admin
Installed-Size: 624
Maintainer: Ubuntu Core Developers <ubuntu-devel-discuss@lists.ubuntu.com>
Architecture: all
Multi-Arch: foreign
Version: 3.116ubuntu1
Depends: passwd, debconf (>= 0.5) | debconf-2.0
Suggests: liblocale-gettext-perl, perl
Conffiles:
 /etc/deluser.conf 773fb95e98a27947de4a95abb3d3f2a2
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands for creating
 and removing users.
 .
 Package: not-a-package
Original-Maintainer: Debian Adduser Developers <adduser@packages.debian.org>

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4+b1
Description: GNU C Library: Shared libraries

Package: libgdbm6
Status: deinstall ok config-files
Architecture: amd64
Source: gdbm
Version: 1.23-3
Description: GNU dbm database routines (runtime version)

Package: oldpkg
Status: purge ok not-installed
Architecture: amd64
Version: 1.0-1

Package: e2fslibs
Status: install ok installed
Architecture: amd64
Source: e2fsprogs
Version: 1.43.4-2
"""


def test_dpkg_status_fields_sources_and_installed_filter() -> None:
    out = run(DpkgAnalyzer(), "var/lib/dpkg/status", UBUNTU_STATUS.encode())
    got = {p.name: p for p in out.packages}
    assert list(got) == ["adduser", "libc6", "e2fslibs"]  # rc and purged entries are not installed
    assert got["adduser"].source_name == "adduser" and got["adduser"].source_version == "3.116ubuntu1"
    assert got["adduser"].arch == "all"
    # binNMU: the binary version differs from the source version given in parentheses
    assert (got["libc6"].version, got["libc6"].source_name, got["libc6"].source_version) == (
        "2.36-9+deb12u4+b1",
        "glibc",
        "2.36-9+deb12u4",
    )
    assert (got["e2fslibs"].source_name, got["e2fslibs"].source_version) == ("e2fsprogs", "1.43.4-2")
    assert all(p.package_manager == OS and p.ecosystem is None for p in out.packages)
    assert all(p.file_path == "var/lib/dpkg/status" for p in out.packages)


def test_dpkg_status_without_trailing_newline_and_crlf_free() -> None:
    assert [p.name for p in parse_status("Package: a\nVersion: 1\nStatus: install ok installed", "s")] == [
        "a"
    ]
    assert parse_status("Package: a\n\n\nVersion: 1\n", "s") == []  # split paragraphs have no version


def test_dpkg_distroless_status_d_and_companion_files() -> None:
    a = DpkgAnalyzer()
    para = "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n"
    assert nv(run(a, "var/lib/dpkg/status.d/libssl3", para.encode())) == [("libssl3", "3.0.11-1~deb12u2")]
    # Package names contain dots: only known companion suffixes are skipped.
    assert nv(run(a, "var/lib/dpkg/status.d/libc6.1", b"Package: libc6.1\nVersion: 2.36-9\n")) == [
        ("libc6.1", "2.36-9")
    ]
    md5 = run(
        a, "var/lib/dpkg/status.d/libssl3.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  usr/lib/libssl.so.3\n"
    )
    assert md5.packages == [] and md5.owned == ["usr/lib/libssl.so.3"]
    assert not a.wants("var/lib/dpkg/status.d/sub/dir", 0o644, 10)


def test_dpkg_info_lists_are_ownership() -> None:
    a = DpkgAnalyzer()
    out = run(
        a,
        "var/lib/dpkg/info/python3-urllib3.list",
        b"/.\n/usr\n/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info\n"
        b"/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO\n",
    )
    assert "usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO" in (out.owned or [])
    assert "." not in (out.owned or []) and "" not in (out.owned or [])
    md5 = run(a, "var/lib/dpkg/info/zlib1g:amd64.md5sums", b"abc  usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n")
    assert md5.owned == ["usr/lib/x86_64-linux-gnu/libz.so.1.2.13"]
    assert not a.wants("var/lib/dpkg/info/zlib1g.postinst", 0o755, 10)
    assert not a.wants("var/lib/dpkg/available", 0o644, 10)


# ------------------------------------------------------------------------------------------ apk
APK_INSTALLED = """\
C:Q1p78yvTLG094tHE1+dToJGbmYzQE=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1700000000
c:0123
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1AAAA
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q1BBBB

C:Q1xyz=
P:libssl3
V:3.1.3-r0
A:x86_64
L:Apache-2.0
o:openssl
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3
F:lib
R:libssl.so.3
F:usr/lib/node_modules/npm
R:package.json

C:Q1nope=
V:1.0
"""


def test_apk_installed_origin_license_and_owned_files() -> None:
    out = run(ApkAnalyzer(), "lib/apk/db/installed", APK_INSTALLED.encode())
    assert nv(out) == [("musl", "1.2.4_git20230717-r4"), ("libssl3", "3.1.3-r0")]  # record without P: dropped
    ssl = out.packages[1]
    assert (ssl.source_name, ssl.source_version, ssl.arch, ssl.license) == (
        "openssl",
        "3.1.3-r0",
        "x86_64",
        "Apache-2.0",
    )
    assert out.owned == [
        "lib/ld-musl-x86_64.so.1",
        "lib/libc.musl-x86_64.so.1",
        "lib/libssl.so.3",
        "usr/lib/node_modules/npm/package.json",
    ]
    assert ApkAnalyzer().wants("usr/lib/apk/db/installed", 0o644, 1)


def test_apk_package_without_origin_is_its_own_source() -> None:
    pkgs, _ = parse_installed("P:busybox\nV:1.36.1-r15\n", "lib/apk/db/installed")
    assert pkgs[0].source_name == "busybox"


# ------------------------------------------------------------------------------------------ rpm
def rpm_header(tags: dict[int, tuple[int, object]]) -> bytes:
    """Encode an RPM header blob (the way rpmdb.sqlite stores it) for the given tag values."""
    index, store = b"", b""
    for tag, (typ, value) in sorted(tags.items()):
        if typ == 4:  # INT32, aligned
            store += b"\x00" * (-len(store) % 4)
            vals = value if isinstance(value, list) else [value]
            off, data, count = len(store), struct.pack(f">{len(vals)}i", *vals), len(vals)
        elif typ == 8:  # STRING_ARRAY
            vals = list(value)  # type: ignore[call-overload]
            off, data, count = len(store), b"".join(v.encode() + b"\x00" for v in vals), len(vals)
        else:  # STRING / I18NSTRING
            off, data, count = len(store), str(value).encode() + b"\x00", 1
        store += data
        index += struct.pack(">iIiI", tag, typ, off, count)
    return struct.pack(">II", len(tags), len(store)) + index + store


def rpmdb(path: Path, headers: list[bytes]) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_rpm_sqlite_nevra_source_and_files(tmp_path: Path) -> None:
    openssl = rpm_header(
        {
            1000: (6, "openssl-libs"),
            1001: (6, "3.0.7"),
            1002: (6, "24.el9"),
            1003: (4, 1),
            1014: (6, "ASL 2.0"),
            1022: (6, "x86_64"),
            1044: (6, "openssl-3.0.7-24.el9.src.rpm"),
            1116: (4, [0, 0, 1]),
            1117: (8, ["libssl.so.3", "libcrypto.so.3", "openssl.cnf"]),
            1118: (8, ["/usr/lib64/", "/etc/pki/tls/"]),
        }
    )
    bash = rpm_header(
        {1000: (6, "bash"), 1001: (6, "5.1.8"), 1002: (6, "6.el9_1"), 1022: (6, "x86_64"),
         1044: (6, "bash-5.1.8-6.el9_1.src.rpm")}
    )  # fmt: skip
    pubkey = rpm_header({1000: (6, "gpg-pubkey"), 1001: (6, "350d275d"), 1002: (6, "6279464b")})
    data = rpmdb(tmp_path / "rpmdb.sqlite", [openssl, bash, pubkey, b"\x00\x00"])
    out = run(RpmAnalyzer(), "var/lib/rpm/rpmdb.sqlite", data)
    assert nv(out) == [("openssl-libs", "1:3.0.7-24.el9"), ("bash", "5.1.8-6.el9_1")]  # gpg-pubkey skipped
    o = out.packages[0]
    assert (o.source_name, o.source_version, o.arch, o.license) == (
        "openssl",
        "1:3.0.7-24.el9",
        "x86_64",
        "ASL 2.0",
    )
    assert out.owned == ["usr/lib64/libssl.so.3", "usr/lib64/libcrypto.so.3", "etc/pki/tls/openssl.cnf"]


def test_rpm_header_guards_and_source_rpm_split() -> None:
    with pytest.raises(ValueError):
        parse_header(struct.pack(">II", 5, 1000))
    assert split_source_rpm("glibc-2.34-60.el9.src.rpm") == ("glibc", "2.34", "60.el9")
    assert split_source_rpm("python3.11-3.11.5-1.el9_3.src.rpm") == ("python3.11", "3.11.5", "1.el9_3")
    assert split_source_rpm("weird.src.rpm") is None


DATA = Path(__file__).parent / "data"


def test_rpm_berkeley_db_real_fixture() -> None:
    """A real RHEL 8 `Packages` (Berkeley DB hash) from go-rpmdb's test data (see data/README.md)."""
    data = gzip.decompress((DATA / "rpm-bdb-libuuid-Packages.gz").read_bytes())
    out = run(RpmAnalyzer(), "var/lib/rpm/Packages", data)
    (p,) = out.packages
    assert (p.name, p.version, p.arch, p.license) == ("libuuid", "2.32.1-42.el8_8", "x86_64", "BSD")
    assert (p.source_name, p.source_version) == ("util-linux", "2.32.1-42.el8_8")
    assert "usr/lib64/libuuid.so.1.3.0" in (out.owned or [])
    assert not out.notes


def ndb(blobs: list[bytes]) -> bytes:
    """SUSE's NDB layout (rpm lib/backend/ndb/rpmpkg.c): header + one slot page + 16-byte blocks."""
    page = 4096
    slots, data = b"", b""
    offset = page  # blobs start after the single slot page, in 16-byte blocks
    for i, blob in enumerate(blobs, start=1):
        record = struct.pack("<4sIII", b"BlbS", i, 0, len(blob)) + blob
        record += b"\x00" * (-len(record) % 16)
        slots += struct.pack("<4sIII", b"Slot", i, (offset + len(data)) // 16, len(record) // 16)
        data += record
    free = (page - 32) // 16 - len(blobs)
    slots += struct.pack("<4sIII", b"Slot", 0, 0, 0) * free
    return struct.pack("<4sIII16x", b"RpmP", 0, 1, 1) + slots + data


def test_rpm_ndb_suse() -> None:
    # Checked by hand against go-rpmdb's real sle15-bci/Packages.db (35 packages, all equal);
    # that file is too big to vendor, so the layout is rebuilt here.
    glibc = rpm_header({1000: (6, "glibc"), 1001: (6, "2.31"), 1002: (6, "9.3.2"), 1022: (6, "x86_64"),
                        1044: (6, "glibc-2.31-9.3.2.src.rpm")})  # fmt: skip
    pcre = rpm_header({1000: (6, "libpcre1"), 1001: (6, "8.45"), 1002: (6, "20.10.1"), 1022: (6, "x86_64"),
                       1044: (6, "pcre-8.45-20.10.1.src.rpm")})  # fmt: skip
    out = run(RpmAnalyzer(), "usr/lib/sysimage/rpm/Packages.db", ndb([glibc, pcre]))
    assert [(p.name, p.version, p.source_name) for p in out.packages] == [
        ("glibc", "2.31-9.3.2", "glibc"),
        ("libpcre1", "8.45-20.10.1", "pcre"),
    ]


def test_rpm_unreadable_databases_are_noted_not_failed() -> None:
    for path in ("var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db"):
        out = run(RpmAnalyzer(), path, b"\x00" * 4096)
        assert out.packages == [] and "unreadable" in out.notes[0]
    bad = run(RpmAnalyzer(), "usr/lib/sysimage/rpm/rpmdb.sqlite", b"not sqlite at all" * 10)
    assert bad.packages == [] and bad.notes


# ------------------------------------------------------------------------------------------ os-release
def test_os_release_quoting_and_comments() -> None:
    text = (
        '# comment\nNAME="Ubuntu"\nVERSION="22.04.3 LTS (Jammy Jellyfish)"\nID=ubuntu\n'
        "ID_LIKE=debian\nVERSION_ID='22.04'\nBROKEN LINE\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\n"
    )
    fields = parse_os_release(text)
    assert fields["ID"] == "ubuntu" and fields["VERSION_ID"] == "22.04"
    assert fields["VERSION"] == "22.04.3 LTS (Jammy Jellyfish)"
    a = OsReleaseAnalyzer()
    assert run(a, "usr/lib/os-release", text.encode()).os == fields
    assert run(a, "etc/os-release", b"NAME=nothing\n").os is None  # no ID: not an OS
    assert run(a, "etc/debian_version", b"12.5\n").os == {"content": "12.5"}
    assert not a.wants("opt/etc/os-release", 0o644, 10)


# ------------------------------------------------------------------------------------------ python
METADATA = """\
Metadata-Version: 2.1
Name: Flask_SQLAlchemy
Version: 3.0.5
Summary: Add SQLAlchemy support to your Flask application.
License: BSD-3-Clause
Classifier: License :: OSI Approved :: BSD License
Requires-Dist: flask>=2.2.5

Name: not-this
Version: 0.0.0
"""


def test_python_dist_info_keeps_name_as_written() -> None:
    path = "usr/local/lib/python3.12/site-packages/Flask_SQLAlchemy-3.0.5.dist-info/METADATA"
    out = run(PythonAnalyzer(), path, METADATA.encode())
    (p,) = out.packages
    assert (p.name, p.version, p.ecosystem, p.package_manager) == (
        "Flask_SQLAlchemy",
        "3.0.5",
        "PyPI",
        PYTHONPKG,
    )
    assert p.purl == "pkg:pypi/flask-sqlalchemy@3.0.5" and p.license == "BSD-3-Clause"


def test_python_egg_info_variants() -> None:
    a = PythonAnalyzer()
    pkg_info = b"Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\nLicense: UNKNOWN\n"
    for path in (
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
        "opt/eggs/six-1.16.0-py3.11.egg/EGG-INFO/PKG-INFO",
    ):
        out = run(a, path, pkg_info)
        assert nv(out) == [("six", "1.16.0")] and out.packages[0].license is None
    assert run(a, "x.dist-info/METADATA", b"Metadata-Version: 2.1\nName: nover\n").packages == []
    assert not a.wants("usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD", 0o644, 1)


# ------------------------------------------------------------------------------------------ npm
@pytest.mark.parametrize(
    ("path", "root"),
    [
        ("app/node_modules/lodash/package.json", True),
        ("app/node_modules/@babel/core/package.json", True),
        ("app/node_modules/a/node_modules/b/package.json", True),
        ("app/node_modules/rxjs/ajax/package.json", False),
        ("app/node_modules/@babel/package.json", False),
        ("app/node_modules/@babel/core/lib/package.json", False),
        ("app/package.json", False),
        ("node_modules/.bin/package.json", False),
    ],
)
def test_npm_package_roots(path: str, root: bool) -> None:
    assert is_package_root(path) is root
    assert NpmAnalyzer().wants(path, 0o644, 10) is root


def test_npm_package_json() -> None:
    a = NpmAnalyzer()
    data = {"name": "@types/node", "version": "20.8.0", "licenses": [{"type": "MIT"}]}
    out = run(a, "usr/lib/node_modules/@types/node/package.json", json.dumps(data).encode())
    (p,) = out.packages
    assert (p.name, p.version, p.ecosystem, p.package_manager) == ("@types/node", "20.8.0", "npm", NODEPKG)
    assert p.purl == "pkg:npm/%40types/node@20.8.0" and p.license == "MIT"
    assert run(a, "node_modules/x/package.json", b'{"name": "x"}').packages == []
    assert run(a, "node_modules/x/package.json", b"{not json").notes
    assert run(a, "node_modules/x/package.json", b"[1, 2]").packages == []


# ------------------------------------------------------------------------------------------ Go
def test_go_inline_buildinfo() -> None:
    out = run(BinaryAnalyzer(), "usr/local/bin/app", go_elf(), 0o755)
    assert nv(out) == [
        ("example.com/app", "v1.0.0"),
        ("golang.org/x/net", "v0.10.0"),
        ("golang.org/x/text", "v0.3.7"),
        ("stdlib", "1.21.1"),
    ]
    assert all(p.ecosystem == "Go" and p.package_manager == GOBINARY for p in out.packages)
    assert out.packages[2].purl == "pkg:golang/golang.org/x/text@v0.3.7"


def test_go_replacements_devel_main_and_experiment_version() -> None:
    modinfo = [
        "path\tgithub.com/acme/tool",
        "mod\tgithub.com/acme/tool\t(devel)\t",
        "dep\tgithub.com/old/lib\tv1.0.0\th1:x=",
        "=>\tgithub.com/fork/lib\tv1.0.1\th1:y=",
        "dep\tgithub.com/local/lib\tv0.0.0-00010101000000-000000000000\t",
        "=>\t../lib\t\t",
        "dep\tgithub.com/acme/tool/internal/x\tv0.0.0-00010101000000-000000000000\t",
        "=>\t./internal/x\t(devel)\t",
        "dep\tgolang.org/x/sys\tv0.0.0-20220722155257-8c9f86f7a55f\th1:z=",
    ]
    out = run(BinaryAnalyzer(), "bin/tool", go_elf("go1.22.1 X:loopvar", modinfo), 0o755)
    assert nv(out) == [
        ("github.com/fork/lib", "v1.0.1"),
        ("golang.org/x/sys", "v0.0.0-20220722155257-8c9f86f7a55f"),
        ("stdlib", "1.22.1"),
    ]
    assert go_stdlib_version("devel go1.23-abcdef") is None


@pytest.mark.parametrize(
    ("ldflags", "version"),
    [
        ('-ldflags="-w -s -X main.version=1.18.1 -X main.gitCommit=5e16e50"', "v1.18.1"),  # syft's own
        (
            r'-ldflags=" -X \"github.com/docker/cli/cli/version.Version=28.2.2\" -extldflags -static"',
            "v28.2.2",
        ),
        ('-ldflags="-X github.com/acme/tool/cmd.Version=v2.0.0-rc.1"', "v2.0.0-rc.1"),
        ('-ldflags="-X main.version=dev"', None),  # not a version
        ('-ldflags="-X github.com/acme/tool/internal/dep.Version=1.2.3"', None),  # some dependency's
        ('-ldflags="-s -w"', None),
    ],
)
def test_go_devel_main_module_version_from_ldflags(ldflags: str, version: str | None) -> None:
    modinfo = ["path\tgithub.com/acme/tool", "mod\tgithub.com/acme/tool\t(devel)\t", f"build\t{ldflags}"]
    out = run(BinaryAnalyzer(), "bin/tool", go_elf("go1.21.0", modinfo), 0o755)
    expected = [("github.com/acme/tool", version)] if version else []
    assert nv(out) == [*expected, ("stdlib", "1.21.0")]


def _pointer_format_elf(section_name: str = ".go.buildinfo") -> bytes:
    """Go < 1.18 layout: header pointers -> Go string headers -> bytes, all as virtual addresses."""
    vers = b"go1.15.2"
    mod = GO_SENTINEL_START + ("\n".join(GO_MODINFO[:4]) + "\n").encode() + GO_SENTINEL_END

    def blob(base: int) -> bytes:
        header = BUILDINFO_MAGIC + bytes([8, 0]) + struct.pack("<QQ", base + 32, base + 48)
        strings = struct.pack("<QQ", base + 64, len(vers)) + struct.pack(
            "<QQ", base + 64 + len(vers), len(mod)
        )
        return header + strings + vers + mod

    first = elf64([(section_name, blob(0))])
    sec = ELFFile(io.BytesIO(first)).get_section_by_name(section_name)
    assert sec is not None
    return elf64([(section_name, blob(int(sec.header.sh_addr)))])


@pytest.mark.parametrize("section", [".go.buildinfo", ".data"])  # .data: found through the PT_LOAD fallback
def test_go_pointer_format(section: str) -> None:
    out = run(BinaryAnalyzer(), "usr/bin/old", _pointer_format_elf(section), 0o755)
    assert nv(out) == [
        ("example.com/app", "v1.0.0"),
        ("golang.org/x/net", "v0.10.0"),
        ("golang.org/x/text", "v0.3.7"),
        ("stdlib", "1.15.2"),
    ]


def test_binary_gates() -> None:
    a = BinaryAnalyzer()
    assert not a.wants("usr/bin/app", 0o644, 10_000)  # not executable
    assert not a.magic_ok(b"#!/bin/sh\n")
    assert run(a, "usr/bin/c", elf64([(".text", b"\x90" * 64)]), 0o755).packages == []  # plain C binary
    broken = run(a, "usr/bin/broken", b"\x7fELF" + b"\xff" * 100, 0o755)
    assert broken.packages == [] and broken.notes


# ------------------------------------------------------------------------------------------ Rust
def test_cargo_auditable() -> None:
    deps = {
        "packages": [
            {
                "name": "crate_with_features",
                "version": "0.1.0",
                "source": "local",
                "kind": "runtime",
                "root": True,
            },
            {"name": "library_crate", "version": "0.1.0", "source": "local", "kind": "runtime"},
            {"name": "serde", "version": "1.0.188", "source": "crates.io", "kind": "runtime"},
            {"name": "openssl", "version": "0.10.55", "source": "crates.io", "kind": "runtime"},
            {"name": "fork", "version": "1.0.0", "source": "git", "kind": "runtime"},
        ]
    }
    exe = elf64([(".dep-v0", zlib.compress(json.dumps(deps).encode()))])
    out = run(BinaryAnalyzer(), "usr/local/bin/rusty", exe, 0o755)
    assert nv(out) == [("serde", "1.0.188"), ("openssl", "0.10.55")]  # only crates.io sources
    assert out.packages[0].ecosystem == "crates.io" and out.packages[0].package_manager == CARGO
    assert out.packages[0].purl == "pkg:cargo/serde@1.0.188"


# ------------------------------------------------------------------------------------------ Java
def test_jar_pom_properties() -> None:
    out = run(JavaAnalyzer(), "opt/app/lib/log4j-core-2.14.1.jar", log4j_jar())
    (p,) = out.packages
    assert (p.name, p.version, p.ecosystem, p.package_manager) == (
        "org.apache.logging.log4j:log4j-core",
        "2.14.1",
        "Maven",
        JAR,
    )
    assert p.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


def test_jar_manifest_and_filename_fallbacks() -> None:
    a = JavaAnalyzer()
    manifest = (
        "Manifest-Version: 1.0\r\nImplementation-Title: commons-text\r\nImplementation-Version: 1.9\r\n"
        "Implementation-Vendor-Id: org.apache.comm\r\n ons\r\nCreated-By: Maven\r\n\r\n"
        "Name: sec\r\nImplementation-Version: 9\r\n"
    )
    out = run(a, "app/commons-text.jar", make_jar({"META-INF/MANIFEST.MF": manifest}))
    assert nv(out) == [("org.apache.commons:commons-text", "1.9")]  # continuation line joined
    bundle = (
        "Bundle-SymbolicName: com.fasterxml.jackson.core.jackson-databind;singleton:=true\n"
        "Bundle-Version: 2.13.0\nBundle-Name: Jackson-databind\n"
    )
    out = run(a, "app/jd.jar", make_jar({"META-INF/MANIFEST.MF": bundle}))
    assert nv(out) == [("com.fasterxml.jackson.core:Jackson-databind", "2.13.0")]
    # Maven-style file names beat human-readable titles; odd version decorations are cut;
    # `%key` OSGi localisation placeholders are not names (shapes of jna 5.13.0, equinox).
    jna = (
        "Implementation-Title: com.sun.jna\nImplementation-Version: 5.13.0 (b0)\n"
        "Bundle-SymbolicName: com.sun.jna\nBundle-Version: 5.13.0\n"
    )
    assert nv(run(a, "lib/jna-5.13.0.jar", make_jar({"META-INF/MANIFEST.MF": jna}))) == [
        ("com.sun:jna", "5.13.0")
    ]
    assert nv(run(a, "lib/jna.jar", make_jar({"META-INF/MANIFEST.MF": jna}))) == [
        ("com.sun:com.sun.jna", "5.13.0")
    ]
    osgi = "Bundle-Name: %systemBundle\nBundle-SymbolicName: org.eclipse.osgi; singleton:=true\n"
    osgi += "Bundle-Version: 3.2\n"
    assert nv(run(a, "lib/osgi.jar", make_jar({"META-INF/MANIFEST.MF": osgi}))) == []
    assert nv(run(a, "lib/org.eclipse.osgi-3.23.100.jar", make_jar({"META-INF/MANIFEST.MF": osgi}))) == [
        ("org.eclipse:org.eclipse.osgi", "3.23.100")
    ]
    out = run(a, "app/lib/guava-31.1-jre.jar", make_jar({"com/google/A.class": b"\xca\xfe"}))
    assert nv(out) == [("guava", "31.1-jre")]
    assert run(a, "app/x.jar", b"PK\x03\x04garbage" * 10).notes


def test_nested_fat_jar_and_shaded_poms() -> None:
    def pom(g: str, a: str, v: str) -> dict[str, bytes | str]:
        return {f"META-INF/maven/{g}/{a}/pom.properties": f"groupId={g}\nartifactId={a}\nversion={v}\n"}

    inner = make_jar(pom("com.fasterxml.jackson.core", "jackson-databind", "2.13.0"))
    shaded = make_jar({**pom("com.acme", "shaded", "1.0"), **pom("com.google.guava", "guava", "30.0-jre")})
    boot = make_jar(
        {
            **pom("com.acme", "service", "${project.version}"),  # unresolved: ignored
            "BOOT-INF/lib/jackson-databind-2.13.0.jar": inner,
            "BOOT-INF/lib/shaded-1.0.jar": shaded,
            "BOOT-INF/lib/log4j-core-2.14.1.jar": log4j_jar(),
        }
    )
    war = make_jar({"WEB-INF/lib/app.jar": boot})
    out = run(JavaAnalyzer(), "srv/app.war", war)
    assert sorted(nv(out)) == [
        ("com.acme:shaded", "1.0"),
        ("com.fasterxml.jackson.core:jackson-databind", "2.13.0"),
        ("com.google.guava:guava", "30.0-jre"),
        ("org.apache.logging.log4j:log4j-core", "2.14.1"),
    ]
    log4j = next(p for p in out.packages if "log4j" in p.name)
    assert log4j.file_path == "srv/app.war:WEB-INF/lib/app.jar:BOOT-INF/lib/log4j-core-2.14.1.jar"


def test_every_analyzer_has_a_unique_name() -> None:
    names = [a.name for a in all_analyzers()]
    assert len(names) == len(set(names))


def test_jar_metadata_bomb_is_read_only_in_part() -> None:
    huge = "version=1.0\ngroupId=g\nartifactId=a\n" + "#" * (32 * 1024 * 1024)
    jar = make_jar({"META-INF/maven/g/a/pom.properties": huge})
    assert len(jar) < 1024 * 1024
    out = run(JavaAnalyzer(), "lib/a.jar", jar)
    assert nv(out) == [("g:a", "1.0")]  # the first MiB has everything a pom.properties needs


# ------------------------------------------------------------------------------------------ Ruby
def test_gemspec_stubs() -> None:
    from dockyard.features.scanning.analyzers.ruby import RubyAnalyzer
    from dockyard.features.scanning.model import GEMSPEC
    from tests.scanning_images import gemspec

    a = RubyAnalyzer()
    path = "usr/local/lib/ruby/gems/3.2.0/specifications/default/json-2.6.3.gemspec"
    (p,) = run(a, path, gemspec("json", "2.6.3", ["Ruby", "BSD-2-Clause"]).encode()).packages
    assert (p.name, p.version, p.ecosystem, p.package_manager) == ("json", "2.6.3", "RubyGems", GEMSPEC)
    assert p.purl == "pkg:gem/json@2.6.3" and p.license == "Ruby AND BSD-2-Clause"
    single = (
        "Gem::Specification.new do |s|\n  s.name = 'rake'\n  s.version = '13.0.6'\n  s.license = 'MIT'\nend\n"
    )
    (p,) = run(a, "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec", single.encode()).packages
    assert (p.name, p.version, p.license) == ("rake", "13.0.6", "MIT")
    assert run(a, "x/specifications/broken.gemspec", b"s.name = 'x'\n").packages == []
    assert not a.wants("src/myapp/myapp.gemspec", 0o644, 100)  # a gem's source tree, not an install
