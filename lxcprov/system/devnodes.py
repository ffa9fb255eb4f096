"""Host device nodes for containers: what a host path is, lxcprov's own copies of nodes
in a container's devices directory, and the v1 device cgroup rules of a running one.

The devices directory (`<lxcpath>/<name>/devices`, root's, 0711) is opened once without
following a symlink, and every node in it is made, changed and removed relative to that
descriptor: made under a temporary name, given its owner and mode, then renamed into
place, so a node is either absent or whole. Only root writes in that directory, so a
name in it is always lxcprov's own.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.errors import InvalidArgumentError, LxcprovError


@dataclass(frozen=True)
class HostNode:
    path: str  # the node itself (symlinks resolved)
    kind: str  # "c" or "b"
    major: int
    minor: int


def host_node(path: str) -> HostNode:
    """What path is on the host: a character or block device under /dev (a symlink is
    resolved on the host; one line when it is anything else)."""
    real = os.path.realpath(path)
    shown = path if real == path else f"{path} (resolved: {real})"
    try:
        st = os.lstat(real)
    except OSError as exc:
        raise InvalidArgumentError(
            f"{shown}: not on this host ({exc.strerror})",
            hint="ls -l /dev shows the host's devices (a USB device may be unplugged)",
        ) from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise InvalidArgumentError(
            f"{shown} is not a device node (a character or block device)",
            hint="give a device such as /dev/net/tun; a directory is shared with mount add",
        )
    if not real.startswith("/dev/"):
        raise InvalidArgumentError(f"{shown}: lxcprov passes device nodes under /dev only")
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    return HostNode(real, kind, os.major(st.st_rdev), os.minor(st.st_rdev))


NodeState = Literal["same", "gone", "other"]


def node_state(path: str, kind: str, major: int, minor: int) -> NodeState:
    """What path is on the host now: that device, nothing (unplugged, a module unloaded),
    or another device or file (a replugged USB device's number given to another)."""
    try:
        st = os.lstat(path)
    except OSError:
        return "gone"
    right = stat.S_ISCHR(st.st_mode) if kind == "c" else stat.S_ISBLK(st.st_mode)
    same = right and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
    return "same" if same else "other"


def same_node(path: str, kind: str, major: int, minor: int) -> bool:
    """Whether path is still that device on the host (not unplugged, not another one)."""
    return node_state(path, kind, major, minor) == "same"


@contextlib.contextmanager
def nodes_dir(container_dir: Path, *, create: bool) -> Iterator[int | None]:
    """A descriptor of the container's devices directory (None when there is none and
    create is False), opened through no symlink, root's and 0711."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        top = os.open(container_dir, flags)
    except OSError as exc:
        raise LxcprovError(
            f"{container_dir}: lxcprov keeps device nodes in a container's own directory, "
            f"and this one cannot be opened as one ({exc.strerror})",
            hint="a container directory reached through a symlink is not used for devices",
        ) from None
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir("devices", 0o711, dir_fd=top)
        try:
            fd = os.open("devices", flags, dir_fd=top)
        except FileNotFoundError:
            yield None
            return
    finally:
        os.close(top)
    try:
        st = os.fstat(fd)
        if st.st_uid != 0:
            raise InvalidArgumentError(f"{container_dir}/devices is not root's: left alone")
        if stat.S_IMODE(st.st_mode) != 0o711:
            os.fchmod(fd, 0o711)  # the container's root traverses it to bind a node
        yield fd
    finally:
        os.close(fd)


def make_node(dirfd: int, name: str, kind: str, major: int, minor: int, mode: int,
              uid: int, gid: int) -> None:  # fmt: skip
    """Make (or replace) the node name: that device, owned by uid:gid (host ids), mode."""
    tmp = f".{name}.new"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dirfd)
    kind_bits = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
    os.mknod(tmp, kind_bits | 0o600, os.makedev(major, minor), dir_fd=dirfd)
    os.chown(tmp, uid, gid, dir_fd=dirfd, follow_symlinks=False)
    os.chmod(tmp, mode, dir_fd=dirfd)  # a node of ours, in a directory only root writes
    os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)


def node_ok(dirfd: int, name: str, kind: str, major: int, minor: int, mode: int,
            uid: int, gid: int) -> bool:  # fmt: skip
    """Whether the node is there as it should be (the container's root may chmod it)."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    right = stat.S_ISCHR(st.st_mode) if kind == "c" else stat.S_ISBLK(st.st_mode)
    return (
        right
        and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
        and stat.S_IMODE(st.st_mode) == mode
        and (st.st_uid, st.st_gid) == (uid, gid)
    )


def remove_node(dirfd: int, name: str) -> bool:
    try:
        os.unlink(name, dir_fd=dirfd)
    except FileNotFoundError:
        return False
    return True


def sweep(dirfd: int, keep: set[str]) -> list[str]:
    """Remove every entry but keep (what a killed command left: a node made before its
    record, a temporary one); the names removed."""
    gone = []
    for name in sorted(os.listdir(dirfd)):
        if name not in keep and remove_node(dirfd, name):
            gone.append(name)
    return gone


# -- v1 device cgroup of a running container ---------------------------------------------

PAYLOAD = "lxc.payload."  # LXC 5's name of a container's cgroup (a suffix if taken)


def v1_cgroup(pid: int, v1_root: str) -> Path | None:
    """The container's own cgroup in the v1 devices hierarchy (the one LXC made for it,
    above whatever its init made below), from its init's /proc/PID/cgroup."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    return v1_cgroup_in(text, v1_root)


def v1_cgroup_in(text: str, v1_root: str) -> Path | None:
    """v1_cgroup from the text of /proc/PID/cgroup."""
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "devices" not in controllers.split(","):
            continue
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            if part.startswith(PAYLOAD):
                return Path(v1_root, "devices", *parts[: i + 1])
        return Path(v1_root, "devices", *parts)
    return None


def v1_write(top: Path, what: str, rule: str) -> None:
    """Write rule to `devices.<what>` of top and of every cgroup below it, top-down: a v1
    child copies its parent's list only when it is made, so a rule written at the top
    alone would not reach what the container's init made below (systemd's units)."""
    for directory, subdirs, _ in os.walk(top):
        subdirs.sort()
        with contextlib.suppress(FileNotFoundError):  # a cgroup removed meanwhile
            Path(directory, f"devices.{what}").write_text(rule)
