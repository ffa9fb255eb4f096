"""Archive streams (lxcprov.system.tarball): what GNU tar writes, Python reads back member
for member with the same checksums, and GNU tar extracts with every attribute."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from lxcprov.errors import ArchiveError
from lxcprov.system import tarball, unpack
from tests import tarcraft as tc

# An ACL naming uid 1000: on this host that uid may have a name (GNU tar's --acls would
# record the name); the raw xattr keeps the number.
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, ident)
    for tag, perm, ident in ((1, 6, 0xFFFFFFFF), (2, 4, 1000), (4, 4, 0xFFFFFFFF),
                             (0x10, 4, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF))
)  # fmt: skip
CAP = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


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


def _archive(disk: Path, kind: tarball.Compression) -> tuple[Path, dict[str, str]]:
    out_path = disk / ("a.tar.zst" if kind == "zstd" else "a.tar.gz")
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o600)
    written: list[int] = []
    try:
        writer = tarball.Writer(fd, kind)
        writer.add_file("lxcprov/manifest.json", b'{"first": true}', 0)
        writer.add_trees(disk / "src", ["rootfs"], written.append)
        sums = writer.checksums()
        writer.add_file("lxcprov/checksums.json", json.dumps(sums).encode(), 0)
        writer.finish()
    finally:
        os.close(fd)
    assert sum(written) > 0
    return out_path, sums


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_an_archive_reads_back_with_its_checksums_and_extracts_whole(
    disk: Path, kind: tarball.Compression
) -> None:
    _tree(disk / "src")
    path, sums = _archive(disk, kind)
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
    dest = disk / "dest"
    dest.mkdir()
    spool = tarball.Spooled(disk)
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
    assert _digest(dest / "rootfs") == _digest(disk / "src/rootfs")
    sparse = (dest / "rootfs/sparse").stat()
    assert sparse.st_blocks * 512 < 1 << 20, "holes stay holes"
    assert sparse.st_size == 64 << 20
    for rel in ("rootfs/etc", "rootfs/etc/file", "rootfs/sparse"):
        assert os.lstat(dest / rel).st_mtime_ns == os.lstat(disk / "src" / rel).st_mtime_ns


def test_a_copy_through_tar_keeps_everything(disk: Path) -> None:
    _tree(disk / "src")
    seen: list[int] = []
    tarball.transfer(disk / "src/rootfs", disk / "copy", seen.append)
    assert _digest(disk / "copy") == _digest(disk / "src/rootfs") and sum(seen) > 0


def test_the_suffix_picks_the_compression_and_the_bytes_say_what_it_is() -> None:
    assert tarball.compression_for("x.tar.zst") == tarball.compression_for("-") == "zstd"
    assert tarball.compression_for("x.tar.gz") == "gzip"
    with pytest.raises(ArchiveError, match=r"\.tar\.zst or \.tar\.gz"):
        tarball.compression_for("x.tar")
    assert tarball.compression_of(tarball.ZSTD_MAGIC + b"x", "a") == "zstd"
    assert tarball.compression_of(tarball.GZIP_MAGIC + b"x", "a") == "gzip"
    with pytest.raises(ArchiveError, match="neither"):
        tarball.compression_of(b"PK\x03\x04", "a.zip")


def test_a_truncated_stream_is_one_error(disk: Path) -> None:
    _tree(disk / "src")
    path, _ = _archive(disk, "zstd")
    raw = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    cut = disk / "cut.tar"
    cut.write_bytes(raw[: len(raw) // 2])
    with open(cut, "rb") as fh, pytest.raises(ArchiveError):
        list(tarball.members(fh))


# -- one reader, bounded; one writer that follows nothing (issue 22) ---------------------


def _names(raw: bytes) -> list[tuple[str, str, str]]:
    return [(e.member.name, e.member.kind, e.member.linkname)
            for e in tarball.entries(io.BytesIO(raw))]  # fmt: skip


def test_the_reader_takes_what_tarfile_takes_when_gnu_and_pax_disagree() -> None:
    """GNU tar takes a PAX path over a GNU long name, whatever their order; tarfile takes
    the one read last. lxcprov reads with tarfile only (and writes what it read)."""
    target = tc.header("rootfs", b"2", linkname="/")
    long_first = tc.gnu_long("rootfs/x") + tc.pax({"path": "rootfs"}) + target
    pax_first = tc.pax({"path": "rootfs/y"}) + tc.gnu_long("rootfs") + target
    end = bytes(1024)
    assert _names(long_first + end) == [("rootfs/x", "symlink", "/")]
    assert _names(pax_first + end) == [("rootfs/y", "symlink", "/")]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        # An extended header that would be read whole into memory.
        (tc.header("././@LongLink", b"L", size=(1 << 20) + 1, uid=0, gid=0), "extended header"),
        (tc.header("PaxHeader/x", b"x", size=1 << 40, uid=0, gid=0), "extended header"),
        # An old GNU sparse member (GNU tar's POSIX format never writes one).
        (tc.header("rootfs/s", b"S", size=0), "old GNU sparse"),
        # A GNU sparse 1.0 map of too many runs, or that never ends.
        (tc.pax({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "r/s",
                 "GNU.sparse.realsize": "10"}) + tc.member("r/s", data=b"99999999\n"),
         "sparse map"),
        (tc.pax({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "r/s",
                 "GNU.sparse.realsize": "10"}) + tc.member("r/s", data=b"1\n" + b"7" * 600),
         "sparse map"),
        # A PAX size far over the data a sparse file stores: tarfile would skip a block at
        # a time for as long as it claims.
        (tc.pax({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "r/s",
                 "GNU.sparse.realsize": "10", "size": str(10**12)})
         + tc.member("r/s", data=tc.pad(b"1\n0\n5\n") + b"hello"), "claims more data"),
        # A GNU sparse map entry that is no number: tarfile's own reader raised ValueError.
        (tc.pax({"GNU.sparse.map": "1,x", "GNU.sparse.size": "5"}) + tc.member("r/s"),
         "not a valid tar stream"),
    ],
)  # fmt: skip
def test_headers_that_would_take_unbounded_time_or_memory_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(ArchiveError, match=why):
        for entry in tarball.entries(io.BytesIO(raw + bytes(4096))):
            entry.digest()


def test_what_follows_the_end_is_zeros_or_refused() -> None:
    tarball.drain(io.BytesIO(bytes(10240)))
    with pytest.raises(ArchiveError, match="goes on after"):
        tarball.drain(io.BytesIO(bytes(512) + b"junk"))
    with pytest.raises(ArchiveError, match="goes on after"):
        tarball.drain(io.BytesIO(bytes(3 << 20)))


def test_the_writer_follows_no_symlink_on_its_way(disk: Path) -> None:
    """A directory that became a symlink (nothing in a checked archive can make one; the
    writer does not rely on that): writing below it is an error, not a detour."""
    outside = disk / "outside"
    outside.mkdir()
    dest = disk / "dest"
    (dest / "rootfs").mkdir(parents=True)
    (dest / "rootfs/etc").symlink_to(outside)
    raw = tc.member("rootfs/etc/passwd", data=b"x") + bytes(1024)
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with unpack.Unpacker(fd) as out, pytest.raises(ArchiveError, match="cannot write"):
            for entry in tarball.entries(io.BytesIO(raw)):
                out.write(entry)
        with pytest.raises(OSError):
            os.close(unpack.open_dir(fd, "rootfs/etc"))
        os.close(unpack.open_dir(fd, "rootfs"))
    finally:
        os.close(fd)
    assert os.listdir(outside) == []


def test_a_copy_through_tar_gives_its_top_the_sources_owner_and_mode(disk: Path) -> None:
    """The copy's top directory is made before tar runs (root's, 0700), and tar's
    --no-overwrite-dir keeps an existing directory as it is: a copied rootfs of an
    unprivileged container stayed root's and it could not start (bench/chaos.py, seed 1)."""
    _tree(disk / "src")
    top = disk / "src/rootfs"
    os.chown(top, 1100000000, 1100000001)
    top.chmod(0o751)
    tarball.transfer(top, disk / "copy", lambda _n: None)
    st = (disk / "copy").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1100000000, 1100000001, 0o751)
