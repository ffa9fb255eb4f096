"""Archive streams (lxcprov.system.tarball): what GNU tar writes, Python reads back member
for member with the same checksums, and GNU tar extracts with every attribute."""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcprov.errors import ArchiveError
from lxcprov.system import tarball, unpack

# An ACL naming uid 1000: on this host that uid may have a name (GNU tar's --acls would
# record the name); the raw xattr keeps the number.
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, ident)
    for tag, perm, ident in ((1, 6, 0xFFFFFFFF), (2, 4, 1000), (4, 4, 0xFFFFFFFF),
                             (0x10, 4, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF))
)  # fmt: skip
CAP = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


@pytest.fixture
def work() -> Iterator[Path]:
    # Under /var/tmp: a disk filesystem (xattrs, holes), not pytest's tmpfs.
    path = Path(tempfile.mkdtemp(prefix="lxcprov-unit-tar-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _tree(root: Path) -> None:
    (root / "rootfs/etc").mkdir(parents=True)
    f = root / "rootfs/etc/file"
    f.write_text("hello\n")
    os.chown(f, 1000, 1001)
    os.setxattr(f, "system.posix_acl_access", ACL)
    os.setxattr(f, "security.capability", CAP)
    os.setxattr(f, "user.note", b"\x00\xff binary")
    os.chmod(f, 0o4750)
    os.link(f, root / "rootfs/etc/hardlink")
    os.mkfifo(root / "rootfs/etc/fifo")
    os.symlink("/etc/file", root / "rootfs/etc/abs-link")
    with open(root / "rootfs/sparse", "wb") as fh:
        fh.truncate(64 << 20)
        fh.seek(32 << 20)
        fh.write(b"middle")


def _digest(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath, name)
            st = p.lstat()
            xattrs = tuple(sorted((k, os.getxattr(p, k, follow_symlinks=False))
                                  for k in os.listxattr(p, follow_symlinks=False)))  # fmt: skip
            body = p.read_bytes() if stat.S_ISREG(st.st_mode) else b""
            target = os.readlink(p) if p.is_symlink() else ""
            key = str(p.relative_to(root))
            out[key] = (st.st_mode, st.st_uid, st.st_gid, st.st_nlink, xattrs, body, target)
    return out


def _archive(work: Path, kind: tarball.Compression) -> tuple[Path, dict[str, str]]:
    out_path = work / ("a.tar.zst" if kind == "zstd" else "a.tar.gz")
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o600)
    written: list[int] = []
    try:
        writer = tarball.Writer(fd, kind)
        writer.add_file("lxcprov/manifest.json", b'{"first": true}', 0)
        writer.add_trees(work / "src", ["rootfs"], written.append)
        sums = writer.checksums()
        writer.add_file("lxcprov/checksums.json", json.dumps(sums).encode(), 0)
        writer.finish()
    finally:
        os.close(fd)
    assert sum(written) > 0
    return out_path, sums


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_an_archive_reads_back_with_its_checksums_and_extracts_whole(
    work: Path, kind: tarball.Compression
) -> None:
    _tree(work / "src")
    path, sums = _archive(work, kind)
    unzip = ["zstd", "-dc"] if kind == "zstd" else ["gzip", "-dc"]
    proc = subprocess.Popen([*unzip, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    reads = list(tarball.members(proc.stdout))
    assert proc.wait() == 0
    names = [r.member.name for r in reads]
    assert names[0] == "lxcprov/manifest.json" and names[-1] == "lxcprov/checksums.json"
    assert {r.member.name: r.sha256 for r in reads[:-1]} == sums
    link = next(r.member for r in reads if r.member.name == "rootfs/etc/hardlink")
    assert (link.kind, link.linkname) == ("hardlink", "rootfs/etc/file")
    # ACLs travel as their raw, numeric xattr, never as GNU tar's text with user names.
    proc = subprocess.Popen([*unzip, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    import tarfile

    with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
        headers = {k for info in tf for k in info.pax_headers}
    assert not any(k.startswith("SCHILY.acl") for k in headers)
    assert "SCHILY.xattr.system.posix_acl_access" in headers

    # Written back member by member, as Python read them (lxcprov.system.unpack).
    dest = work / "dest"
    dest.mkdir()
    spool = tarball.Spooled(work)
    dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.write(spool.fd, path.read_bytes())
        with tarball.decompressed(spool.fd, kind) as stream, unpack.Unpacker(dest_fd) as out:
            for entry in tarball.entries(stream):
                if entry.member.name.startswith("rootfs"):
                    out.write(entry)
            out.finish()
            tarball.drain(stream)
    finally:
        spool.close()
        os.close(dest_fd)
    assert _digest(dest / "rootfs") == _digest(work / "src/rootfs")
    sparse = (dest / "rootfs/sparse").stat()
    assert sparse.st_blocks * 512 < 1 << 20, "holes stay holes"
    assert sparse.st_size == 64 << 20
    for rel in ("rootfs/etc", "rootfs/etc/file", "rootfs/sparse"):
        assert os.lstat(dest / rel).st_mtime_ns == os.lstat(work / "src" / rel).st_mtime_ns


def test_a_copy_through_tar_keeps_everything(work: Path) -> None:
    _tree(work / "src")
    seen: list[int] = []
    tarball.transfer(work / "src/rootfs", work / "copy", seen.append)
    assert _digest(work / "copy") == _digest(work / "src/rootfs") and sum(seen) > 0


def test_the_suffix_picks_the_compression_and_the_bytes_say_what_it_is() -> None:
    assert tarball.compression_for("x.tar.zst") == tarball.compression_for("-") == "zstd"
    assert tarball.compression_for("x.tar.gz") == "gzip"
    with pytest.raises(ArchiveError, match=r"\.tar\.zst or \.tar\.gz"):
        tarball.compression_for("x.tar")
    assert tarball.compression_of(tarball.ZSTD_MAGIC + b"x", "a") == "zstd"
    assert tarball.compression_of(tarball.GZIP_MAGIC + b"x", "a") == "gzip"
    with pytest.raises(ArchiveError, match="neither"):
        tarball.compression_of(b"PK\x03\x04", "a.zip")


def test_a_truncated_stream_is_one_error(work: Path) -> None:
    _tree(work / "src")
    path, _ = _archive(work, "zstd")
    raw = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    cut = work / "cut.tar"
    cut.write_bytes(raw[: len(raw) // 2])
    with open(cut, "rb") as fh, pytest.raises(ArchiveError):
        list(tarball.members(fh))
