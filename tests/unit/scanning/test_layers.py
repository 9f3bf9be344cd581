"""Layer walking: compression sniffing, diff_id, path normalisation, whiteouts, size caps, the
cacheable JSON form, and the async feed from the blob store with flat memory."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import tarfile
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import zstandard

from dockyard.features.scanning import layers as layers_mod
from dockyard.features.scanning.layers import (
    LayerError,
    LayerResult,
    analyze_blob,
    analyze_layer,
    analyze_path,
    normalize,
)
from tests.scanning_images import (
    Entry,
    build_layer,
    compress,
    debian12_image,
    file,
    go_elf,
    hardlink,
    log4j_jar,
    opaque,
    sha256,
    symlink,
    whiteout,
)

STATUS = "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\n"
METADATA = "Metadata-Version: 2.1\nName: urllib3\nVersion: 2.0.5\n"


def analyze(tar: bytes, compression: str = "plain") -> LayerResult:
    return analyze_layer(io.BytesIO(compress(tar, compression)))


def names(r: LayerResult) -> dict[str, list[tuple[str, str]]]:
    return {k: [(p.name, p.version) for p in v] for k, v in r.packages.items()}


# ------------------------------------------------------------------------------------------ formats
@pytest.mark.parametrize("compression", ["plain", "gzip", "zstd"])
def test_compression_is_sniffed_and_diff_id_is_of_the_tar(compression: str) -> None:
    tar = build_layer([file("var/lib/dpkg/status", STATUS), file("etc/debian_version", "12.2\n")])
    r = analyze(tar, compression)
    assert r.compression == compression
    assert r.diff_id == sha256(tar) and r.size == len(tar)
    assert names(r) == {"var/lib/dpkg/status": [("zlib1g", "1:1.2.13.dfsg-1")]}
    assert r.os_info == {"etc/debian_version": {"content": "12.2"}}


def test_media_type_is_irrelevant_and_multi_frame_streams_work() -> None:
    tar = build_layer([file("var/lib/dpkg/status", STATUS)])
    half = len(tar) // 2
    # pigz/zstd -T may write several members/frames; both decoders must read across them.
    multi_gzip = gzip.compress(tar[:half], mtime=0) + gzip.compress(tar[half:], mtime=0)
    cctx = zstandard.ZstdCompressor()
    multi_zstd = cctx.compress(tar[:half]) + cctx.compress(tar[half:])
    for blob in (multi_gzip, multi_zstd):
        r = analyze_layer(io.BytesIO(blob))
        assert r.diff_id == sha256(tar) and list(r.packages) == ["var/lib/dpkg/status"]


def test_diff_id_verification_and_tar_padding() -> None:
    tar = build_layer([file("etc/debian_version", "12\n")]) + b"\x00" * 10240  # extra record padding
    r = analyze_layer(io.BytesIO(gzip.compress(tar)), expected_diff_id=sha256(tar))
    assert r.diff_id == sha256(tar) and r.size == len(tar)
    with pytest.raises(LayerError, match="expected"):
        analyze_layer(io.BytesIO(tar), expected_diff_id="sha256:" + "0" * 64)


@pytest.mark.parametrize(
    "blob",
    [
        b"this is not a tar file at all" * 40,
        gzip.compress(build_layer([file("var/lib/dpkg/status", STATUS * 50)]))[:-6],  # truncated gzip
        b"\x1f\x8b" + b"\x00" * 100,  # gzip magic, garbage
        b"\x28\xb5\x2f\xfd" + b"\xff" * 100,  # zstd magic, garbage
    ],
)
def test_unreadable_layers_raise_layer_error(blob: bytes) -> None:
    with pytest.raises(LayerError):
        analyze_layer(io.BytesIO(blob))


def test_empty_blob_and_empty_tar() -> None:
    assert analyze_layer(io.BytesIO(b"")).diff_id == sha256(b"")
    empty = build_layer([])
    r = analyze_layer(io.BytesIO(gzip.compress(empty)))
    assert r.diff_id == sha256(empty) and r.packages == {} and r.analyzed == []


# ------------------------------------------------------------------------------------------ paths
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("etc/os-release", "etc/os-release"),
        ("/etc/os-release", "etc/os-release"),
        ("./etc/os-release", "etc/os-release"),
        ("etc//./os-release", "etc/os-release"),
        ("etc/../etc/os-release", "etc/os-release"),
        ("../../etc/os-release", None),  # escapes: Docker refuses to extract these
        ("/../etc/os-release", None),
        ("usr/../../etc/os-release", None),
        ("./", None),
        ("..", None),
        ("/", None),
    ],
)
def test_normalize(name: str, expected: str | None) -> None:
    assert normalize(name) == expected


def test_path_tricks_in_a_real_tar() -> None:
    tar = build_layer(
        [
            Entry("./var/lib/dpkg/status", data=STATUS.encode()),
            Entry("/usr/lib/python3/dist-packages/urllib3-2.0.5.dist-info/METADATA", data=METADATA.encode()),
            Entry("opt/x/../../etc/debian_version", data=b"12.4\n"),
            Entry("../etc/alpine-release", data=b"3.19.0\n"),
            Entry("proc/self/status", data=b"Package: p\nVersion: 1\n"),
        ],
        add_parents=False,
    )
    r = analyze(tar)
    assert sorted(r.packages) == [
        "usr/lib/python3/dist-packages/urllib3-2.0.5.dist-info/METADATA",
        "var/lib/dpkg/status",
    ]
    assert r.os_info == {"etc/debian_version": {"content": "12.4"}}


# ------------------------------------------------------------------------------------------ whiteouts
def test_whiteouts_and_opaque_dirs_are_recorded_not_analyzed() -> None:
    tar = build_layer(
        [
            whiteout("usr/lib/python3/dist-packages/requests-2.31.0.dist-info"),
            whiteout("etc/debian_version"),
            opaque("opt/legacy"),
            opaque(""),  # a whole-rootfs opaque marker
            file("usr/.wh..wh.plnk/123.456", b""),  # aufs hardlink bookkeeping: ignored
            file("opt/legacy/new.txt", "x"),
        ]
    )
    r = analyze(tar)
    assert r.whiteouts == ["etc/debian_version", "usr/lib/python3/dist-packages/requests-2.31.0.dist-info"]
    assert r.opaque_dirs == ["", "opt/legacy"]


def test_symlinks_are_not_followed_hardlinks_are_resolved() -> None:
    tar = build_layer(
        [
            file("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            symlink("etc/os-release", "../usr/lib/os-release"),
            file("srv/a/node_modules/left-pad/package.json", '{"name":"left-pad","version":"1.3.0"}'),
            hardlink("srv/b/node_modules/left-pad/package.json", "srv/a/node_modules/left-pad/package.json"),
            hardlink("srv/c/node_modules/missing/package.json", "nowhere/package.json"),
        ]
    )
    r = analyze(tar)
    assert list(r.os_info) == ["usr/lib/os-release"]
    assert names(r) == {
        "srv/a/node_modules/left-pad/package.json": [("left-pad", "1.3.0")],
        "srv/b/node_modules/left-pad/package.json": [("left-pad", "1.3.0")],
    }
    assert any("nowhere" in n for n in r.notes)


def test_analyzed_lists_files_read_even_without_results() -> None:
    tar = build_layer(
        [
            file("usr/bin/app", b"\x7fELF" + b"\x00" * 200, 0o755),  # ELF-looking, unparseable
            file("usr/bin/script", "#!/bin/sh\necho hi\n" * 10, 0o755),  # not ELF: never read further
            file("usr/local/bin/go-app", go_elf(), 0o755),
        ]
    )
    r = analyze(tar)
    assert r.analyzed == ["usr/bin/app", "usr/local/bin/go-app"]
    assert list(r.packages) == ["usr/local/bin/go-app"]


def test_size_caps_skip_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.features.scanning.analyzers.dpkg import DpkgAnalyzer

    monkeypatch.setattr(DpkgAnalyzer, "max_size", 100)
    r = analyze(build_layer([file("var/lib/dpkg/status", STATUS * 10)]))
    assert r.packages == {} and "over the 100-byte limit" in r.notes[0]


def test_duplicate_member_last_copy_wins() -> None:
    tar = build_layer(
        [
            file("var/lib/dpkg/status", STATUS),
            file("var/lib/dpkg/status", STATUS.replace("zlib1g", "zlib1g-dev")),
        ]
    )
    assert names(analyze(tar)) == {"var/lib/dpkg/status": [("zlib1g-dev", "1:1.2.13.dfsg-1")]}


def test_analyzer_crash_becomes_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.features.scanning.analyzers.npm import NpmAnalyzer

    def boom(*_: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(NpmAnalyzer, "analyze", boom)
    r = analyze(build_layer([file("node_modules/a/package.json", "{}"), file("var/lib/dpkg/status", STATUS)]))
    assert list(r.packages) == ["var/lib/dpkg/status"] and "kaput" in r.notes[0]


def test_json_round_trip() -> None:
    image = debian12_image()
    for _, blob in image.layers:
        r = analyze_layer(io.BytesIO(blob))
        again = LayerResult.from_json(r.to_json())
        assert again == r
        assert again.to_json() == r.to_json()


def test_analyze_path_and_jar_spooling(tmp_path: Path) -> None:
    jar = log4j_jar()
    padding = b"\x00" * (layers_mod.SPOOL_IN_MEMORY + 1)  # forces the spool onto disk
    big_jar = jar + padding  # trailing junk: zipfile may or may not cope, the walk must
    tar = build_layer([file("opt/app/log4j-core.jar", jar), file("opt/app/big.jar", big_jar)])
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(gzip.compress(tar))
    r = analyze_path(path, expected_diff_id=sha256(tar))
    assert names(r)["opt/app/log4j-core.jar"] == [("org.apache.logging.log4j:log4j-core", "2.14.1")]
    assert "opt/app/big.jar" in r.analyzed  # read through a temp file, whatever zipfile made of it


# ------------------------------------------------------------------------------------------ async
async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


def test_analyze_blob_matches_analyze_layer() -> None:
    image = debian12_image()
    for (_, blob), diff_id in zip(image.layers, image.diff_ids, strict=True):
        r = asyncio.run(analyze_blob(chunked(blob, 7000), expected_diff_id=diff_id))
        assert r == analyze_layer(io.BytesIO(blob))


def test_analyze_blob_errors_do_not_hang() -> None:
    async def garbage_forever() -> AsyncIterator[bytes]:
        while True:
            yield b"not a tar " * 1000
            await asyncio.sleep(0)

    async def failing() -> AsyncIterator[bytes]:
        yield build_layer([file("var/lib/dpkg/status", STATUS * 100)])[:2048]
        raise ConnectionError("store went away")

    with pytest.raises(LayerError):
        asyncio.run(asyncio.wait_for(analyze_blob(garbage_forever()), 20))
    with pytest.raises(LayerError, match="store went away"):
        asyncio.run(asyncio.wait_for(analyze_blob(failing()), 20))


def test_analyze_blob_cancellation_releases_the_worker() -> None:
    async def slow() -> AsyncIterator[bytes]:
        tar = build_layer([file("a", b"x" * 100_000)])
        yield tar[:1024]
        await asyncio.sleep(60)
        yield tar[1024:]

    async def main() -> None:
        task = asyncio.ensure_future(analyze_blob(slow()))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())  # asyncio.run waits for the default executor: a stuck worker would hang here
    assert time.monotonic() - started < 10


def big_layer_chunks(total: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """A tar with one `total`-byte file of zeros and a zero-padded "jar", generated lazily."""
    zeros = bytes(chunk)

    def member(name: str, size: int, head: bytes = b"") -> Iterator[bytes]:
        info = tarfile.TarInfo(name)
        info.size = size
        yield info.tobuf(tarfile.PAX_FORMAT)
        yield head
        left = size - len(head)
        while left > 0:
            n = min(left, chunk)
            yield zeros if n == chunk else bytes(n)
            left -= n
        yield bytes(-size % 512)

    yield from member("opt/big.bin", total)
    yield from member("opt/app/huge.jar", 48 * 1024 * 1024, b"PK\x03\x04")  # spooled to disk
    yield bytes(1024)


def test_large_layer_streams_with_flat_memory() -> None:
    total = 200 * 1024 * 1024
    expected = hashlib.sha256()
    for c in big_layer_chunks(total):
        expected.update(c)

    async def source() -> AsyncIterator[bytes]:
        comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
        for c in big_layer_chunks(total):
            out = comp.compress(c)
            if out:
                yield out
        yield comp.flush()

    started = time.monotonic()
    tracemalloc.start()
    try:
        r = asyncio.run(analyze_blob(source(), expected_diff_id="sha256:" + expected.hexdigest()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.size > total and r.compression == "gzip"
    assert "opt/app/huge.jar" in r.analyzed
    assert peak < 40 * 1024 * 1024, f"peak traced memory {peak / 2**20:.1f} MiB"
    assert time.monotonic() - started < 30
