"""Tar headers built byte by byte, for hostile archives: ustar and GNU headers, GNU long
names and links ('L', 'K'), PAX extended and global headers ('x', 'g'), old GNU sparse
members, wrapped into an lxcprov archive (manifest first, checksums last, as the
import computes them) and compressed.

Python's tarfile writer cannot make most of these (it never writes a GNU long name next
to a PAX path, nor a PAX size that lies): these are written field by field."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from lxcprov.engine import archive
from lxcprov.engine.archive import Manifest
from lxcprov.system import tarball

BLOCK = 512
MAP = "1100000000:65536"
ROOT = 1100000000


def _octal(value: int, width: int) -> bytes:
    """A numeric field: octal, or GNU's base-256 when it does not fit (or is negative)."""
    text = f"{value:o}".encode()
    if value >= 0 and len(text) < width:
        return text.rjust(width - 1, b"0") + b"\0"
    raw = (value % (1 << (8 * (width - 1)))).to_bytes(width - 1, "big")
    return bytes([0xFF if value < 0 else 0x80]) + raw


def header(
    name: bytes | str,
    kind: bytes = b"0",
    *,
    size: int = 0,
    mode: int = 0o644,
    uid: int = ROOT,
    gid: int = ROOT,
    mtime: int = 1_700_000_000,
    linkname: bytes | str = b"",
    devmajor: int = 0,
    devminor: int = 0,
    prefix: bytes | str = b"",
    gnu: bool = False,
) -> bytes:
    """One 512-byte header; names longer than their field are cut (as a writer would not)."""
    name = name.encode() if isinstance(name, str) else name
    linkname = linkname.encode() if isinstance(linkname, str) else linkname
    prefix = prefix.encode() if isinstance(prefix, str) else prefix
    magic = b"ustar  \0" if gnu else b"ustar\x0000"
    fields = [
        name[:100].ljust(100, b"\0"),
        _octal(mode, 8),
        _octal(uid, 8),
        _octal(gid, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b" " * 8,  # the checksum, counted as spaces
        kind[:1],
        linkname[:100].ljust(100, b"\0"),
        magic,
        b"root".ljust(32, b"\0"),
        b"root".ljust(32, b"\0"),
        _octal(devmajor, 8),
        _octal(devminor, 8),
        (b"" if gnu else prefix[:155]).ljust(155, b"\0"),
        b"\0" * 12,
    ]
    raw = bytearray(b"".join(fields))
    assert len(raw) == BLOCK
    raw[148:156] = f"{sum(raw):06o}".encode() + b"\0 "
    return bytes(raw)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def member(name: bytes | str, kind: bytes = b"0", data: bytes = b"", **kw: object) -> bytes:
    """A header and its content (size from the content unless given)."""
    kw.setdefault("size", len(data))
    return header(name, kind, **kw) + pad(data)  # type: ignore[arg-type]


def gnu_long(value: bytes | str, kind: bytes = b"L") -> bytes:
    """A GNU long name ('L') or long link ('K') for the header that follows."""
    data = (value.encode() if isinstance(value, str) else value) + b"\0"
    return header("././@LongLink", kind, size=len(data), mode=0, uid=0, gid=0, gnu=True) + pad(data)


def pax(records: dict[str, bytes | str], *, kind: bytes = b"x") -> bytes:
    """A PAX extended header ('x': for the next member; 'g': global)."""
    body = b""
    for key, value in records.items():
        value = value.encode() if isinstance(value, str) else value
        item = b" " + key.encode() + b"=" + value + b"\n"
        n = len(item) + 1
        while len(str(n).encode()) + len(item) != n:
            n += 1
        body += str(n).encode() + item
    return header("PaxHeader/x", kind, size=len(body), mode=0o644, uid=0, gid=0) + pad(body)


def manifest(**changes: object) -> Manifest:
    fields: dict[str, object] = {"name": "evil1", "created": "2026-01-01T00:00:00+00:00",
                                 "ids": MAP, "config": "lxc.arch = amd64\n"}  # fmt: skip
    fields.update(changes)
    return Manifest(**fields)  # type: ignore[arg-type]


def lxcprov_archive(body: bytes, *, meta: Manifest | None = None, tail: bytes = b"") -> bytes:
    """An uncompressed lxcprov archive: the manifest, body (raw members), the checksums of
    every member as the import reads them, the end blocks, then tail (after the end)."""
    head = tarball.file_member(archive.MANIFEST, (meta or manifest()).to_json(), 1_700_000_000)
    sums: dict[str, str] = {}
    raw = head + body + b"\0" * 1024
    for entry in tarball.entries(io.BytesIO(raw)):
        m = entry.member
        # tarfile would seek past a member of another type, or a size larger than the
        # archive, a block at a time (minutes); the import refuses such a member first.
        if m.kind == "other" or m.stored > len(raw):
            break
        sums[m.name] = entry.digest()[0]
    last = tarball.file_member(archive.CHECKSUMS, archive.render_checksums(sums), 1_700_000_000)
    return head + body + last + b"\0" * 1024 + tail


def zstd(raw: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout


def write(path: Path, body: bytes, **kw: object) -> Path:
    path.write_bytes(zstd(lxcprov_archive(body, **kw)))  # type: ignore[arg-type]
    return path
