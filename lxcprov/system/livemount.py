"""Bind a host directory into a running container, and take it out again, without a restart.

python3-lxc has no way to add a mount to a running container, so lxcprov uses the
kernel's mount API itself (Linux 5.12+; ctypes, as for openat2): a detached clone of the
host directory (open_tree on the descriptor the caller opened and judged, see
lxcprov.system.hostdir: a path swapped meanwhile changes nothing), made nosuid, nodev, a
slave of the directory's mount (mount events go from the host to it, never back: a clone
of a shared mount would otherwise be in the host's peer group), read-only and, for an
unprivileged container, idmapped through a pinned user namespace (mount_setattr: a host
file of the directory's owner shows as the same uid inside); then a forked child joins
the container's mount namespace (setns) and attaches the clone at the target
(move_mount). The config entry that makes the mount at every start is written by the
caller; this only spares the restart.

The container's init is named by a pidfd (`pin`), never by its number: the child joins
the mount namespace with setns on the pidfd itself (Linux 5.8+), which names exactly the
pinned process or fails once it has exited, so a pid reused by another process can never
send a mount or an unmount into that process's namespace. What is read by number
(/proc/PID/mountinfo) is trusted only if the pinned process is still alive after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
from collections.abc import Callable
from pathlib import Path

from lxcprov.errors import MountError
from lxcprov.system import run

_SYSCALLS = {  # the new mount API has one number on every 64-bit Linux we run on
    "open_tree": 428,
    "move_mount": 429,
    "mount_setattr": 442,
}
_OPEN_TREE_CLONE = 0x1
_OPEN_TREE_CLOEXEC = os.O_CLOEXEC
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_MOUNT_ATTR_NODEV = 0x4
_MOUNT_ATTR_IDMAP = 0x100000
_MS_SLAVE = 1 << 19
_MS_PRIVATE = 1 << 18
_MS_REC = 0x4000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNS = 0x20000
_MNT_DETACH = 0x2


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def detached(source_fd: int, *, ro: bool, userns_fd: int | None) -> int:
    """A detached bind of the directory source_fd names (opened and judged by the caller:
    never a path looked up again), nosuid and nodev, a slave of its mount (read-only;
    idmapped through that user namespace)."""
    libc = _libc()
    tree = _check(
        libc.syscall(_SYSCALLS["open_tree"], source_fd, b"",
                     _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_EMPTY_PATH),
        "cloning the shared directory",
    )  # fmt: skip
    try:
        flags = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV | (_MOUNT_ATTR_RDONLY if ro else 0)
        # A slave of the directory's mount, as LXC's own bind at a start is: host mounts
        # below it still show inside, and nothing mounted inside ever reaches the host. A
        # plain clone of a shared mount (on a systemd host / is shared) stays in the host's
        # peer group, and the container's root could mount onto the host's tree.
        attr = _MountAttr(flags, 0, _MS_SLAVE, 0)
        if userns_fd is not None:
            attr.attr_set |= _MOUNT_ATTR_IDMAP
            attr.userns_fd = userns_fd
        _check(
            libc.syscall(_SYSCALLS["mount_setattr"], tree, b"", _AT_EMPTY_PATH,
                         ctypes.byref(attr), ctypes.sizeof(attr)),
            "setting up the shared directory for the container",
        )  # fmt: skip
        return tree
    except BaseException:
        os.close(tree)
        raise


def probe_idmap(source_fd: int, userns_fd: int) -> str:
    """ "" when the directory source_fd names can be idmapped through that namespace, else
    why not (the kernel's word: a filesystem without idmapped mounts says 'Invalid
    argument')."""
    try:
        os.close(detached(source_fd, ro=True, userns_fd=userns_fd))
    except OSError as exc:
        return str(exc)
    return ""


def _move(tree: int, target: str) -> None:
    _check(
        _libc().syscall(_SYSCALLS["move_mount"], tree, b"", _AT_FDCWD, target.encode(),
                        _MOVE_MOUNT_F_EMPTY_PATH),
        f"mounting on {target}",
    )  # fmt: skip


def stage(tree: int, at: Path) -> None:
    """Attach a detached tree at `at` (an empty directory of lxcprov's) in this process's
    mount namespace, for LXC to bind at a start; the tree's descriptor is closed."""
    try:
        _move(tree, str(at))
    finally:
        os.close(tree)


def unstage(directory: Path) -> None:
    """Take away every mount staged in directory's subdirectories (lazily: LXC's copy in
    a container is its own and stays), and the directory."""
    if not directory.is_dir():
        return
    libc = _libc()
    for child in sorted(directory.iterdir()):
        while _is_mountpoint(child) and libc.umount2(str(child).encode(), _MNT_DETACH) == 0:
            pass  # staged twice (a killed start, then another): two mounts
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        directory.rmdir()


def pin(pid: int) -> int:
    """A pidfd of pid (the caller closes it): what attach, detach and mounted_in act on.

    The caller checks, after pinning, that pid is still the process it meant (a running
    container's init: ask liblxc again), as the number may have been reused before."""
    if pid <= 0:
        raise MountError("the container is not running: no process to mount into")
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise MountError(f"process {pid} has exited: the container stopped") from None


def _exited(pidfd: int) -> bool:
    """True once the process behind pidfd has exited (a pidfd polls readable then)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _pid_of(pidfd: int) -> int:
    """The pid a pidfd names in this pid namespace (-1 once it has exited)."""
    with open(f"/proc/self/fdinfo/{pidfd}") as fh:
        for line in fh:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise MountError("this kernel does not say which process a pidfd names (Linux 5.8+)")


def _in_mount_ns(pidfd: int, action: str, fn: Callable[[], None], *, join: bool = True) -> None:
    """Run fn in a forked child that joined the mount namespace of the process the pidfd
    pins (setns on the pidfd: never a namespace opened by number); join=False: fn joins
    what it needs itself."""
    if _exited(pidfd):
        raise MountError(f"{action} failed: the container's init has exited")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child; the parent reports its result
        os.close(read_end)
        code = 0
        try:
            if join:
                _check(_libc().setns(pidfd, _CLONE_NEWNS), "joining the container's mounts")
            fn()
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                exc = OSError(exc.errno, "the container's init has exited")
            os.write(write_end, str(exc).encode())
            code = 1
        except BaseException as exc:
            os.write(write_end, repr(exc).encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        message = fh.read().decode(errors="replace")
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise MountError(f"{action} failed: {message or 'unknown error'}")


def attach(pidfd: int, tree: int, target: str, *, lock_at: Path | None = None) -> None:
    """Attach a detached tree at target inside the container whose init pidfd pins.

    lock_at (an empty directory; for an unprivileged container): the child first puts
    the tree there in a private mount namespace of its own, then joins the container's
    user namespace and copies that mount namespace into it, which is how the kernel
    locks a mount's flags (MNT_LOCK_*, as for LXC's bind at a start: the container's
    root cannot remount it rw, suid or dev); what is attached is the copy's clone. The
    child's namespaces die with it. None (privileged: its root is host root): as is."""

    def move() -> None:
        _move(tree, target)

    def move_locked() -> None:
        assert lock_at is not None
        libc = _libc()
        _check(libc.unshare(_CLONE_NEWNS), "a mount namespace of its own")
        # Private: nothing mounted in it reaches the host's namespace.
        _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "making it private")
        _move(tree, str(lock_at))
        _check(libc.setns(pidfd, _CLONE_NEWUSER), "joining the container's user namespace")
        _check(libc.unshare(_CLONE_NEWNS), "a copy of it in the container's user namespace")
        copy = _check(
            libc.syscall(_SYSCALLS["open_tree"], _AT_FDCWD, str(lock_at).encode(),
                         _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC),
            "cloning the locked mount",
        )  # fmt: skip
        _check(libc.setns(pidfd, _CLONE_NEWNS), "joining the container's mounts")
        _move(copy, target)

    action = f"mounting on {target} in the running container"
    try:
        if lock_at is None:
            _in_mount_ns(pidfd, action, move)
        else:
            _in_mount_ns(pidfd, action, move_locked, join=False)
    finally:
        os.close(tree)


def detach(pidfd: int, target: str) -> None:
    """Unmount target inside the running container (lazily: a process using it keeps it)."""

    def umount() -> None:
        if _libc().umount2(target.encode(), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOENT):  # not mounted there: nothing to do
                raise OSError(err, f"unmounting {target}: {os.strerror(err)}")

    _in_mount_ns(pidfd, f"unmounting {target} in the running container", umount)


def mounted_in(pidfd: int, target: str) -> bool:
    """Whether target (a path inside the container) is a mount point in the namespace of
    the process pidfd pins (False once it has exited: nothing read by number is trusted
    unless that process outlived the read)."""
    found = False
    with contextlib.suppress(OSError):
        pid = _pid_of(pidfd)
        if pid <= 0:
            return False
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4].replace("\\040", " ") == target:
                found = True
    return found and not _exited(pidfd)


def _is_mountpoint(path: Path) -> bool:
    target = str(path)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == target:
                return True
    return False


def pinned_userns(path: Path, uid_map: list[tuple[int, int, int]],
                  gid_map: list[tuple[int, int, int]]) -> Path:  # fmt: skip
    """A user namespace with these uid_map and gid_map lines (first id inside, first id
    outside, count), pinned at path (an nsfs bind mount) so that LXC can idmap mounts
    through it at every start. What the lines are is decided by the caller (see
    lxcprov.engine.mounts.share_map): this only makes and keeps the namespace.
    """
    if _is_mountpoint(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.touch(mode=0o644, exist_ok=True)
    read_end, write_end = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only holds the namespace open
        os.close(read_end)
        os.close(go_write)
        ok = _libc().unshare(0x10000000) == 0  # CLONE_NEWUSER
        os.write(write_end, b"1" if ok else b"0")
        os.read(go_read, 1)
        os._exit(0)
    os.close(write_end)
    os.close(go_read)
    try:
        if os.read(read_end, 1) != b"1":
            raise MountError("could not make the user namespace idmapped mounts go through")
        # Each map is written whole in one write, as the kernel requires.
        with open(f"/proc/{child}/uid_map", "w") as fh:
            fh.write("".join(f"{a} {b} {n}\n" for a, b, n in uid_map))
        with open(f"/proc/{child}/setgroups", "w") as fh:
            fh.write("deny\n")
        with open(f"/proc/{child}/gid_map", "w") as fh:
            fh.write("".join(f"{a} {b} {n}\n" for a, b, n in gid_map))
        run.run(["mount", "--bind", f"/proc/{child}/ns/user", str(path)])
    finally:
        os.close(read_end)
        os.write(go_write, b"x")
        os.close(go_write)
        os.waitpid(child, 0)
    return path
