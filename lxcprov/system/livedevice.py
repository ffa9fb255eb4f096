"""Bind one of lxcprov's device nodes into a running container, and take it out again.

The mount API of lxcprov.system.livemount, for a file: a detached clone of the node
(open_tree, never following a symlink; a slave, so nothing mounted on it inside reaches
the host), then a forked child joins the container's mount namespace through its pinned
pidfd, makes the missing directories and an empty file at the path under the
container's /dev one component at a time without following a symlink (what LXC's
`create=file` makes at a start), and attaches the clone onto that file's descriptor
(move_mount to an fd: the path is never looked up again). Not nodev: the node is the
point; it lies on a host filesystem, so the kernel lets it be opened.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat

from lxcprov.system import livemount

_AT_SYMLINK_NOFOLLOW = 0x100
_MOVE_MOUNT_T_EMPTY_PATH = 0x40
_MS_SLAVE = 1 << 19
_MNT_DETACH = 2
_UMOUNT_NOFOLLOW = 8


def _clone(node: str) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    tree = livemount._check(
        libc.syscall(livemount._SYSCALLS["open_tree"], livemount._AT_FDCWD, node.encode(),
                     livemount._OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_SYMLINK_NOFOLLOW),
        "cloning the device node",
    )  # fmt: skip
    try:
        attr = livemount._MountAttr(0, 0, _MS_SLAVE, 0)
        livemount._check(
            libc.syscall(livemount._SYSCALLS["mount_setattr"], tree, b"",
                         livemount._AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr)),
            "making the node's mount a slave",
        )  # fmt: skip
    except BaseException:
        os.close(tree)
        raise
    return tree


def _target_fd(target: str, uid: int, gid: int) -> int:
    """The file at target (absolute, in this mount namespace), made as LXC's create=file
    makes it: as the container's root (host uid:gid), the only ids the container's /dev
    (a tmpfs of its user namespace) can store; never through a symlink (ELOOP/ENOTDIR)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsgid(gid)
    libc.setfsuid(uid)
    parts = [p for p in target.split("/") if p]
    here = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=here)
            below = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                            dir_fd=here)  # fmt: skip
            os.close(here)
            here = below
        try:
            fd = os.open(parts[-1], os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o000, dir_fd=here)  # fmt: skip
        except FileExistsError:
            fd = os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=here)
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode) or stat.S_ISDIR(mode):
                os.close(fd)
                raise OSError(errno.ELOOP, f"{target} is a symlink or a directory inside") from None
        return fd
    finally:
        os.close(here)


def attach(pidfd: int, node: str, target: str, owner: tuple[int, int]) -> None:
    """Bind the host node at target inside the running container whose init pidfd pins;
    owner: the host ids of the container's root (what a made directory belongs to)."""
    tree = _clone(node)

    def move() -> None:
        fd = _target_fd(target, *owner)
        try:
            livemount._check(
                ctypes.CDLL(None, use_errno=True).syscall(
                    livemount._SYSCALLS["move_mount"], tree, b"", fd, b"",
                    livemount._MOVE_MOUNT_F_EMPTY_PATH | _MOVE_MOUNT_T_EMPTY_PATH),
                f"mounting on {target}",
            )  # fmt: skip
        finally:
            os.close(fd)

    try:
        livemount._in_mount_ns(pidfd, f"binding {target} in the running container", move)
    finally:
        os.close(tree)


def detach(pidfd: int, target: str, ours: tuple[int, int]) -> None:
    """Unmount lxcprov's node from target inside (once, lazily), then remove the empty file
    left under it (a regular file only: never what the container's root put there
    instead). ours: the filesystem of lxcprov's devices directory
    and the device number (st_dev, st_rdev): whatever else is mounted there (LXC's own
    /dev/null, a mount of the container's root) is left alone. (Not the inode: `device
    add` replaces a node by rename, and the bind it then replaces is of the old one.)"""
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

    def umount() -> None:
        try:
            fd = os.open(target, flags)
        except OSError:
            return  # nothing there (or a symlink): nothing of lxcprov's
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            return
        if (st.st_dev, st.st_rdev) != ours:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.umount2(target.encode(), _MNT_DETACH | _UMOUNT_NOFOLLOW) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                return  # the node is there but not mounted (not ours to unmount)
            raise OSError(err, f"unmounting {target}: {os.strerror(err)}")
        head, _, tail = target.rpartition("/")
        try:
            dirfd = os.open(head or "/", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            under = os.stat(tail, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISREG(under.st_mode) and under.st_size == 0:
                os.unlink(tail, dir_fd=dirfd)
        except OSError:
            pass
        finally:
            os.close(dirfd)

    livemount._in_mount_ns(pidfd, f"unmounting {target} in the running container", umount)
