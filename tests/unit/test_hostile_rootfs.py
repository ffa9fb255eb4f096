"""A container's root controls every byte of its rootfs, even while lxcprov works on it.

Each test here is a way that control was turned against lxcprov: a pid reused under a
running container's root, a FIFO, a device node or a 10 GiB file where a config file
should be, symlink chains made to be slow.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from lxcprov.engine.facts import gather
from lxcprov.engine.recipes import Secrets, apply, load_all, plan
from lxcprov.errors import RootfsError
from lxcprov.system import openat2
from lxcprov.system.rootfs import MAX_READ, Rootfs
from tests.trees import debian_systemd, write
from tests.unit.pid_reuse import chrooted

REPO = Path(__file__).resolve().parents[2]
DEEP = 2000  # directories in the deep chain
HOP_DEPTH = 200  # directories each hop of a symlink chain walks again
MAX_HOPS = 40  # the kernel's limit, and lxcprov's


# -- 1. a running container's root is pinned -----------------------------------------


def _in_a_pid_namespace(script: str, *args: str) -> dict[str, Any]:
    """What tests/unit/SCRIPT.py prints (JSON), run in a PID namespace of its own: nothing
    else forks there, so a pid it frees is reused for sure."""
    unshare = ["unshare", "--pid", "--fork", "--mount-proc"]
    proc = subprocess.run(
        [*unshare, sys.executable, "-m", f"tests.unit.{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    seen: dict[str, Any] = json.loads(proc.stdout)
    return seen


def test_a_reused_pid_never_leads_to_the_new_process_files(tmp_path: Path) -> None:
    roots = []
    for name in ("first", "second"):
        root = tmp_path / name
        write(root, "/etc/hostname", f"{name}\n")
        roots.append(str(root))
    seen = _in_a_pid_namespace("pid_reuse", *roots)
    assert seen["second"] == seen["first"], "the second process took the first one's pid"
    assert seen["by_number"] == "second\n", "by number, /proc/PID/root is the new process's"
    assert seen["before"] == "first\n"
    assert seen["after"] is None, "the pinned Rootfs read the new process's file"
    assert "has exited" in seen["error"]


def test_a_pinned_root_fails_cleanly_once_its_process_exits(tmp_path: Path) -> None:
    write(tmp_path, "/etc/hostname", "pinned\n")
    pid, end = chrooted(str(tmp_path))
    try:
        rootfs = Rootfs.of_process(pid)
    finally:
        os.close(end)
    with rootfs:
        os.waitpid(pid, 0)
        for look in (rootfs.exists, rootfs.read_text, rootfs.resolve):
            with pytest.raises(RootfsError, match="has exited"):
                look("/etc/hostname")
        with pytest.raises(RootfsError, match="has exited"):
            rootfs.write_text("/etc/hostname", "x\n")


def test_a_rootfs_keeps_the_directory_it_opened(tmp_path: Path) -> None:
    """Held by descriptor: a directory put at the same path later is not the rootfs."""
    root = tmp_path / "rootfs"
    write(root, "/etc/hostname", "original\n")
    with Rootfs(root) as rootfs:
        root.rename(tmp_path / "moved")
        write(root, "/etc/hostname", "impostor\n")
        assert rootfs.read_text("/etc/hostname") == "original\n"
        rootfs.write_text("/etc/hostname", "written\n")
    assert (tmp_path / "moved/etc/hostname").read_text() == "written\n"
    assert (root / "etc/hostname").read_text() == "impostor\n"


def test_close_releases_the_descriptors(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    pid, end = chrooted(str(tmp_path))
    try:
        with Rootfs.of_process(pid) as rootfs, Rootfs(tmp_path) as other:
            assert rootfs.exists("/") and other.exists("/")
    finally:
        os.close(end)
        os.waitpid(pid, 0)
    assert len(os.listdir("/proc/self/fd")) == before
    with pytest.raises(RootfsError, match="closed"):
        rootfs.exists("/")


# -- 2. only regular files are read, and only so much ---------------------------------


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A safety net, not a timing check: turns a blocked open into a failed test."""

    def hung(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("lxcprov blocked on a file in the rootfs")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def memory_cap() -> Iterator[None]:
    """A safety net: reading a 10 GiB file whole fails with MemoryError, not the OOM killer."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (used + 2 * 1024**3, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    root.mkdir()
    return debian_systemd(root)


def _refused(rootfs: Rootfs, path: str, what: str) -> None:
    with pytest.raises(RootfsError, match=what) as caught:
        rootfs.read_text(path)
    assert path in caught.value.message
    assert "\n" not in caught.value.message, "one line"


@pytest.mark.usefixtures("no_hang", "lookups")
def test_a_fifo_is_refused_without_blocking(tree: Path) -> None:
    (tree / "etc/os-release").unlink()
    os.mkfifo(tree / "etc/os-release")
    with Rootfs(tree) as rootfs:
        _refused(rootfs, "/etc/os-release", "is a FIFO, not a regular file")
        with pytest.raises(RootfsError, match="/etc/os-release"):
            gather("c1", rootfs, {})


@pytest.mark.usefixtures("lookups")
def test_a_device_node_is_never_opened(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "etc/os-release").unlink()
    os.mknod(tree / "etc/os-release", stat.S_IFCHR | 0o644, os.makedev(1, 3))
    devices: list[object] = []
    real_open, real_openat2 = os.open, openat2.openat2

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        if not flags & os.O_PATH and stat.S_ISCHR(os.fstat(fd).st_mode):
            devices.append(path)
        return fd

    def spy2(dirfd: int, path: str, flags: int, resolve: int) -> int:
        assert flags & os.O_PATH, "lookups only ever make O_PATH descriptors"
        return real_openat2(dirfd, path, flags, resolve)

    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr(openat2, "openat2", spy2)
    with Rootfs(tree) as rootfs:
        _refused(rootfs, "/etc/os-release", "is a character device, not a regular file")
        with pytest.raises(RootfsError, match="/etc/os-release"):
            gather("c1", rootfs, {})
    assert devices == [], "a device node in the rootfs was opened by host root"


@pytest.mark.usefixtures("memory_cap", "lookups")
def test_a_huge_sparse_file_is_refused_before_reading(tree: Path) -> None:
    with (tree / "etc/os-release").open("r+b") as fh:
        fh.truncate(10 * 1024**3)
    with Rootfs(tree) as rootfs:
        _refused(rootfs, "/etc/os-release", "larger than 16 MiB")
        with pytest.raises(RootfsError, match="/etc/os-release"):
            gather("c1", rootfs, {})


def test_the_cap_is_exact_and_never_a_partial_read(tree: Path) -> None:
    write(tree, "/etc/at-cap", "x" * 10)
    write(tree, "/etc/over-cap", "x" * 11)
    with Rootfs(tree) as rootfs:
        assert rootfs.read_bytes("/etc/at-cap", limit=10) == b"x" * 10
        with pytest.raises(RootfsError, match="larger than 10 bytes"):
            rootfs.read_bytes("/etc/over-cap", limit=10)
    assert MAX_READ == 16 * 1024**2


# -- 3. resolution is linear in the path and the symlinks met -------------------------


def _chain(root: Path, depth: int) -> str:
    """depth nested directories d/d/.../d under root; returns the deepest as a path."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):  # by descriptor: the host path would pass PATH_MAX
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    with os.fdopen(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
        fh.write("found\n")
    os.close(fd)
    return "/" + "d/" * depth


@pytest.fixture
def deep(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "deep"
    root.mkdir()
    try:
        yield root
    finally:
        # rm walks by descriptor; shutil.rmtree (pytest's clean-up) recurses once per level.
        subprocess.run(["rm", "-rf", "--", str(root)], check=True)


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """The seam: how many descriptors (os.open and openat2) were opened since."""
    count = [0]
    real_open, real_openat2 = os.open, openat2.openat2

    def counting(*args: Any, **kwargs: Any) -> int:
        count[0] += 1
        return real_open(*args, **kwargs)

    def counting2(dirfd: int, path: str, flags: int, resolve: int) -> int:
        count[0] += 1
        return real_openat2(dirfd, path, flags, resolve)

    monkeypatch.setattr(os, "open", counting)
    monkeypatch.setattr(openat2, "openat2", counting2)

    def since() -> int:
        seen, count[0] = count[0], 0
        return seen

    return since


@pytest.mark.usefixtures("lookups")
def test_a_2000_deep_chain_costs_one_open_per_level(deep: Path, opens: Callable[[], int]) -> None:
    bottom = _chain(deep, DEEP)
    os.symlink(bottom + "f", deep / "link")
    with Rootfs(deep) as rootfs:
        opens()
        assert rootfs.resolve("/link") == bottom + "f"
        assert opens() <= DEEP + 5
        assert rootfs.read_text("/link") == "found\n"
        assert opens() <= DEEP + 5
        rootfs.write_text("/link", "written\n")
        assert opens() <= 3 * DEEP + 10
        assert rootfs.read_text(bottom + "f") == "written\n"


@pytest.mark.usefixtures("lookups")
def test_forty_hops_resolve_and_the_forty_first_is_refused(
    deep: Path, opens: Callable[[], int]
) -> None:
    bottom = _chain(deep, HOP_DEPTH)
    # /h0 -> BOTTOM/h1 -> BOTTOM/h2 ... -> BOTTOM/f: each hop walks every level again.
    os.symlink(bottom + "h1", deep / "h0")
    for n in range(1, MAX_HOPS):
        target = bottom + (f"h{n + 1}" if n + 1 < MAX_HOPS else "f")
        os.symlink(target, deep / bottom.strip("/") / f"h{n}")
    os.symlink("/h0", deep / "h-1")
    linear = (MAX_HOPS + 1) * (HOP_DEPTH + 2)
    with Rootfs(deep) as rootfs:
        opens()
        assert rootfs.resolve("/h0") == bottom + "f"
        assert opens() <= linear
        assert rootfs.read_text("/h0") == "found\n"
        assert opens() <= linear
        for look in (rootfs.resolve, rootfs.read_text):
            with pytest.raises(RootfsError, match="too many levels of symbolic links"):
                look("/h-1")


# -- 4. rewrites do not keep bits that hand lxcprov's content to others ---------------


def test_a_rewrite_drops_setuid_setgid_and_world_write(tree: Path) -> None:
    inittab = tree / "etc/inittab"
    inittab.chmod(0o7777)
    with Rootfs(tree) as rootfs:
        rootfs.write_text("/etc/inittab", "rewritten\n")
        assert stat.S_IMODE(inittab.stat().st_mode) == 0o1775, "the rest of the mode is kept"
        rootfs.write_text("/etc/inittab", "given\n", mode=0o4755)
        assert stat.S_IMODE(inittab.stat().st_mode) == 0o4755, "a mode given is used as is"


def test_recipes_do_not_carry_a_world_writable_mode(tree: Path) -> None:
    (tree / "etc/hosts").chmod(0o4666)
    with Rootfs(tree) as rootfs:
        facts = gather("c1", rootfs, {"lxc.tty.max": "1"})
        apply(rootfs, plan(rootfs, facts, load_all(), Secrets()))
    assert "c1" in (tree / "etc/hosts").read_text()
    assert stat.S_IMODE((tree / "etc/hosts").stat().st_mode) == 0o664


# -- 5. a live mount or unmount goes only to the pinned init ---------------------------


def test_a_reused_pid_never_receives_a_live_mount_or_unmount(tmp_path: Path) -> None:
    """Issue 22, row 7: livemount opened /proc/PID/ns/mnt by number, so a pid reused after
    the container's init exited sent `mount add`'s mount (or `mount rm`'s umount2) into
    the new process's namespace. The init is now pinned with a pidfd and the namespace is
    joined through it."""
    target, source = tmp_path / "target", tmp_path / "source"
    target.mkdir()
    source.mkdir()
    seen = _in_a_pid_namespace("mount_reuse", str(target), str(source))
    assert seen["second"] == seen["first"], "the second process took the first one's pid"
    assert seen["before"] is True, "the pinned init's own mount was seen"
    assert seen["mounted_in"] is False, "the new process's mount was taken for the init's"
    assert "has exited" in seen["detach"]
    assert "has exited" in seen["attach"]
    assert seen["second_mounts"] == ["tmpfs reuse"], "the new process's mounts changed"
