"""rpm: the sqlite rpmdb (RHEL 9 family, Fedora, Amazon Linux 2023; table Packages(hnum, blob)),
the Berkeley DB hash `Packages` (RHEL/CentOS 5-8, Amazon Linux 2) and SUSE's NDB `Packages.db`,
each value an RPM header without its lead. The two binary formats are read like go-rpmdb does."""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from dockyard.features.scanning.analyzers import BaseAnalyzer, FileOutput, MiB
from dockyard.features.scanning.model import OS, Package

SQLITE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", "usr/share/rpm/rpmdb.sqlite")
BDB_PATHS = ("var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages")
NDB_PATHS = ("var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db")

# Berkeley DB hash database layout (libdb db_page.h), as go-rpmdb reads it.
BDB_HASH_MAGIC = 0x00061561
BDB_PAGE_SIZES = {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}
BDB_PAGE_HEADER = 26
BDB_HASH_UNSORTED, BDB_OVERFLOW, BDB_HASH = 2, 7, 13
BDB_HOFFPAGE = 3  # an item stored on a chain of overflow pages (every rpm header is one)
MAX_HEADER = 64 * MiB

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1014, 1022, 1044
TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES = 1116, 1117, 1118

T_INT16, T_INT32, T_STRING, T_BIN, T_STRING_ARRAY, T_I18NSTRING = 3, 4, 6, 7, 8, 9


class HeaderError(ValueError):
    pass


def parse_header(blob: bytes) -> dict[int, object]:
    """Index entries (tag, type, offset, count; big-endian) over a data store. Only the types
    needed here are decoded: strings, string arrays and 16/32-bit integer arrays."""
    if len(blob) < 8:
        raise HeaderError("short header")
    il, dl = struct.unpack_from(">II", blob, 0)
    start = 8 + 16 * il
    if il > 100_000 or start + dl > len(blob):
        raise HeaderError("header sizes exceed blob")
    store = blob[start : start + dl]
    out: dict[int, object] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        if off < 0 or off > dl:
            continue
        if typ in (T_STRING, T_I18NSTRING):
            end = store.find(b"\x00", off)
            out[tag] = store[off : end if end >= 0 else dl].decode("utf-8", "replace")
        elif typ == T_STRING_ARRAY:
            items, pos = [], off
            for _ in range(count):
                end = store.find(b"\x00", pos)
                if end < 0:
                    break
                items.append(store[pos:end].decode("utf-8", "replace"))
                pos = end + 1
            out[tag] = items
        elif typ == T_INT32:
            out[tag] = list(struct.unpack_from(f">{count}i", store, off)) if off + 4 * count <= dl else []
        elif typ == T_INT16:
            out[tag] = list(struct.unpack_from(f">{count}h", store, off)) if off + 2 * count <= dl else []
    return out


def _str(h: dict[int, object], tag: int) -> str | None:
    v = h.get(tag)
    return v if isinstance(v, str) and v else None


def _int(h: dict[int, object], tag: int) -> int | None:
    v = h.get(tag)
    return v[0] if isinstance(v, list) and v and isinstance(v[0], int) else None


def evr(epoch: int | None, version: str, release: str | None) -> str:
    """The form OSV's RPM ecosystems use: `[epoch:]version-release`, epoch only when non-zero."""
    out = f"{version}-{release}" if release else version
    return f"{epoch}:{out}" if epoch else out


def split_source_rpm(srpm: str) -> tuple[str, str, str] | None:
    """`openssl-3.0.7-24.el9.src.rpm` -> (openssl, 3.0.7, 24.el9)."""
    base = srpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = base.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def header_files(h: dict[int, object]) -> list[str]:
    dirs, bases, idx = h.get(TAG_DIRNAMES), h.get(TAG_BASENAMES), h.get(TAG_DIRINDEXES)
    if not (isinstance(dirs, list) and isinstance(bases, list) and isinstance(idx, list)):
        return []
    out = []
    for base, i in zip(bases, idx, strict=False):
        if isinstance(i, int) and 0 <= i < len(dirs):
            out.append(f"{dirs[i]}{base}".lstrip("/"))
    return out


def package_from_header(h: dict[int, object], path: str) -> Package | None:
    name, version = _str(h, TAG_NAME), _str(h, TAG_VERSION)
    if not name or not version or name == "gpg-pubkey":
        return None
    epoch, release = _int(h, TAG_EPOCH), _str(h, TAG_RELEASE)
    src_name, src_version = name, evr(epoch, version, release)
    srpm = _str(h, TAG_SOURCERPM)
    if srpm and (parts := split_source_rpm(srpm)):
        src_name, src_version = parts[0], evr(epoch, parts[1], parts[2])
    return Package(
        name=name,
        version=evr(epoch, version, release),
        ecosystem=None,
        package_manager=OS,
        file_path=path,
        source_name=src_name,
        source_version=src_version,
        arch=_str(h, TAG_ARCH),
        license=_str(h, TAG_LICENSE),
    )


class BdbError(ValueError):
    pass


def bdb_values(f: BinaryIO) -> Iterator[bytes]:
    """Every off-page value of a Berkeley DB hash database: walk the hash pages, take the value
    half of each key/value pair, and concatenate its overflow page chain."""
    f.seek(0)
    meta = f.read(512)
    if len(meta) < 512:
        raise BdbError("short metadata page")
    if struct.unpack_from("<I", meta, 12)[0] == BDB_HASH_MAGIC:
        order = "<"
    elif struct.unpack_from(">I", meta, 12)[0] == BDB_HASH_MAGIC:
        order = ">"
    else:
        raise BdbError("not a Berkeley DB hash database")
    (page_size,) = struct.unpack_from(order + "I", meta, 20)
    (last_page,) = struct.unpack_from(order + "I", meta, 32)
    if page_size not in BDB_PAGE_SIZES:
        raise BdbError(f"unexpected page size {page_size}")

    def page(number: int) -> bytes:
        f.seek(number * page_size)
        return f.read(page_size)

    for number in range(last_page + 1):
        data = page(number)
        if len(data) < page_size:
            break
        if data[25] not in (BDB_HASH, BDB_HASH_UNSORTED):
            continue
        (entries,) = struct.unpack_from(order + "H", data, 20)
        if entries % 2 or BDB_PAGE_HEADER + 2 * entries > page_size:
            continue
        offsets = struct.unpack_from(f"{order}{entries}H", data, BDB_PAGE_HEADER)
        for offset in offsets[1::2]:  # key, value, key, value...
            if offset + 12 > page_size or data[offset] != BDB_HOFFPAGE:
                continue
            current, _length = struct.unpack_from(order + "II", data, offset + 4)
            value = bytearray()
            seen: set[int] = set()
            while current and current not in seen and current <= last_page and len(value) < MAX_HEADER:
                seen.add(current)
                overflow = page(current)
                if len(overflow) < page_size or overflow[25] != BDB_OVERFLOW:
                    break
                (next_page,) = struct.unpack_from(order + "I", overflow, 16)
                (used,) = struct.unpack_from(order + "H", overflow, 22)  # bytes used on the last page
                value += (
                    overflow[BDB_PAGE_HEADER : BDB_PAGE_HEADER + used]
                    if not next_page
                    else overflow[BDB_PAGE_HEADER:]
                )
                current = next_page
            yield bytes(value)


NDB_MAGIC = int.from_bytes(b"RpmP", "little")
NDB_SLOT_MAGIC = int.from_bytes(b"Slot", "little")
NDB_BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
NDB_PAGE = 4096


def ndb_values(f: BinaryIO) -> Iterator[bytes]:
    """rpm's "new" database (lib/backend/ndb/rpmpkg.c): a 32-byte header, slot pages of 16-byte
    slots (magic, package index, block offset, block count), blobs at offset*16 behind a 16-byte
    blob header (magic, package index, checksum, length)."""
    f.seek(0)
    header = f.read(32)
    if len(header) < 32:
        raise BdbError("short NDB header")
    magic, version, _generation, slot_pages = struct.unpack_from("<IIII", header)
    if magic != NDB_MAGIC or version != 0 or not 0 < slot_pages <= 2048:
        raise BdbError("not an NDB rpm database")
    slots = f.read(slot_pages * NDB_PAGE - 32)  # the header takes the first two slots
    for i in range(len(slots) // 16):
        slot_magic, index, block, _count = struct.unpack_from("<IIII", slots, i * 16)
        if slot_magic != NDB_SLOT_MAGIC:
            raise BdbError("bad NDB slot")
        if index == 0:
            continue  # free slot
        f.seek(block * 16)
        blob_header = f.read(16)
        if len(blob_header) < 16:
            continue
        blob_magic, blob_index, _checksum, length = struct.unpack("<IIII", blob_header)
        if blob_magic != NDB_BLOB_MAGIC or blob_index != index or length > MAX_HEADER:
            continue
        yield f.read(length)


def packages_from_blobs(blobs: Iterable[bytes], path: str) -> tuple[list[Package], list[str]]:
    packages: list[Package] = []
    owned: list[str] = []
    for blob in blobs:
        try:
            h = parse_header(blob)
        except (HeaderError, struct.error):
            continue
        if (p := package_from_header(h, path)) is not None:
            packages.append(p)
            owned.extend(header_files(h))
    return packages, owned


def read_sqlite(db_path: str, path: str) -> tuple[list[Package], list[str]]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True)
    try:
        rows = conn.execute("SELECT blob FROM Packages ORDER BY hnum")
        return packages_from_blobs((bytes(blob) for (blob,) in rows), path)
    finally:
        conn.close()


class RpmAnalyzer(BaseAnalyzer):
    name = "rpm"
    max_size = 512 * MiB
    spool = True

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path in SQLITE_PATHS or path in BDB_PATHS or path in NDB_PATHS

    def analyze(self, path: str, f: BinaryIO, size: int) -> FileOutput:
        if path in BDB_PATHS or path in NDB_PATHS:
            reader = bdb_values if path in BDB_PATHS else ndb_values
            try:
                packages, owned = packages_from_blobs(reader(f), path)
            except BdbError as e:
                return FileOutput(notes=[f"{path}: unreadable rpmdb ({e})"])
            return FileOutput(packages=packages, owned=owned)
        # sqlite needs a real file; the spool may still be in memory.
        fd, tmp = tempfile.mkstemp(suffix=".sqlite")
        try:
            with os.fdopen(fd, "wb") as out:
                f.seek(0)
                shutil.copyfileobj(f, out, 1 * MiB)
            packages, owned = read_sqlite(tmp, path)
        except sqlite3.DatabaseError as e:
            return FileOutput(notes=[f"{path}: unreadable rpmdb ({e})"])
        finally:
            os.unlink(tmp)
        return FileOutput(packages=packages, owned=owned)
