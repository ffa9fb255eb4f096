"""Writing an archive's members into a directory, exactly as Python's tarfile read them.

The writer of `import` (lxcprov.system.tarball reads, lxcprov.engine.archive judges, this
writes): each member is written from the very Member the checks passed, so the tree on
disk is the tree that was checked. GNU tar is never given an archive to extract: it reads
some headers differently from tarfile (a GNU long name followed by a PAX `path`), and an
archive made one tree for the checks and another for GNU tar.

Nothing is followed: a member's directory is reached from the destination's descriptor
one component at a time with O_DIRECTORY|O_NOFOLLOW (a symlink or a non-directory on the
way is an error, not a detour), and each entry is made in that directory by a call that
never follows a final symlink (O_CREAT|O_EXCL, mkdirat, mknodat, symlinkat, linkat
without AT_SYMLINK_FOLLOW). Owners, modes, xattrs and times are set on the entry itself:
its own descriptor, an O_PATH descriptor of it, or *at calls with AT_SYMLINK_NOFOLLOW.
Owner first, then mode (a chown clears setuid bits), then xattrs (a chown clears a file
capability), then times; a directory's times last of all (its entries change them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections import OrderedDict

from lxcprov.errors import ArchiveError
from lxcprov.system.tarball import Entry, Member

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIRS = 64  # descriptors of recent directories kept (a tar stream is depth-first)


def open_dir(dir_fd: int, path: str) -> int:
    """A new descriptor of the directory path under dir_fd, reached one component at a
    time with no symlink followed (OSError otherwise: ELOOP, ENOTDIR)."""
    fd = os.dup(dir_fd)
    try:
        for part in path.split("/"):
            fd, old = os.open(part, _DIR, dir_fd=fd), fd
            os.close(old)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Unpacker:
    """Writes members under the directory dest_fd (a descriptor the caller keeps)."""

    def __init__(self, dest_fd: int) -> None:
        self.dest = dest_fd
        self._dirs: OrderedDict[str, int] = OrderedDict()
        self._times: list[tuple[str, int]] = []  # directories, in the order made

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def __enter__(self) -> Unpacker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- reaching a directory ----------------------------------------------------------

    def _dir(self, path: str) -> int:
        """A descriptor of the directory path (relative to dest), no symlink followed."""
        if not path:
            return self.dest
        fd = self._dirs.get(path)
        if fd is not None:
            self._dirs.move_to_end(path)
            return fd
        parent, _, name = path.rpartition("/")
        fd = os.open(name, _DIR, dir_fd=self._dir(parent))
        self._dirs[path] = fd
        while len(self._dirs) > _OPEN_DIRS:
            os.close(self._dirs.popitem(last=False)[1])
        return fd

    def make_dirs(self, path: str, mode: int = 0o700) -> None:
        """Directories that hold a tree but are no member of it (snapshots/NAME), root's."""
        done = ""
        for part in path.split("/"):
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, mode, dir_fd=self._dir(done))
            done = f"{done}/{part}" if done else part
        self._dir(done)  # a directory, reached without a symlink, or an error

    # -- writing one member ------------------------------------------------------------

    def write(self, entry: Entry, member: Member | None = None) -> None:
        """Write entry's member (or member: the same entry judged into another name,
        owners or xattrs; its content is entry's)."""
        m = member or entry.member
        parent, _, name = m.name.rpartition("/")
        try:
            pfd = self._dir(parent)
            if m.kind == "file":
                self._file(pfd, name, entry, m)
            elif m.kind == "dir":
                self._mkdir(pfd, name, m)
            elif m.kind == "symlink":
                os.symlink(m.linkname, name, dir_fd=pfd)
                os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
                for key, value in m.xattrs:
                    os.setxattr(f"/proc/self/fd/{pfd}/{name}", key, value, follow_symlinks=False)
                os.utime(name, ns=(m.mtime_ns,) * 2, dir_fd=pfd, follow_symlinks=False)
            elif m.kind == "hardlink":
                tparent, _, tname = m.linkname.rpartition("/")
                os.link(tname, name, src_dir_fd=self._dir(tparent), dst_dir_fd=pfd,
                        follow_symlinks=False)  # fmt: skip
            elif m.kind in ("fifo", "chardev", "blockdev"):
                self._node(pfd, name, m)
            else:
                raise ArchiveError(f"{m.name!r}: no member of this type is written ({m.kind})")
        except (OSError, ValueError, OverflowError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ArchiveError(f"cannot write {m.name!r}: {why}") from None

    def _file(self, pfd: int, name: str, entry: Entry, m: Member) -> None:
        fd = os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)
        try:
            for offset, chunk in entry.content():
                view, at = memoryview(chunk), offset
                while view:
                    n = os.pwrite(fd, view, at)
                    view, at = view[n:], at + n
            if m.sparse is not None:
                os.ftruncate(fd, m.size)  # the holes, the last one included
            _attributes(fd, m)
            os.utime(fd, ns=(m.mtime_ns,) * 2)
        finally:
            os.close(fd)

    def _mkdir(self, pfd: int, name: str, m: Member) -> None:
        os.mkdir(name, 0o700, dir_fd=pfd)
        fd = os.open(name, _DIR, dir_fd=pfd)
        try:
            _attributes(fd, m)
        finally:
            os.close(fd)
        self._times.append((m.name, m.mtime_ns))

    def _node(self, pfd: int, name: str, m: Member) -> None:
        if m.kind == "fifo":
            os.mkfifo(name, 0o600, dir_fd=pfd)
        else:
            kind = stat.S_IFCHR if m.kind == "chardev" else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        # An O_PATH descriptor of the node itself: never opens a device or a FIFO, and
        # /proc/self/fd/N reaches that inode whatever is done to the name meanwhile.
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            path = f"/proc/self/fd/{fd}"
            os.chown(path, m.uid, m.gid)
            os.chmod(path, m.mode)
            for key, value in m.xattrs:
                os.setxattr(path, key, value)
            os.utime(path, ns=(m.mtime_ns,) * 2)
        finally:
            os.close(fd)

    # -- an image's layers: what a later layer replaces or removes ----------------------

    def remove(self, path: str) -> None:
        """Remove path (a directory with all it holds), reached and removed without a
        symlink followed (shutil.rmtree with dir_fd walks descriptors); gone already: fine."""
        parent, _, name = path.rpartition("/")
        try:
            pfd = self._dir(parent)
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self._drop_below(path)
                shutil.rmtree(name, dir_fd=pfd)
            else:
                os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ArchiveError(f"cannot remove {path!r}: {exc.strerror}") from None

    def _drop_below(self, path: str) -> None:
        """Forget the descriptors and pending times of path and what is under it."""
        below = path + "/"
        for p in [p for p in self._dirs if p == path or p.startswith(below)]:
            os.close(self._dirs.pop(p))
        self._times = [(p, t) for p, t in self._times if p != path and not p.startswith(below)]

    def update_dir(self, m: Member) -> None:
        """A directory a layer below made, given this member's owner, mode and xattrs."""
        try:
            _attributes(self._dir(m.name), m)
        except OSError as exc:
            raise ArchiveError(f"cannot write {m.name!r}: {exc.strerror}") from None
        self._times.append((m.name, m.mtime_ns))

    def finish(self) -> None:
        """The directories' times, deepest first (writing their entries changed them)."""
        try:
            for path, mtime in reversed(self._times):
                os.utime(self._dir(path), ns=(mtime,) * 2)
        except OSError as exc:
            raise ArchiveError(f"cannot set the times of {path!r}: {exc.strerror}") from None


def _attributes(fd: int, m: Member) -> None:
    os.fchown(fd, m.uid, m.gid)
    os.fchmod(fd, m.mode)
    for key, value in m.xattrs:
        os.setxattr(fd, key, value)
