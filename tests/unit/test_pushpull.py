"""push and pull: what --mode and --owner accept, the modes a copy gets, and the jail's
streaming primitives (open_file, write_from, make_dir) on a synthetic rootfs."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcprov.cli.common import shown_name
from lxcprov.engine import pushpull
from lxcprov.engine.mounts import Mount
from lxcprov.errors import InvalidArgumentError, RootfsError, RootfsEscapeError, one_line
from lxcprov.ops import files
from lxcprov.ops import mounts as ops_mounts
from lxcprov.ops.files import pump
from lxcprov.system import kernelfs, sparsecopy
from lxcprov.system.rootfs import Rootfs

PASSWD = "root:x:0:0::/root:/bin/sh\nalice:x:1234:1234::/home/alice:/bin/sh\nbig:x:70000:0::/:/x\n"
GROUP = "root:x:0:\nalice:x:1234:\nstaff2:x:2345:alice\n"


@pytest.mark.parametrize(
    ("text", "mode"), [("644", 0o644), ("0640", 0o640), ("4755", 0o4755), ("7", 0o7)]
)
def test_modes_are_octal(text: str, mode: int) -> None:
    assert pushpull.parse_mode(text) == mode


@pytest.mark.parametrize("text", ["", "8", "0o644", "07777 ", "12345", "-1", "u+x", "٦٤٤"])
def test_other_modes_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not an octal mode"):
        pushpull.parse_mode(text)


@pytest.mark.parametrize(
    ("owner", "ids"),
    [("alice", (1234, 1234)), ("alice:staff2", (1234, 2345)), ("1000", (1000, 1000)),
     ("1000:0", (1000, 0)), ("root:staff2", (0, 2345)), ("0:alice", (0, 1234))],
)  # fmt: skip
def test_owners_are_the_containers_ids(owner: str, ids: tuple[int, int]) -> None:
    assert pushpull.owner_ids(owner, PASSWD, GROUP) == ids


@pytest.mark.parametrize(
    ("owner", "why"),
    [("", "not USER"), (":", "not USER"), (":root", "not USER"), ("root:", "not USER"),
     ("65536", "not USER"), ("a:b:c", "not USER"), ("al ice", "not USER"),
     ("x\n", "not USER"), ("-1", "not USER"), ("../root", "not USER"),
     ("bob", "no user 'bob'"), ("alice:nogroup", "no group"),
     ("big", "not an id the container has")],
)  # fmt: skip
def test_odd_owners_are_one_line_errors(owner: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        pushpull.owner_ids(owner, PASSWD, GROUP)


def test_modes_of_copies() -> None:
    assert pushpull.push_mode(0o600, 0o100755, is_dir=False) == 0o600
    assert pushpull.push_mode(0o600, 0o40750, is_dir=True) == 0o750  # --mode: files only
    assert pushpull.push_mode(None, 0o104755, is_dir=False) == 0o755  # no setuid carried
    assert pushpull.push_mode(None, None, is_dir=False) == 0o644  # stdin
    # A pulled file is never setuid, setgid or sticky on the host; the umask applies.
    assert pushpull.host_mode(0o106777, 0o022) == 0o755
    assert pushpull.host_mode(0o41777, 0o077) == 0o700


@pytest.mark.parametrize(
    ("path", "name"), [("/etc/passwd", "passwd"), ("/etc/", "etc"), ("/", "c1"), ("/a/..", "c1")]
)
def test_last_name(path: str, name: str) -> None:
    assert pushpull.last_name(path, "c1") == name


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Rootfs, Path]]:
    top = tmp_path / "rootfs"
    (top / "etc").mkdir(parents=True)
    with Rootfs(top) as rootfs:
        yield rootfs, top


@pytest.mark.usefixtures("lookups")  # openat2 and the walk older kernels get
def test_write_from_is_whole_and_sweeps_what_a_kill_left(root: tuple[Rootfs, Path]) -> None:
    rootfs, top = root
    (top / "etc/.big.lxcprov-0123abcd").write_bytes(b"half")  # a killed push's
    (top / "etc/.big.lxcprov-keepme!!").write_bytes(b"not ours")
    r, w = os.pipe()
    os.write(w, b"x" * 60_000)  # less than a pipe holds: no reader needed yet
    os.close(w)
    rootfs.write_from("/etc/big", lambda fd: pump(r, fd), mode=0o640, uid=0, gid=0)
    os.close(r)
    assert (top / "etc/big").read_bytes() == b"x" * 60_000
    assert (top / "etc/big").stat().st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in (top / "etc").iterdir()) == [".big.lxcprov-keepme!!", "big"]

    def boom(fd: int) -> None:
        os.write(fd, b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        rootfs.write_from("/etc/big", boom, mode=0o644, uid=0, gid=0)
    assert (top / "etc/big").read_bytes() == b"x" * 60_000  # the old file, whole


@pytest.mark.usefixtures("lookups")
def test_make_dir_and_open_file_refuse_what_is_not_theirs(
    root: tuple[Rootfs, Path], tmp_path: Path
) -> None:
    rootfs, top = root
    assert rootfs.make_dir("/etc/d", mode=0o750, uid=0, gid=0)
    assert not rootfs.make_dir("/etc/d", mode=0o700, uid=0, gid=0)  # there: left as it is
    assert (top / "etc/d").stat().st_mode & 0o777 == 0o750
    (top / "etc/f").write_text("f\n")
    with pytest.raises(RootfsEscapeError, match="with a directory"):
        rootfs.make_dir("/etc/f", mode=0o755, uid=0, gid=0)
    with pytest.raises(RootfsError, match="no such directory /no"):
        rootfs.make_dir("/no/such", mode=0o755, uid=0, gid=0)
    with pytest.raises(RootfsEscapeError, match=r"0\.\.65535"):
        rootfs.make_dir("/etc/e", mode=0o755, uid=70000, gid=0)
    os.mkfifo(top / "etc/fifo")
    with pytest.raises(RootfsError, match="a FIFO"):
        rootfs.open_file("/etc/fifo")
    # A symlink out names the file inside, never the host's.
    (tmp_path / "host-secret").write_text("HOST\n")
    os.symlink(str(tmp_path / "host-secret"), top / "etc/out")
    assert rootfs.open_file("/etc/out") is None
    os.symlink("/etc/f", top / "etc/in")
    opened = rootfs.open_file("/etc/in")
    assert opened is not None
    fd, info = opened
    try:
        assert os.read(fd, 10) == b"f\n" and info.size == 2
    finally:
        os.close(fd)


def test_a_copy_keeps_holes_and_stops_at_the_size(tmp_path: Path) -> None:
    src, dst = tmp_path / "sparse", tmp_path / "copy"
    with src.open("wb") as fh:
        fh.write(b"head")
        fh.seek(1 << 30)
        fh.write(b"middle")
        fh.truncate(3 << 30)
    s, d = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert sparsecopy.copy(s, d) == 3 << 30
    finally:
        os.close(s)
        os.close(d)
    st = dst.stat()
    assert st.st_size == 3 << 30 and st.st_blocks * 512 < 1 << 20  # ~0 blocks, not 3 GB
    with dst.open("rb") as fh:
        assert fh.read(4) == b"head"
        fh.seek(1 << 30)
        assert fh.read(6) == b"middle"


def test_kernel_filesystems_are_named(tmp_path: Path) -> None:
    cases: list[tuple[str, str | None]] = [
        ("/proc/self/status", "proc"),
        ("/sys/kernel", "sysfs"),
        (str(tmp_path), None),
    ]
    for path, kind in cases:
        fd = os.open(path, os.O_PATH)
        try:
            assert kernelfs.kind(fd) == kind
        finally:
            os.close(fd)


def test_names_from_a_container_stay_on_one_line() -> None:
    assert shown_name("/x/evil\nerror: forged\t\x1b[2J") == r"/x/evil\x0aerror: forged\x09\x1b[2J"


@pytest.mark.usefixtures("lookups")
def test_a_dangling_symlink_or_a_missing_directory_is_named(root: tuple[Rootfs, Path]) -> None:
    rootfs, top = root
    os.symlink("/nowhere/x", top / "etc/link")
    with pytest.raises(
        RootfsError, match=r"/etc/link in .*: it is a dangling symlink \(to /nowhere/x\)"
    ):
        rootfs.write_from("/etc/link", lambda fd: None, mode=0o644, uid=0, gid=0)
    with pytest.raises(RootfsError, match="no such directory /etc/none"):
        rootfs.write_from("/etc/none/x", lambda fd: None, mode=0o644, uid=0, gid=0)


@pytest.mark.usefixtures("lookups")
def test_names_a_container_chose_keep_an_error_on_one_line(root: tuple[Rootfs, Path]) -> None:
    rootfs, top = root
    os.symlink("/nonexist\nerror: forged line\n/y", top / "etc/trap")
    with pytest.raises(RootfsError) as dangling:
        rootfs.write_from("/etc/trap", lambda fd: None, mode=0o644, uid=0, gid=0)
    assert dangling.value.message.endswith(r"(to /nonexist\x0aerror: forged line\x0a/y)")
    os.mkfifo(top / "etc/fifo\nerror: forged\r")
    with pytest.raises(RootfsError) as fifo:
        rootfs.open_file("/etc/fifo\nerror: forged\r")
    assert fifo.value.message.startswith(r"/etc/fifo\x0aerror: forged\x0d in ")
    assert one_line("a\u2028b\x1b\x7f") == r"a\u2028b\x1b\x7f"


@pytest.mark.usefixtures("lookups")
def test_a_host_tree_changing_under_a_push_stops_it_in_one_line(
    root: tuple[Rootfs, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rootfs, top = root
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "sub/b").write_text("b\n")
    make_dir = rootfs.make_dir

    def and_remove(path: str, **kw: int) -> bool:
        if path == "/etc/src/sub":  # made inside: the host's goes away before it is read
            shutil.rmtree(src / "sub")
        return make_dir(path, **kw)

    monkeypatch.setattr(rootfs, "make_dir", and_remove)
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    done = files.Copied("c1", str(src), "/etc/src")
    try:
        with pytest.raises(RootfsError, match=rf"^{src}/sub vanished from the host .* partway"):
            files._push_tree(
                files._Writer(rootfs), fd, os.fstat(fd), "/etc/src", None, (0, 0), done
            )
    finally:
        os.close(fd)
    assert (top / "etc/src/a").read_text() == "a\n"  # what was copied stays


@pytest.mark.usefixtures("lookups")
def test_a_directory_on_a_kernel_filesystem_is_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    class Named:
        name = "c1"

    with Rootfs(Path("/")) as host_as_container:
        for path in ("/proc", "/sys/kernel"):
            found = host_as_container.info(path)
            assert found is not None
            with pytest.raises(RootfsError, match=f"^{path} in c1 is on the kernel's"):
                files._pull_to_host(
                    host_as_container,
                    Named(),  # type: ignore[arg-type]
                    path,
                    str(tmp_path / "out"),
                    found,
                )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("lookups")
def test_a_kernel_filesystem_met_in_a_pulled_tree_is_skipped_and_listed(
    root: tuple[Rootfs, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rootfs, top = root
    (top / "etc/proc/self").mkdir(parents=True)  # where the container mounted a proc
    (top / "etc/a").write_text("a\n")
    real = rootfs.kernel_fs
    monkeypatch.setattr(rootfs, "kernel_fs", lambda p: "proc" if p == "/etc/proc" else real(p))
    out = tmp_path / "out"
    out.mkdir()
    pfd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        done = files.Copied("c1", "/etc", str(out / "etc"))
        files._pull_tree(rootfs, "/etc", pfd, "etc", 0o022, done)
    finally:
        os.close(pfd)
    assert done.skipped == ["/etc/proc: on the kernel's proc filesystem"]
    assert sorted(p.name for p in (out / "etc").iterdir()) == ["a"]


def test_a_path_at_or_under_a_share_is_found() -> None:
    shares = [("/srv/data", "/host/data"), ("/srv/data/sub", "/host/sub"), ("/mnt", "/host/m")]
    assert pushpull.share_at("/srv/data", shares) == ("/srv/data", "/host/data")
    assert pushpull.share_at("/srv/data/x/../y", shares) == ("/srv/data", "/host/data")
    assert pushpull.share_at("/srv/data/sub/f", shares) == ("/srv/data/sub", "/host/sub")
    assert pushpull.share_at("//mnt/", shares) == ("/mnt", "/host/m")
    assert pushpull.share_at("/srv/database", shares) is None
    assert pushpull.share_at("/srv", shares) is None


def test_a_push_into_an_idmapped_share_names_what_works(monkeypatch: pytest.MonkeyPatch) -> None:
    class Named:
        name = "c1"

    share = Mount("/mnt/s", "/host/s")
    monkeypatch.setattr(ops_mounts, "listing", lambda container: [share])
    writing = files._writing(Named(), "/mnt/s/f")  # type: ignore[arg-type]
    with pytest.raises(RootfsError) as refused, writing:
        raise OSError(errno.EOVERFLOW, os.strerror(errno.EOVERFLOW))
    assert "no id on that share" in refused.value.message
    assert refused.value.hint == (
        "share it with --no-idmap, or copy it into the host directory /host/s"
    )
