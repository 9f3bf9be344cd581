"""Merging layers into an inventory: Trivy's whiteout/opaque order, layer attribution, OS
detection and ecosystems, source packages, and dropping language packages the OS installed."""

from __future__ import annotations

import io
import json

import pytest

from dockyard.features.scanning.apply import apply_layers, detect_os
from dockyard.features.scanning.layers import LayerResult, analyze_layer
from dockyard.features.scanning.model import GOBINARY, JAR, NODEPKG, OS, PYTHONPKG, Inventory, OsInfo
from tests.scanning_images import (
    Entry,
    TestImage,
    alpine319_image,
    build_layer,
    debian12_image,
    distroless_image,
    file,
    go_binary_image,
    go_elf,
    java_image,
    metadata,
    opaque,
    rocky9_image,
    ruby_image,
    scratch_image,
    ubi8_image,
    whiteout,
)


def inventory(image: TestImage) -> Inventory:
    return apply_layers(
        [
            (d, analyze_layer(io.BytesIO(blob)))
            for d, (_, blob) in zip(image.layer_digests, image.layers, strict=True)
        ]
    )


def layers(*entry_lists: list[Entry]) -> Inventory:
    return apply_layers(
        [(f"sha256:{i}", analyze_layer(io.BytesIO(build_layer(e)))) for i, e in enumerate(entry_lists)]
    )


def nvs(inv: Inventory) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in inv.packages}


# ------------------------------------------------------------------------------------------ images
def test_debian12_image() -> None:
    image = debian12_image()
    inv = inventory(image)
    assert inv.os == OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "Debian:12")
    got = {
        (p.name, p.version, p.ecosystem, p.package_manager, p.source_name, p.source_version)
        for p in inv.packages
    }
    assert got == {
        ("openssl", "3.0.11-1~deb12u1", "Debian:12", OS, "openssl", "3.0.11-1~deb12u1"),
        ("libssl3", "3.0.11-1~deb12u1", "Debian:12", OS, "openssl", "3.0.11-1~deb12u1"),
        ("libc6", "2.36-9+deb12u1", "Debian:12", OS, "glibc", "2.36-9+deb12u1"),
        ("zlib1g", "1:1.2.13.dfsg-1", "Debian:12", OS, "zlib", "1:1.2.13.dfsg-1"),
        # requests is whited out, urllib3 1.26.16 sat under the opaque-replaced /opt/legacy,
        # libgdbm6 is `deinstall ok config-files`.
        ("urllib3", "2.0.5", "PyPI", PYTHONPKG, None, None),
        ("lodash", "4.17.20", "npm", NODEPKG, None, None),
    }
    base, app = image.layer_digests
    by_name = {p.name: p for p in inv.packages}
    assert by_name["urllib3"].layer_digest == base and by_name["lodash"].layer_digest == app
    assert by_name["libc6"].layer_digest == base
    assert by_name["urllib3"].file_path == "usr/lib/python3/dist-packages/urllib3-2.0.5.dist-info/METADATA"
    assert by_name["libssl3"].purl == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"
    )
    assert [p.package_manager for p in inv.packages][:4] == [OS] * 4  # OS packages first
    assert Inventory.from_json(json.loads(json.dumps(inv.to_json()))) == inv


def test_alpine319_image() -> None:
    inv = inventory(alpine319_image())
    assert inv.os is not None and inv.os.ecosystem == "Alpine:v3.19" and inv.os.version_id == "3.19.0"
    got = {(p.name, p.version, p.ecosystem, p.source_name) for p in inv.packages}
    assert got == {
        ("musl", "1.2.4_git20230717-r4", "Alpine:v3.19", "musl"),
        ("libcrypto3", "3.1.3-r0", "Alpine:v3.19", "openssl"),
        ("libssl3", "3.1.3-r0", "Alpine:v3.19", "openssl"),
    }
    assert {p.license for p in inv.packages} == {"MIT", "Apache-2.0"}


def test_go_java_and_scratch_images() -> None:
    go = inventory(go_binary_image())
    assert go.os is None
    assert {(p.name, p.version, p.ecosystem, p.package_manager) for p in go.packages} == {
        ("example.com/app", "v1.0.0", "Go", GOBINARY),
        ("golang.org/x/net", "v0.10.0", "Go", GOBINARY),
        ("golang.org/x/text", "v0.3.7", "Go", GOBINARY),
        ("stdlib", "1.21.1", "Go", GOBINARY),
    }
    java = inventory(java_image())
    assert [(p.name, p.version, p.ecosystem, p.package_manager) for p in java.packages] == [
        ("org.apache.logging.log4j:log4j-core", "2.14.1", "Maven", JAR)
    ]
    assert inventory(scratch_image()) == Inventory(os=None, packages=[])
    ruby = inventory(ruby_image())
    assert {(p.name, p.version, p.ecosystem) for p in ruby.packages} == {
        ("rack", "2.2.8", "RubyGems"),
        ("json", "2.6.3", "RubyGems"),
    }


def test_rocky9_rpm_image() -> None:
    inv = inventory(rocky9_image())
    assert inv.os is not None and (inv.os.id, inv.os.version_id, inv.os.ecosystem) == (
        "rocky",
        "9.3",
        "Rocky Linux:9",
    )
    got = {(p.name, p.version, p.ecosystem, p.source_name, p.source_version, p.arch) for p in inv.packages}
    assert got == {
        ("glibc", "2.34-83.el9_3.7", "Rocky Linux:9", "glibc", "2.34-83.el9_3.7", "x86_64"),
        ("openssl-libs", "1:3.0.7-24.el9", "Rocky Linux:9", "openssl", "1:3.0.7-24.el9", "x86_64"),
        ("bash", "5.1.8-6.el9_1", "Rocky Linux:9", "bash", "5.1.8-6.el9_1", "x86_64"),
    }
    ssl = next(p for p in inv.packages if p.name == "openssl-libs")
    assert ssl.purl == (
        "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"
        "&upstream=openssl-3.0.7-24.el9.src.rpm"
    )


def test_ubi8_berkeley_db_image() -> None:
    inv = inventory(ubi8_image())
    assert inv.os is not None and (inv.os.id, inv.os.version_id, inv.os.ecosystem) == ("rhel", "8.8", None)
    (p,) = inv.packages
    assert (p.name, p.version, p.ecosystem, p.source_name) == (
        "libuuid",
        "2.32.1-42.el8_8",
        None,
        "util-linux",
    )
    assert p.purl == (
        "pkg:rpm/redhat/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=rhel-8.8&upstream=util-linux-2.32.1-42.el8_8.src.rpm"
    )


def test_distroless_status_d_image() -> None:
    inv = inventory(distroless_image())
    assert inv.os is not None and inv.os.ecosystem == "Debian:12"
    os_pkgs = {(p.name, p.source_name, p.source_version) for p in inv.packages if p.package_manager == OS}
    assert os_pkgs == {
        ("base-files", "base-files", "12.4+deb12u4"),
        ("libssl3", "openssl", "3.0.11-1~deb12u2"),
        ("tzdata", "tzdata", "2024a-0+deb12u1"),
        ("libc6", "glibc", "2.36-9+deb12u4"),  # binNMU: source version from `Source: glibc (...)`
    }
    assert {p.name for p in inv.packages if p.package_manager == GOBINARY} == {
        "example.com/app",
        "golang.org/x/net",
        "golang.org/x/text",
        "stdlib",
    }


# ------------------------------------------------------------------------------------------ semantics
SITE = "usr/lib/python3/dist-packages"


def dist(name: str, version: str) -> Entry:
    return file(f"{SITE}/{name}-{version}.dist-info/METADATA", metadata(name, version))


def test_whiteout_only_hides_lower_layers() -> None:
    # Same-layer whiteout of a file the layer also adds: the file survives (OCI spec).
    inv = layers([dist("six", "1.16.0")], [whiteout(f"{SITE}/six-1.16.0.dist-info"), dist("six", "1.16.0")])
    assert nvs(inv) == {("six", "1.16.0")}
    assert inv.packages[0].layer_digest == "sha256:1"
    # Opaque markers apply before the layer's own entries, whatever the tar order.
    inv = layers([dist("six", "1.16.0"), dist("idna", "3.4")], [dist("attrs", "23.1.0"), opaque(SITE)])
    assert nvs(inv) == {("attrs", "23.1.0")}


def test_whiteout_of_a_parent_directory_and_later_restore() -> None:
    base = [dist("six", "1.16.0"), dist("idna", "3.4")]
    assert layers(base, [whiteout("usr/lib/python3")]).packages == []
    assert nvs(layers(base, [whiteout("usr/lib/python3")], [dist("idna", "3.6")])) == {("idna", "3.6")}
    # A sibling with a common prefix is not a child.
    assert nvs(layers(base, [whiteout(f"{SITE}/six-1.16.0.dist")])) == {("six", "1.16.0"), ("idna", "3.4")}
    # A root opaque marker hides everything below it.
    assert layers(base, [opaque("")]).packages == []


def test_rewritten_files_replace_lower_results() -> None:
    status = "Package: a\nVersion: 1\nStatus: install ok installed\n\nPackage: b\nVersion: 2\n"
    inv = layers(
        [file("var/lib/dpkg/status", status), file("usr/local/bin/app", go_elf(), 0o755)],
        [
            file("var/lib/dpkg/status", "Package: a\nVersion: 1.1\n"),  # b removed, a upgraded
            file("usr/local/bin/app", b"\x7fELF but no longer Go" + b"\x00" * 100, 0o755),
        ],
    )
    assert nvs(inv) == {("a", "1.1")}
    assert inv.packages[0].layer_digest == "sha256:1"


def test_a_symlink_replacing_an_analyzed_file_hides_it() -> None:
    lower = [
        file("etc/os-release", "ID=ubuntu\nVERSION_ID=20.04\n"),
        file("usr/lib/os-release", "ID=ubuntu\n"),
    ]
    upper = [
        file("usr/lib/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\n'),
        Entry("etc/os-release", "symlink", mode=0o777, target="../usr/lib/os-release"),
    ]
    inv = layers(lower, upper)
    assert inv.os is not None and inv.os.ecosystem == "Ubuntu:22.04:LTS"


def test_language_packages_owned_by_os_packages_are_dropped() -> None:
    egg = f"{SITE}/urllib3-1.26.12.egg-info/PKG-INFO"
    os_release = file("etc/os-release", "ID=debian\nVERSION_ID=12\n")
    deb = [
        os_release,
        file(
            "var/lib/dpkg/status",
            "Package: python3-urllib3\nVersion: 1.26.12-1\nStatus: install ok installed\n",
        ),
        file("var/lib/dpkg/info/python3-urllib3.list", f"/.\n/{SITE}\n/{egg}\n"),
        file(egg, metadata("urllib3", "1.26.12")),
        dist("requests", "2.31.0"),  # pip-installed: kept
    ]
    assert nvs(layers(deb)) == {("python3-urllib3", "1.26.12-1"), ("requests", "2.31.0")}
    # When the package is removed (its .list whited out) a leftover file counts again.
    assert ("urllib3", "1.26.12") in nvs(layers(deb, [whiteout("var/lib/dpkg/info/python3-urllib3.list")]))

    apk_db = "P:nodejs-npm\nV:10.2.5-r0\no:nodejs\nF:usr/lib/node_modules/npm\nR:package.json\n"
    inv = layers(
        [
            file("etc/alpine-release", "3.19.0\n"),
            file("lib/apk/db/installed", apk_db),
            file("usr/lib/node_modules/npm/package.json", '{"name":"npm","version":"10.2.5"}'),
            file("app/node_modules/express/package.json", '{"name":"express","version":"4.18.2"}'),
        ]
    )
    assert nvs(inv) == {("nodejs-npm", "10.2.5-r0"), ("express", "4.18.2")}
    assert inv.os is not None and inv.os.ecosystem == "Alpine:v3.19"


def test_os_packages_without_a_known_os_have_no_ecosystem() -> None:
    inv = layers([file("var/lib/dpkg/status", "Package: a\nVersion: 1\n")])
    assert inv.os is None and inv.packages[0].ecosystem is None
    assert inv.packages[0].purl == "pkg:deb/a@1"


# ------------------------------------------------------------------------------------------ OS
def rel(**kv: str) -> dict[str, str]:
    return dict(kv)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"etc/os-release": rel(ID="debian", VERSION_ID="12"), "etc/debian_version": {"content": "12.5"}},
            ("debian", "12", "Debian:12"),
        ),
        ({"etc/debian_version": {"content": "11.8"}}, ("debian", "11.8", "Debian:11")),
        (
            {"usr/lib/os-release": rel(ID="debian"), "etc/debian_version": {"content": "trixie/sid"}},
            ("debian", "trixie/sid", None),
        ),
        (
            {"etc/os-release": rel(ID="ubuntu", VERSION_ID="22.04", VERSION="22.04.3 LTS (Jammy Jellyfish)")},
            ("ubuntu", "22.04", "Ubuntu:22.04:LTS"),
        ),
        ({"etc/os-release": rel(ID="ubuntu", VERSION_ID="20.04")}, ("ubuntu", "20.04", "Ubuntu:20.04:LTS")),
        ({"etc/os-release": rel(ID="ubuntu", VERSION_ID="23.10")}, ("ubuntu", "23.10", "Ubuntu:23.10")),
        ({"etc/alpine-release": {"content": "3.18.4"}}, ("alpine", "3.18.4", "Alpine:v3.18")),
        (
            {
                "etc/os-release": rel(ID="alpine", VERSION_ID="3.20.0_alpha20231219"),
                "etc/apk/repositories": {"repositories": "https://dl-cdn.alpinelinux.org/alpine/edge/main"},
            },
            ("alpine", "3.20.0_alpha20231219", None),
        ),
        ({"etc/os-release": rel(ID="rocky", VERSION_ID="9.3")}, ("rocky", "9.3", "Rocky Linux:9")),
        ({"etc/os-release": rel(ID="almalinux", VERSION_ID="8.9")}, ("almalinux", "8.9", "AlmaLinux:8")),
        (
            {"etc/rocky-release": {"content": "Rocky Linux release 9.2 (Blue Onyx)"}},
            ("rocky", "9.2", "Rocky Linux:9"),
        ),
        ({"etc/os-release": rel(ID="rhel", VERSION_ID="9.3")}, ("rhel", "9.3", None)),
        ({"etc/os-release": rel(ID="wolfi", VERSION_ID="20230201")}, ("wolfi", "20230201", "Wolfi")),
        (
            {"etc/os-release": rel(ID="opensuse-leap", VERSION_ID="15.5", PRETTY_NAME="openSUSE Leap 15.5")},
            ("opensuse-leap", "15.5", "openSUSE:Leap 15.5"),
        ),
        (
            {
                "etc/os-release": rel(
                    ID="sles", VERSION_ID="15.5", PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"
                )
            },
            ("sles", "15.5", "SUSE:Linux Enterprise Server 15 SP5"),
        ),
        ({"etc/os-release": rel(ID="plan9", VERSION_ID="4")}, ("plan9", "4", None)),
        # etc/os-release wins over usr/lib/os-release when both are regular files
        (
            {
                "etc/os-release": rel(ID="ubuntu", VERSION_ID="22.04"),
                "usr/lib/os-release": rel(ID="debian", VERSION_ID="12"),
            },
            ("ubuntu", "22.04", "Ubuntu:22.04:LTS"),
        ),
    ],
)
def test_detect_os(files: dict[str, dict[str, str]], expected: tuple[str, str, str | None]) -> None:
    os = detect_os(files)
    assert os is not None and (os.id, os.version_id, os.ecosystem) == expected


def test_no_os() -> None:
    assert detect_os({}) is None
    assert detect_os({"etc/lsb-release": {"DISTRIB_ID": "Ubuntu"}}) is None


def test_cached_results_apply_identically() -> None:
    image = debian12_image()
    fresh = [
        (d, analyze_layer(io.BytesIO(b))) for d, (_, b) in zip(image.layer_digests, image.layers, strict=True)
    ]
    cached = [(d, LayerResult.from_json(json.loads(json.dumps(r.to_json())))) for d, r in fresh]
    assert apply_layers(cached) == apply_layers(fresh)
