"""`push` and `pull`: files and directories into and out of a container.

The container's side goes through the rootfs jail only (lxcprov.system.containerfs opens
it: a stopped dir rootfs, a stopped clone's overlay mounted for the command, or a
running container's root, under its own mounts, pinned through its init's pidfd), so a
symlink inside never leads out: an absolute one is taken inside the container's root,
`..` stops there. Both commands hold the container's lock: a push or pull never meets a
half-done destroy, restore or snapshot (a running container's own processes may still
change its files meanwhile).

push: what lands inside is written whole or not at all (a temporary file beside it, then
a rename; a killed push leaves at most that temporary file, removed by the next push of
the same file). A running unprivileged container's overlay and shares belong to its user
namespace: the writes are made by a child that joined it (lxcprov.system.userns), handed
the host files already opened, so it never needs to reach a host path itself.

A directory is copied file by file, each written whole: a killed push or pull of one
leaves the files it had copied (a pull's new directory still 0700, root's).

Both keep holes (only a sparse file's data extents are copied:
lxcprov.system.sparsecopy) and a pull keeps hard links within the pulled tree (a file
met again is linked to its first copy), as cp -a does: a 3G sparse file or 40 links of
one file in a container with a small disk limit must not become gigabytes on the host.

pull: only regular files are read (FIFOs, devices and sockets are refused for one file
and skipped, and listed, in a directory; none on the kernel's proc or sysfs, which show
host root more than the container's root: lxcprov.system.kernelfs), of any size. What
lands on the host is host root's, with the container's permission bits less setuid,
setgid and sticky, and the names a container gave are created under directory
descriptors, never through a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

from lxcprov.engine import pushpull
from lxcprov.errors import (
    DiskFullError,
    InvalidArgumentError,
    LxcprovError,
    RootfsError,
    one_line,
)
from lxcprov.ops import mounts, recovery, targets
from lxcprov.system import containerfs, locks, lxc, sparsecopy, userns
from lxcprov.system.rootfs import FileInfo, Rootfs, sweep_temporaries

# Host files a push holds open at once for a running unprivileged clone's writer (a child
# per batch): well under the usual limit of 1024 descriptors.
_BATCH = 256
_HOST_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


@dataclass
class Copied:
    """What a push or pull did."""

    name: str
    source: str
    target: str
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # "PATH: what it is"
    seconds: float = 0.0


def pump(src: int, dst: int) -> int:
    """Copy src to dst until src ends (a stream: stdin, stdout); the bytes copied."""
    return sparsecopy.stream(src, dst)


@contextlib.contextmanager
def _container_files(container: lxc.Container, command: str) -> Iterator[Rootfs]:
    with locks.container(container.lxcpath, container.name, command):
        recovery.refuse_incomplete(container)
        container.require()
        targets.refuse_base(container, command)
        with containerfs.opened(container) as rootfs:
            yield rootfs


# -- push -----------------------------------------------------------------------------


class _Writer:
    """Writes into the container, in batches: directly, or from a child that joined a
    running unprivileged clone's user namespace (the host descriptors it writes from were
    opened by this process and are inherited)."""

    def __init__(self, rootfs: Rootfs) -> None:
        self.rootfs = rootfs
        self.pending: list[Callable[[], object]] = []
        self.held: list[int] = []

    def add(self, action: Callable[[], object], fd: int | None = None) -> None:
        self.pending.append(action)
        if fd is not None:
            self.held.append(fd)
        if len(self.held) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        try:
            if batch:
                self._run(lambda: [action() for action in batch])
        finally:
            for fd in self.held:
                os.close(fd)
            self.held = []

    def _run(self, fn: Callable[[], object]) -> None:
        if self.rootfs.userns_pid is not None:
            userns.run_as_root_of(self.rootfs.userns_pid, fn)
        else:
            fn()


def _copy_in(rootfs: Rootfs, path: str, src: int, mode: int, ids: tuple[int, int]) -> None:
    rootfs.write_from(path, lambda dst: sparsecopy.copy(src, dst), mode=mode, uid=ids[0],
                      gid=ids[1])  # fmt: skip


def push(
    container: lxc.Container,
    host_path: str,
    container_path: str,
    *,
    mode: str | None = None,
    owner: str | None = None,
) -> Copied:
    """Copy a host file, directory (whole) or stdin (`-`) into the container."""
    lxc.require_root()
    given_mode = pushpull.parse_mode(mode) if mode is not None else None
    if owner is not None:
        pushpull.check_owner(owner)
    _check_container_path(container_path)
    t0 = time.monotonic()
    src, st = _open_source(host_path)
    try:
        with _container_files(container, "push") as rootfs, _writing(container, container_path):
            _refuse_stopped_share(container, rootfs, container_path)
            ids = _owner(rootfs, owner)
            dest = _push_target(rootfs, host_path, container_path, is_dir=stat.S_ISDIR(st.st_mode))
            done = Copied(container.name, host_path, dest)
            writer = _Writer(rootfs)
            if stat.S_ISDIR(st.st_mode):
                _push_tree(writer, src, st, dest, given_mode, ids, done)
            else:
                fmode = pushpull.push_mode(given_mode, st.st_mode if host_path != "-" else None,
                                           is_dir=False)  # fmt: skip
                writer.add(lambda: _copy_in(rootfs, dest, src, fmode, ids))
                writer.flush()
                done.files = 1
                found = rootfs.info(dest, follow_final=False)
                done.bytes = found.size if found is not None else 0
    finally:
        if src != 0:
            os.close(src)
    done.seconds = time.monotonic() - t0
    return done


@contextlib.contextmanager
def _writing(container: lxc.Container, path: str) -> Iterator[None]:
    """A write's system errors as one line each, the same however the container is
    reached (from here, or from a child in its user namespace, whose errors come back as
    the same OSError)."""
    try:
        yield
    except OSError as exc:
        where = f"{one_line(path)} in {container.name}"
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"no space left on device for {where}",
                hint=f"free some space there (lxcprov exec {container.name} -- df -h /)",
            ) from None
        if exc.errno == errno.EROFS:
            raise RootfsError(
                f"cannot write {where}: it is on a read-only filesystem (a --ro share?)",
                hint="push to a writable path (lxcprov mount ls NAME shows the shares)",
            ) from None
        if exc.errno == errno.EOVERFLOW:  # an idmapped share: root has no id there
            raise RootfsError(
                f"cannot write {where}: the container's root has no id on that share",
                hint=f"share it with --no-idmap, or copy it into the host directory "
                f"{_share_source(container, path)}",
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise RootfsError(
                f"cannot write {where}: permission denied", hint="push to another path"
            ) from None
        raise


def _share_source(container: lxc.Container, path: str) -> str:
    """The host directory of the share path is in (an idmapped one refused a write)."""
    shares = [(m.target, m.source) for m in mounts.listing(container)]
    share = pushpull.share_at(path, shares)
    return share[1] if share is not None else "of that share (lxcprov mount ls NAME)"


def _refuse_stopped_share(container: lxc.Container, rootfs: Rootfs, path: str) -> None:
    """A stopped container's shares are not mounted: what a copy at or under one wrote
    or read would be the rootfs beneath the mount point, hidden once it starts."""
    if container.running():
        return
    shares = [(m.target, m.source) for m in mounts.listing(container)]
    for where in (path, rootfs.resolve(path)):
        if (share := pushpull.share_at(where, shares)) is not None:
            raise RootfsError(
                f"{one_line(path)} is {container.name}'s share of {share[1]} (mounted only "
                f"while it runs): copy it on the host, or start {container.name}",
                hint=f"the host directory is {share[1]}; lxcprov start {container.name}",
            )


def _check_container_path(path: str) -> None:
    if not path.startswith("/") or "\0" in path:
        raise InvalidArgumentError(
            f"{path!r} is not an absolute path inside the container",
            hint="paths inside start with /, e.g. /root/file",
        )


def _open_source(host_path: str) -> tuple[int, os.stat_result]:
    if host_path == "-":
        if os.isatty(0):
            raise InvalidArgumentError(
                "not reading a file from a terminal", hint="redirect stdin, or give a HOST_PATH"
            )
        return 0, os.fstat(0)
    try:
        fd = os.open(host_path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot read {one_line(host_path)}: {exc.strerror}",
            hint="give a file or directory to push",
        ) from None
    st = os.fstat(fd)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        os.close(fd)
        raise InvalidArgumentError(
            f"{one_line(host_path)} is {_KINDS.get(stat.S_IFMT(st.st_mode), 'not a file')}",
            hint="push a file or a directory; a stream goes through stdin (HOST_PATH -)",
        )
    return fd, st


def _owner(rootfs: Rootfs, owner: str | None) -> tuple[int, int]:
    if owner is None:
        return 0, 0  # the container's root (its mapped ids when unprivileged)
    passwd = rootfs.read_text("/etc/passwd") or ""
    group = rootfs.read_text("/etc/group") or ""
    return pushpull.owner_ids(owner, passwd, group)


def _push_target(rootfs: Rootfs, host_path: str, container_path: str, *, is_dir: bool) -> str:
    found = rootfs.info(container_path)
    if found is not None and found.is_dir:
        if host_path == "-":
            raise InvalidArgumentError(
                f"{one_line(container_path)} is a directory: stdin needs a file name",
                hint=f"name the file, e.g. {pushpull.into(container_path, 'file')}",
            )
        return pushpull.into(container_path, pushpull.last_name(host_path, "pushed"))
    if container_path.endswith("/"):
        raise RootfsError(
            f"{one_line(container_path)} is not a directory in the container",
            hint="make it first (lxcprov exec NAME -- mkdir -p DIR), or drop the trailing /",
        )
    if found is not None and is_dir:
        raise RootfsError(
            f"{one_line(container_path)} exists in the container and is not a directory",
            hint="push the directory into a directory, or to a new path",
        )
    return container_path


def _push_tree(
    writer: _Writer,
    top: int,
    st: os.stat_result,
    dest: str,
    given_mode: int | None,
    ids: tuple[int, int],
    done: Copied,
) -> None:
    rootfs = writer.rootfs
    dmode = pushpull.push_mode(given_mode, st.st_mode, is_dir=True)
    writer.add(partial(rootfs.make_dir, dest, mode=dmode, uid=ids[0], gid=ids[1]))
    done.dirs += 1
    # (host directory below top, its path inside): one directory at a time, opened again
    # from top when its turn comes, so only one is open, however wide the tree.
    todo: list[tuple[str, str]] = [("", dest)]
    while todo:
        rel, where = todo.pop()
        try:
            try:
                with _host_dir(top, "", rel) as dfd:
                    todo.extend(_push_dir(writer, dfd, rel, where, given_mode, ids, done))
            except FileNotFoundError:
                raise _Vanished(rel) from None
        except _Vanished as gone:
            writer.flush()  # what was listed before it vanished is copied
            raise RootfsError(
                f"{one_line(os.path.normpath(done.source + '/' + gone.rel))} vanished from the "
                f"host while it was pushed: the push stopped partway (what it had copied stays in "
                f"{done.name})",
                hint="push it again once the host directory stops changing",
            ) from None
        writer.flush()  # the directories made before anything below them


def _push_dir(
    writer: _Writer,
    dfd: int,
    rel: str,
    where: str,
    given_mode: int | None,
    ids: tuple[int, int],
    done: Copied,
) -> list[tuple[str, str]]:
    """Queue what is in one host directory; the subdirectories to copy next."""
    subdirs: list[tuple[str, str]] = []
    for name in sorted(os.listdir(dfd)):
        try:
            subdirs.extend(_push_entry(writer, dfd, rel, name, where, given_mode, ids, done))
        except FileNotFoundError:
            raise _Vanished(f"{rel}/{name}") from None
    return subdirs


class _Vanished(Exception):
    """A host path a push had listed is gone (rel: below the pushed directory)."""

    def __init__(self, rel: str) -> None:
        super().__init__(rel)
        self.rel = rel


def _push_entry(
    writer: _Writer,
    dfd: int,
    rel: str,
    name: str,
    where: str,
    given_mode: int | None,
    ids: tuple[int, int],
    done: Copied,
) -> list[tuple[str, str]]:
    """Queue one host entry; [the subdirectory to copy next] for a directory."""
    rootfs = writer.rootfs
    subdirs: list[tuple[str, str]] = []
    path = pushpull.into(where, name)
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        writer.add(partial(rootfs.symlink, path, os.readlink(name, dir_fd=dfd)))
        done.links += 1
    elif stat.S_ISDIR(st.st_mode):
        mode = pushpull.push_mode(given_mode, st.st_mode, is_dir=True)
        writer.add(partial(rootfs.make_dir, path, mode=mode, uid=ids[0], gid=ids[1]))
        subdirs.append((f"{rel}/{name}", path))
        done.dirs += 1
    elif stat.S_ISREG(st.st_mode):
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(name, flags, dir_fd=dfd)
        mode = pushpull.push_mode(given_mode, st.st_mode, is_dir=False)
        writer.add(partial(_copy_in, rootfs, path, fd, mode, ids), fd)
        done.files += 1
        done.bytes += st.st_size
    else:
        done.skipped.append(f"{path}: {_KINDS.get(stat.S_IFMT(st.st_mode), 'not a file')}")
    return subdirs


# -- pull -----------------------------------------------------------------------------


def pull(container: lxc.Container, container_path: str, host_path: str) -> Copied:
    """Copy a file or a directory (whole) out of the container, a file to stdout (`-`)."""
    lxc.require_root()
    _check_container_path(container_path)
    t0 = time.monotonic()
    with _container_files(container, "pull") as rootfs:
        _refuse_stopped_share(container, rootfs, container_path)
        found = rootfs.info(container_path)
        if found is None:
            raise RootfsError(
                f"no {one_line(container_path)} in {container.name}",
                hint=f"look with: lxcprov exec {container.name} -- ls -l "
                f"{one_line(container_path)}",
            )
        if not (found.is_dir or found.is_file):
            raise RootfsError(
                f"{one_line(container_path)} in {container.name} is "
                f"{_KINDS.get(stat.S_IFMT(found.mode), 'not a file')}: only files and "
                "directories are pulled",
                hint="read it from inside: lxcprov exec NAME -- cat PATH",
            )
        if host_path == "-":
            if found.is_dir:
                raise InvalidArgumentError(
                    f"{one_line(container_path)} is a directory: it cannot go to stdout",
                    hint="give a HOST_PATH, or: lxcprov exec NAME -- tar -C DIR -c . > x.tar",
                )
            done = Copied(container.name, container_path, "-")
            done.bytes = _pull_file(rootfs, container_path, None, "")
            done.files = 1
        else:
            done = _pull_to_host(rootfs, container, container_path, host_path, found)
    done.seconds = time.monotonic() - t0
    return done


def _pull_to_host(
    rootfs: Rootfs, container: lxc.Container, container_path: str, host_path: str, found: FileInfo
) -> Copied:
    # A directory on proc, sysfs, ...: nothing in it is read (lxcprov.system.kernelfs), so
    # it is refused whole, before anything is made on the host.
    if found.is_dir and (fs := rootfs.kernel_fs(container_path)) is not None:
        raise RootfsError(
            f"{one_line(container_path)} in {container.name} is on the kernel's {fs} "
            "filesystem: lxcprov does not read it as host root",
            hint=f"read it from inside: lxcprov exec {container.name} -- tar -C DIR -c . > x.tar",
        )
    name = pushpull.last_name(container_path, container.name)
    if os.path.isdir(host_path):  # the caller's path: followed, as cp does
        parent, name = host_path, name
    else:
        parent, name = os.path.split(os.path.abspath(host_path))
    try:
        pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot write into {parent}: {exc.strerror}", hint="give an existing directory"
        ) from None
    done = Copied(container.name, container_path, os.path.join(parent, name))
    umask = _umask()
    try:
        if found.is_file:
            done.bytes = _pull_file(rootfs, container_path, pfd, name, umask)
            done.files = 1
        else:
            # Walked from where its symlinks lead (inside): `pull NAME /var/run` is /run's.
            _pull_tree(rootfs, rootfs.resolve(container_path), pfd, name, umask, done)
    finally:
        os.close(pfd)
    return done


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pull_file(rootfs: Rootfs, path: str, pfd: int | None, name: str, umask: int = 0o022) -> int:
    """The file at path to name in the host directory pfd (None: to stdout); its size."""
    opened = rootfs.open_file(path)
    if opened is None:
        raise RootfsError(f"{one_line(path)} vanished while lxcprov read it")
    src, info = opened
    try:
        if pfd is None:
            return pump(src, 1)
        return _host_write(pfd, name, lambda dst: sparsecopy.copy(src, dst),
                           pushpull.host_mode(info.mode, umask))  # fmt: skip
    finally:
        os.close(src)


def _host_write(pfd: int, name: str, fill: Callable[[int], int], mode: int) -> int:
    """A host file written whole or not at all: a temporary file, then a rename over name
    (a symlink there is replaced, never followed); what a killed pull of name left beside
    it is removed first."""
    try:
        old = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise InvalidArgumentError(
            f"{one_line(name)} is a directory on the host", hint="pull to another path"
        )
    # Two pulls onto one host path at once (of two containers: two locks) may remove each
    # other's temporary file: the one that loses fails; neither leaves a half file.
    sweep_temporaries(pfd, name)
    tmp = f".{name}.lxcprov-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=pfd)  # fmt: skip
    try:
        try:
            size = fill(fd)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=pfd)
        raise
    return size


def _pull_tree(rootfs: Rootfs, top: str, pfd: int, name: str, umask: int, done: Copied) -> None:
    """A container directory copied whole to a new host directory (made 0700 while the
    copy runs, its own mode at the end); what is not a file, directory or symlink is
    skipped and listed."""
    try:
        os.mkdir(name, 0o700, dir_fd=pfd)
    except FileExistsError:
        raise InvalidArgumentError(
            f"{one_line(done.target)} exists on the host: a directory is pulled into a new one",
            hint="remove it, or pull into another path (an existing directory: into it)",
        ) from None
    modes: list[tuple[str, int]] = []  # host paths under the new directory, made last
    seen = _Links(pfd, name)
    todo = [(top, "")]
    while todo:
        where, rel = todo.pop()
        info = rootfs.info(where, follow_final=False)
        if info is None or not info.is_dir:
            done.skipped.append(f"{where}: changed while it was copied")
            continue
        modes.append((rel, pushpull.host_mode(info.mode, umask)))
        done.dirs += 1
        with _host_dir(pfd, name, rel) as dfd:
            for entry in rootfs.listdir(where):
                sub = f"{rel}/{entry}" if rel else entry
                path = pushpull.into(where, entry)
                todo.extend(_pull_entry(rootfs, path, dfd, entry, sub, umask, done, seen))
    for rel, mode in reversed(modes):  # deepest first: a parent closed last
        with _host_dir(pfd, name, rel) as dfd:
            os.fchmod(dfd, mode)


def _pull_entry(
    rootfs: Rootfs,
    path: str,
    dfd: int,
    entry: str,
    rel: str,
    umask: int,
    done: Copied,
    seen: _Links,
) -> list[tuple[str, str]]:
    info = rootfs.info(path, follow_final=False)
    if info is None:
        return []
    if info.is_dir:
        # A proc or sysfs mounted there (a running container's /proc): skipped and listed
        # whole, its files are never read.
        if (fs := rootfs.kernel_fs(path)) is not None:
            done.skipped.append(f"{path}: on the kernel's {fs} filesystem")
            return []
        os.mkdir(entry, 0o700, dir_fd=dfd)
        return [(path, rel)]
    if info.is_symlink:
        target = rootfs.readlink(path)
        if target is not None:
            os.symlink(target, entry, dir_fd=dfd)
            done.links += 1
    elif info.is_file and seen.link(info, dfd, entry):
        done.files += 1
    elif info.is_file:
        try:
            done.bytes += _pull_file(rootfs, path, dfd, entry, umask)
            done.files += 1
            seen.first[(info.dev, info.ino)] = rel
        except LxcprovError as exc:  # swapped since it was listed: said, not followed
            done.skipped.append(f"{path}: {exc.message}")
    else:
        done.skipped.append(f"{path}: {_KINDS.get(stat.S_IFMT(info.mode), 'not a file')}")
    return []


@dataclass
class _Links:
    """The files a pull copied, by (dev, ino): one met again under another name (a hard
    link inside the tree) is linked to its first copy, as cp -a does, not copied again."""

    pfd: int  # the new host directory is name under pfd
    name: str
    first: dict[tuple[int, int], str] = field(default_factory=dict)  # -> host rel path

    def link(self, info: FileInfo, dfd: int, entry: str) -> bool:
        """entry in dfd made a link of info's first copy; False: it is the first."""
        first = self.first.get((info.dev, info.ino))
        if first is None:
            return False
        parent, _, last = first.rpartition("/")
        with _host_dir(self.pfd, self.name, parent) as sfd:  # our own tree, no symlink
            os.link(last, entry, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
        return True


@contextlib.contextmanager
def _host_dir(pfd: int, name: str, rel: str) -> Iterator[int]:
    """The host directory name/rel under pfd (name "": pfd itself), every step without
    following a symlink (a pull's names came from the container, into directories it made;
    a push's tree is walked as it was listed, never through a symlink swapped in since)."""
    fd = os.open(name or ".", _HOST_DIR, dir_fd=pfd)
    try:
        for part in [p for p in rel.split("/") if p]:
            nfd = os.open(part, _HOST_DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
        yield fd
    finally:
        os.close(fd)
