"""Tar streams of root filesystems: GNU tar writes them, Python's tarfile reads them.

GNU tar keeps what a root filesystem holds: numeric owners, modes, hard links, device
nodes, FIFOs, holes, and every xattr (`--xattrs --xattrs-include=*`: file capabilities,
and POSIX ACLs as their raw xattrs, whose ids are numbers). It is never given `--acls`:
that records ACLs as text with user *names* (measured: `user:cloudsdk:r--` for uid 1000),
which another host would map back to whatever uid has that name there.

An archive is read by one reader only, Python's tarfile (`entries`): what an import
checks and checksums is the very member lxcprov.system.unpack then writes. GNU tar never
reads an archive: it and tarfile disagree on some headers (a GNU long name followed by a
PAX `path` is one name to each), and an archive exploited exactly that.

An archive lxcprov writes is one POSIX tar stream: a member Python made (the manifest),
GNU tar's members for the trees, a member Python made last (the checksums of every
member), and the end-of-archive blocks. GNU tar's own end blocks (and their padding to a
record) are cut off where the reader finds its last member ends, to append the last
member. Compression (zstd or gzip) is a separate process on the stream.
"""

from __future__ import annotations

import contextlib
import decimal
import fcntl
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol, cast

from lxcprov.errors import ArchiveError, CommandFailedError, LxcprovError
from lxcprov.system import run

Compression = Literal["zstd", "gzip", "xz", "none"]
BLOCK = 512
_EOF = b"\0" * (2 * BLOCK)
_CHUNK = 1 << 20
ZSTD_MAGIC, GZIP_MAGIC = b"\x28\xb5\x2f\xfd", b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
USTAR_AT, USTAR = 257, b"ustar"  # where a tar header says its format

# What GNU tar is told when it writes a tree, and when it copies one (transfer).
CREATE = ["--format=posix", "--xattrs", "--xattrs-include=*", "--no-acls",
          "--numeric-owner", "--sparse", "--pax-option=delete=atime,delete=ctime"]  # fmt: skip
EXTRACT = ["--xattrs", "--xattrs-include=*", "--no-acls", "--numeric-owner",
           "--same-owner", "--same-permissions", "--no-overwrite-dir"]  # fmt: skip

Bytes = Callable[[int], None]  # told how many more bytes went through


def compression_for(filename: str) -> Compression:
    """The compression an export file's name asks for (`-`, stdout: zstd)."""
    if filename == "-" or filename.endswith((".tar.zst", ".tzst")):
        return "zstd"
    if filename.endswith((".tar.gz", ".tgz")):
        return "gzip"
    raise ArchiveError(
        f"{filename}: an export file ends in .tar.zst or .tar.gz",
        hint="the suffix says how it is compressed (zstd is faster); - writes zstd to stdout",
    )


def compression_of(head: bytes, source: str) -> Compression:
    """The compression of an archive, from its first bytes (not its name)."""
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    raise ArchiveError(f"{source} is neither zstd nor gzip compressed")


def image_compression_of(head: bytes, source: str) -> Compression:
    """The compression of an image's tarball or layer from its first 262 bytes: zstd, gzip,
    xz, or none (a plain tar: `ustar` in its first header)."""
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head[USTAR_AT : USTAR_AT + len(USTAR)] == USTAR:
        return "none"
    try:
        return compression_of(head, source)
    except ArchiveError:
        raise ArchiveError(
            f"{source} is not a tar stream (plain, or compressed with zstd, gzip or xz)"
        ) from None


def _compressor(kind: Compression) -> list[str]:
    # zstd -T0: every core; level 3 (its default) is faster than gzip -6 and smaller.
    return [run.which("zstd"), "-q", "-T0", "-c"] if kind == "zstd" else ["gzip", "-c"]


def _decompressor(kind: Compression) -> list[str]:
    if kind == "xz":
        return ["xz", "-d", "-c", "-q"]
    if kind == "none":
        return ["cat"]
    return [run.which("zstd"), "-q", "-d", "-c"] if kind == "zstd" else ["gzip", "-d", "-c"]


# -- members ---------------------------------------------------------------------------

Kind = Literal["file", "hardlink", "symlink", "dir", "fifo", "chardev", "blockdev", "other"]
_KINDS: dict[bytes, Kind] = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
    tarfile.GNUTYPE_SPARSE: "file",
    tarfile.LNKTYPE: "hardlink", tarfile.SYMTYPE: "symlink", tarfile.DIRTYPE: "dir",
    tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "chardev", tarfile.BLKTYPE: "blockdev",
}  # fmt: skip
_TRUNCATED = "the archive ends in the middle of a member (truncated)"
# Times a filesystem takes (ext4: up to 2446); anything else in a header is written as 0.
_MAX_MTIME = 1 << 34


@dataclass(frozen=True)
class Member:
    """One archive entry, as Python's tarfile read it: what lxcprov.engine.archive judges,
    and everything lxcprov.system.unpack writes (nothing else of the header is used)."""

    name: str
    kind: Kind
    size: int  # a file's length (a sparse file's, holes included)
    mode: int  # permission bits only (0o7777)
    uid: int
    gid: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()
    mtime_ns: int = 0
    # A sparse file's data: (offset, length) runs, the rest holes; None: all data.
    sparse: tuple[tuple[int, int], ...] | None = None

    @property
    def stored(self) -> int:
        """The bytes of content the archive holds for it (a sparse file's data runs)."""
        if self.kind != "file":
            return 0
        return self.size if self.sparse is None else sum(n for _o, n in self.sparse)


def _mtime_ns(info: tarfile.TarInfo) -> int:
    """The modification time in nanoseconds: from the PAX record's decimal text when there
    is one (tarfile's float would round it), else the header's seconds; 0 for a time no
    filesystem takes (negative, NaN, past 2446)."""
    try:
        ns = int(decimal.Decimal(info.pax_headers.get("mtime", info.mtime)) * 10**9)
    except (decimal.InvalidOperation, ValueError, OverflowError):
        return 0
    return ns if 0 <= ns < _MAX_MTIME * 10**9 else 0


def member_of(info: tarfile.TarInfo) -> Member:
    xattrs = tuple(
        sorted(
            (key.removeprefix("SCHILY.xattr."), value.encode("utf-8", "surrogateescape"))
            for key, value in info.pax_headers.items()
            if key.startswith("SCHILY.xattr.")
        )
    )
    kind = _KINDS.get(info.type, "other")
    # tarfile's (offset, length) pairs; typeshed calls them a list of ints.
    runs = cast("list[tuple[int, int]] | None", info.sparse)
    sparse = tuple((int(o), int(n)) for o, n in runs) if runs is not None else None
    return Member(
        info.name, kind, info.size, info.mode & 0o7777, info.uid, info.gid, info.linkname,
        info.devmajor, info.devminor, xattrs, _mtime_ns(info),
        sparse if kind == "file" else None,
    )  # fmt: skip


def _header_digest(info: tarfile.TarInfo, m: Member) -> hashlib._Hash:
    """A sha256 started with every header field a member is extracted with."""
    head = [m.name, m.kind, m.size, m.mode, m.uid, m.gid, m.linkname, m.devmajor, m.devminor,
            [[k, v.hex()] for k, v in m.xattrs], repr(info.mtime), repr(info.sparse)]  # fmt: skip
    h = hashlib.sha256(json.dumps(head).encode())
    h.update(b"\0")
    return h


class Entry:
    """The member a reading is at, and its content (read once, before the next member)."""

    def __init__(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        self._tf, self._info = tf, info
        self.member = member_of(info)
        self.end = tf.offset  # where the member ends in the uncompressed stream

    def content(self) -> Iterator[tuple[int, bytes]]:
        """(offset in the file, bytes) of a regular file's stored data, in order: a sparse
        file's data runs without its holes (a hole is never read, written or hashed)."""
        m = self.member
        if m.kind != "file":
            return
        stream = self._tf.fileobj
        try:
            stream.seek(self._info.offset_data)
        except tarfile.TarError as exc:  # a member whose data lies before its header
            raise ArchiveError(f"not a valid tar stream: {exc}") from None
        for offset, length in m.sparse if m.sparse is not None else ((0, m.size),):
            done = 0
            while done < length:
                chunk = stream.read(min(_CHUNK, length - done))
                if not chunk:
                    raise ArchiveError(_TRUNCATED)
                yield offset + done, chunk
                done += len(chunk)

    def digest(self, keep: int = 0, *, holes: bool = False) -> tuple[str, bytes | None]:
        """The member's sha256 (header fields, then stored content), and its content when
        it is a file of at most keep bytes. holes: a sparse file's holes are hashed as
        the zeros they read as (format 1 of lxcprov's archives did so)."""
        h = _header_digest(self._info, self.member)
        kept: list[bytes] | None = [] if keep > 0 and self.member.stored <= keep else None
        at = 0
        for offset, chunk in self.content():
            if holes:
                _zeros(h, offset - at)
                at = offset + len(chunk)
            h.update(chunk)
            if kept is not None:
                kept.append(chunk)
        if holes and self.member.sparse is not None:
            _zeros(h, self.member.size - at)
        return h.hexdigest(), b"".join(kept) if kept is not None else None


_ZEROS = bytes(_CHUNK)


def _zeros(h: hashlib._Hash, n: int) -> None:
    while n > 0:
        h.update(_ZEROS[: min(n, _CHUNK)])
        n -= _CHUNK


# What tarfile is allowed to read into memory for one member's extended headers (GNU long
# names and links, PAX records: xattrs, ACLs, a long link are a few KiB), and the most data
# runs a sparse file's map may list. Beyond them a header is refused before it is read.
MAX_EXTENDED = 1 << 20
MAX_SPARSE_RUNS = 1 << 16
_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
             tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)  # fmt: skip


class _Bounded(tarfile.TarInfo):
    """tarfile's header reader with bounds on what a header makes it read or keep: it reads
    a GNU long name or a PAX header whole into memory and a GNU sparse map entry by entry,
    so a header that says "a terabyte" would take that (or the archive's end) first.
    Old GNU sparse members ('S', which GNU tar's POSIX format never writes) are refused."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and not 0 <= self.size <= MAX_EXTENDED:
            raise tarfile.HeaderError(f"an extended header of {self.size} bytes")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise tarfile.HeaderError("an old GNU sparse member")
        return cast(tarfile.TarInfo, super()._proc_member(tarfile_))  # type: ignore[misc]

    def _proc_gnusparse_10(
        self, next_: tarfile.TarInfo, pax_headers: dict[str, str], tarfile_: tarfile.TarFile
    ) -> None:
        """GNU sparse 1.0 (what GNU tar writes): the map is the start of the data, a count
        then offset and length pairs, one number a line, in whole blocks."""
        stream = tarfile_.fileobj
        text = stream.read(BLOCK)
        count, _, text = text.partition(b"\n")
        if not count.isdigit() or int(count) > MAX_SPARSE_RUNS:
            raise tarfile.HeaderError(f"a sparse map of {count[:20]!r} runs")
        numbers: list[int] = []
        while len(numbers) < 2 * int(count):
            if b"\n" not in text:
                more = stream.read(BLOCK)
                if len(more) < BLOCK or len(text) > 64:
                    raise tarfile.HeaderError("a sparse map that does not end")
                text += more
            number, _, text = text.partition(b"\n")
            if not number.isdigit():
                raise tarfile.HeaderError("a sparse map entry that is not a number")
            numbers.append(int(number))
        next_.offset_data = stream.tell()
        next_.sparse = list(zip(numbers[::2], numbers[1::2], strict=True))  # type: ignore[assignment]


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def entries(stream: IO[bytes] | io.RawIOBase | Readable) -> Iterator[Entry]:
    """Every member of a tar stream, in order, as Python's tarfile reads it: the one reader
    of an archive (what it checks is what is written: lxcprov.system.unpack)."""
    try:
        with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r|", errorlevel=2,
                          tarinfo=_Bounded) as tf:  # fmt: skip
            for info in tf:
                entry = Entry(tf, info)
                yield entry
                m = entry.member
                # Where tarfile reads the next header: past this member's data, as its
                # size says. A size larger than the data stored (a PAX size over a sparse
                # map) would have it skip a block at a time, for as long as it claims.
                if tf.offset - info.offset_data > _padded(m.stored) and m.kind == "file":
                    raise ArchiveError(f"{m.name!r} claims more data than it stores")
                # A stream's TarFile keeps every header it read (a million members: about
                # a GiB); we need none of them, and its iterator reads on without them.
                tf.members.clear()  # type: ignore[attr-defined]
    except LxcprovError:
        raise  # a limit a caller's stream enforces
    except EOFError:
        raise ArchiveError(_TRUNCATED) from None
    except Exception as exc:
        # tarfile on hostile headers raises more than TarError (a GNU sparse map of
        # garbage is a ValueError): each is a header it cannot read.
        raise ArchiveError(f"not a valid tar stream: {exc}") from None


@dataclass(frozen=True)
class Read:
    member: Member
    sha256: str  # of its header fields and its stored content (see Entry.digest)
    data: bytes | None  # the content, for the members the caller asked to keep
    end: int  # offset in the uncompressed stream where this member ends


def members(
    stream: IO[bytes] | io.RawIOBase | Readable, keep: Callable[[Member], int] = lambda _m: 0
) -> Iterator[Read]:
    """Every member of a tar stream, with its checksum; the content of a member is kept
    when keep(member) allows its size (keep returns the most bytes it takes)."""
    for entry in entries(stream):
        sha, data = entry.digest(keep(entry.member))
        yield Read(entry.member, sha, data, entry.end)


def _padded(n: int) -> int:
    return n + (-n % BLOCK)


def file_member(name: str, data: bytes, mtime: int) -> bytes:
    """The bytes of one regular-file member (PAX format), as GNU tar would write it."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = mtime
    info.type = tarfile.REGTYPE
    pad = (-len(data)) % BLOCK
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data + b"\0" * pad


# -- relaying bytes between processes --------------------------------------------------


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Pipe(io.RawIOBase):
    """The reading end of an os.pipe as a file object tarfile can read."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = os.read(self.fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Writer:
    """Writes an archive to out_fd through a compressor, checksumming every member.

    Everything up to the end of GNU tar's stream also goes to a reader thread that
    parses it exactly as an import will (the checksums an archive carries are those of
    the bytes it holds; judge sees every member as an import's checks will, and stops the
    export by raising), and that finds where tar's last member ends: what follows is its
    end-of-archive blocks and their padding, which the compressor never gets. Then the
    checksums member and the archive's own end blocks follow.
    """

    # GNU tar pads its end blocks to a whole record: 20 blocks of 512 bytes.
    RECORD = 20 * BLOCK

    def __init__(
        self, out_fd: int, kind: Compression, judge: Callable[[Member], object] = lambda _m: None
    ) -> None:
        # It dies with us (setpriv: no preexec_fn, threads may run here). Else, were we
        # killed, it would live on in our private mount namespace, holding the image we
        # read, for as long as a reader of out_fd that never reads lives (outside review:
        # `export - | sleep 100`, then a raise refused naming zstd).
        dies_with_us = [run.which("setpriv"), "--pdeathsig", "KILL", "--"]
        self.proc = subprocess.Popen([*dies_with_us, *_compressor(kind)], stdin=subprocess.PIPE,
                                     stdout=out_fd)  # fmt: skip
        assert self.proc.stdin is not None
        self._to_zip = self.proc.stdin.fileno()
        _widen(self._to_zip)
        rfd, self._to_parser = os.pipe()
        _widen(self._to_parser)
        self._reader = _Pipe(rfd)
        self._judge = judge
        self.written = 0  # bytes given to the compressor
        self.digests: dict[str, str] = {}
        self._end = 0  # where the last member the reader saw ends
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._parse, daemon=True)
        self._thread.start()

    def _parse(self) -> None:
        try:
            for entry in entries(self._reader):
                self._judge(entry.member)
                self.digests[entry.member.name] = entry.digest()[0]
                self._end = entry.end
        except BaseException as exc:  # handed to the writing thread
            self._error = exc
        finally:
            os.close(self._reader.fd)

    def _zip(self, data: bytes | memoryview) -> None:
        _write_all(self._to_zip, data)
        self.written += len(data)

    def add_file(self, name: str, data: bytes, mtime: int) -> None:
        """A member Python makes: before the trees (checksummed), or after them (the last)."""
        member = file_member(name, data, mtime)
        if self._to_parser >= 0:
            self._to_reader(member)
        self._zip(member)

    def _to_reader(self, data: bytes) -> None:
        try:
            _write_all(self._to_parser, data)
        except BrokenPipeError:  # the reader stopped: its error says why
            self._thread.join()
            self._raise_reader_error()
            raise

    def _raise_reader_error(self) -> None:
        if isinstance(self._error, ArchiveError):
            raise self._error  # a member the checks refuse: their own words
        if self._error is not None:
            raise ArchiveError(f"the archive being written does not read back: {self._error}")

    def add_trees(self, cwd: Path, paths: list[str], on_bytes: Bytes) -> None:
        """GNU tar's members for paths (relative to cwd), once, its end blocks cut off."""
        argv = ["tar", "-c", "-f", "-", *CREATE, f"--blocking-factor={self.RECORD // BLOCK}",
                "-C", str(cwd), "--", *paths]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        _widen(proc.stdout.fileno())
        hold = self.RECORD + len(_EOF)  # the most the end blocks and padding can take
        held = b""
        with _stderr_of(proc) as errors:
            try:
                while chunk := os.read(proc.stdout.fileno(), _CHUNK):
                    self._to_reader(chunk)
                    held += chunk
                    if len(held) > hold:
                        out, held = held[:-hold], held[-hold:]
                        self._zip(out)
                        on_bytes(len(out))
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            code = proc.wait()
        os.close(self._to_parser)
        self._to_parser = -1
        self._thread.join()
        if code != 0:
            raise CommandFailedError(
                f"tar failed with exit code {code}: {_last(errors)}", hint=" ".join(argv)
            )
        self._raise_reader_error()
        rest = self._end - self.written  # what of the held bytes is still members
        if not 0 <= rest <= len(held) or held[rest:].strip(b"\0"):
            raise ArchiveError("tar's stream did not end as expected (zero blocks)")
        self._zip(held[:rest])
        on_bytes(rest)

    def checksums(self) -> dict[str, str]:
        """The checksum of every member before the trees' end (after add_trees)."""
        return dict(self.digests)

    def finish(self) -> None:
        self._zip(_EOF)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise CommandFailedError(f"compressing failed (exit {self.proc.returncode})")

    def abort(self) -> None:
        if self._to_parser >= 0:
            with contextlib.suppress(OSError):
                os.close(self._to_parser)
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self._thread.join(5)


def _widen(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux's F_SETPIPE_SZ): fewer, larger reads and writes."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, 1031, _CHUNK)  # F_SETPIPE_SZ; the default limit allows 1 MiB


@contextlib.contextmanager
def _stderr_of(proc: subprocess.Popen[bytes]) -> Iterator[list[bytes]]:
    """Collect a process's stderr in a thread (a full stderr pipe would stall it)."""
    got: list[bytes] = []
    assert proc.stderr is not None
    stderr = proc.stderr
    t = threading.Thread(target=lambda: got.append(stderr.read()), daemon=True)
    t.start()
    try:
        yield got
    finally:
        t.join()


def _last(errors: list[bytes]) -> str:
    text = b"".join(errors).decode(errors="replace").strip().splitlines()
    return text[-1] if text else "(no output)"


def relay(src: IO[bytes], dst_fd: int, on_bytes: Bytes) -> int:
    """Copy src to dst_fd, telling on_bytes as it goes; returns the byte count."""
    total = 0
    while chunk := os.read(src.fileno(), _CHUNK):
        _write_all(dst_fd, chunk)
        total += len(chunk)
        on_bytes(len(chunk))
    return total


def drain(stream: IO[bytes], limit: int = _CHUNK) -> None:
    """Read what follows the end of an archive: at most limit bytes of zeros (padding to a
    record), else the archive is refused; read, so the decompressor can finish."""
    seen = 0
    while chunk := stream.read(_CHUNK):
        seen += len(chunk)
        if seen > limit or chunk.strip(b"\0"):
            raise ArchiveError("the archive goes on after its end-of-archive blocks")


@contextlib.contextmanager
def decompressed(spool_fd: int, kind: Compression) -> Iterator[IO[bytes]]:
    """The uncompressed stream of an archive spooled in spool_fd, from its start."""
    os.lseek(spool_fd, 0, os.SEEK_SET)
    unzip = subprocess.Popen(_decompressor(kind), stdin=spool_fd, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    assert unzip.stdout is not None
    try:
        yield unzip.stdout
    except BaseException:
        unzip.kill()
        raise
    finally:
        unzip.stdout.close()
        unzip.wait()
    if unzip.returncode != 0:
        raise ArchiveError("the archive does not decompress (damaged or truncated)")


def transfer(src: Path | str, dst: Path, on_bytes: Bytes) -> None:
    """Copy a tree as export and import would (tar to tar), telling on_bytes as it goes."""
    dst.mkdir(mode=0o700, exist_ok=True)
    pack = ["tar", "-c", "-f", "-", *CREATE, "-C", str(src), "."]
    unpack = ["tar", "-x", "-f", "-", *EXTRACT, "-C", str(dst)]
    producer = subprocess.Popen(pack, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    consumer = subprocess.Popen(unpack, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert producer.stdout is not None and consumer.stdin is not None
    with _stderr_of(producer) as perr, _stderr_of(consumer) as cerr:
        try:
            relay(producer.stdout, consumer.stdin.fileno(), on_bytes)
        finally:
            consumer.stdin.close()
            codes = producer.wait(), consumer.wait()
    if codes != (0, 0):
        raise CommandFailedError(
            f"copying {src} to {dst} failed: {_last(perr + cerr)}", hint=" ".join(pack)
        )
    # The top itself: --no-overwrite-dir keeps an existing directory as it was (made here
    # root's, 0700), so tar never gave it the source's owner and mode. A copied rootfs
    # stayed root's: its unprivileged container could not start (found by bench/chaos.py).
    top = os.stat(src)
    os.chown(dst, top.st_uid, top.st_gid)
    os.chmod(dst, stat.S_IMODE(top.st_mode))


class Spooled:
    """An archive copied into an unnamed file (O_TMPFILE) only this process can reach:
    what is checked is what is extracted, whatever happens to the source meanwhile, and
    a kill leaves nothing behind."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            self.fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError:  # a filesystem without O_TMPFILE: a name, removed at once
            self.fd, name = tempfile.mkstemp(dir=directory)
            os.unlink(name)
        self.size = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def spool_and_read(
    source: IO[bytes], spool: Spooled, kind: Compression, head: bytes, on_bytes: Bytes
) -> tuple[subprocess.Popen[bytes], threading.Thread, list[BaseException]]:
    """Start copying source into spool while decompressing it; the caller reads the
    decompressed stream from proc.stdout (then joins the thread and checks errors)."""
    # Its complaints about a damaged archive are said once, by the import, in one line.
    proc = subprocess.Popen(_decompressor(kind), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    errors: list[BaseException] = []
    assert proc.stdin is not None
    stdin = proc.stdin

    def feed() -> None:
        try:
            data = head
            read1 = getattr(source, "read1", source.read)
            while data:
                _write_all(spool.fd, data)
                spool.size += len(data)
                on_bytes(len(data))
                try:
                    stdin.write(data)
                except BrokenPipeError:
                    break  # the reader stopped (the archive was refused)
                data = read1(_CHUNK)
        except BaseException as exc:  # handed to the reading thread
            errors.append(exc)
        finally:
            with contextlib.suppress(BrokenPipeError, OSError):
                stdin.close()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return proc, thread, errors
