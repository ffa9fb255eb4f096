"""Jailed file access inside a container's rootfs.

A rootfs comes from a template or a user, and its root controls every byte of it, even
while lxcprov works: symlinks that point at host paths (``/etc/hostname -> /etc/shadow``)
or climb out (``../../..``), a FIFO or a device node where a config file should be, a
sparse file of many GiB, symlink chains made to be slow. So:

- The root is a directory descriptor opened once (a running container's: its init's root,
  pinned with a pidfd, see `Rootfs.of_process`). Every lookup starts from it, never from a
  path that could name something else later. Close it when done (a context manager).
- Every path is resolved *inside* the rootfs: an absolute symlink target is taken relative
  to the rootfs and ``..`` stops at its root, exactly as the container itself would see
  the file, with the kernel's limit of 40 symlinks per lookup. Lookups cost time linear in
  the path and the symlink targets met: openat2(RESOLVE_IN_ROOT) where the kernel has it,
  else a walk that keeps a descriptor of the directory it is in.
- A file is read only if it is a regular file, checked on an O_PATH descriptor before
  anything opens it for reading, and only up to a cap (MAX_READ): a larger one is an
  error, never a partial read.
- Writes walk the resolved components with ``O_NOFOLLOW|O_DIRECTORY`` descriptors from the
  root and act relative to the last one: a symlink that appears in between makes the walk
  fail, it never leads outside. They are atomic (temporary file in the same directory,
  then rename) and keep the owner and mode of the file they replace, less the bits that
  would hand lxcprov's content to someone else (see `write_bytes`).
- Owners given to a write are the container's ids, 0..65535, mapped to the host through
  its map; any other id is refused before a byte is written. A kept owner outside the map
  (no container made that file) becomes the container's root: whatever lxcprov writes is
  owned by an id of the container.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import select
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lxcprov.errors import RootfsError, RootfsEscapeError, one_line
from lxcprov.system import kernelfs, openat2

# Same limit as the kernel's: more symlinks than this in one lookup is a loop.
_MAX_SYMLINKS = 40
# The most lxcprov reads of one file. It only reads configuration (passwd, inittab, ...):
# anything bigger is not what lxcprov expects there, and reading it would only cost memory.
MAX_READ = 16 * 1024**2

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_CLOEXEC
# Non-blocking: a FIFO swapped in cannot hang us; no O_NOCTTY-less open of a tty either.
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_RESOLVE = openat2.RESOLVE_IN_ROOT | openat2.RESOLVE_NO_MAGICLINKS
# openat2 says EAGAIN when a rename or mount raced a `..`; a few tries, then give up.
_RACE_RETRIES = 16
# Mode bits a rewrite does not carry over from the file it replaces (see write_bytes).
_NOT_KEPT = stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH
# What marks lxcprov's temporary file beside the file it replaces: `.NAME` + this + 8 hex.
_TMP_MARK = ".lxcprov-"
# The ids a container has (0..65535 of its map; a privileged container's are host ids, held
# to the same range). Ids given to a write come from recipes, documents and the container's
# own /etc/passwd: one outside would land outside the map (a negative one on host root).
MAX_ID = 65535

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symlink",
}


@dataclass(frozen=True)
class FileInfo:
    """What lxcprov needs to know about an existing path (not following a final symlink)."""

    mode: int
    uid: int
    gid: int
    dev: int
    ino: int
    size: int = 0

    @classmethod
    def of(cls, st: os.stat_result) -> FileInfo:
        return cls(st.st_mode, st.st_uid, st.st_gid, st.st_dev, st.st_ino, st.st_size)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


def _chmod_fd(fd: int, mode: int) -> None:
    # Linux has no fchmod on an O_PATH descriptor, nor fchmodat(AT_SYMLINK_NOFOLLOW); the
    # descriptor pins the inode, and /proc/self/fd reaches exactly that inode.
    os.chmod(f"/proc/self/fd/{fd}", mode)


def _chmod_at(dfd: int, name: str, mode: int) -> None:
    """chmod name in dfd without following a symlink and without opening a device."""
    fd = os.open(name, _PATH_FLAGS | os.O_NOFOLLOW, dir_fd=dfd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise RootfsEscapeError(f"refusing to chmod through the symlink {name}")
        _chmod_fd(fd, mode)
    finally:
        os.close(fd)


def sweep_temporaries(dfd: int, name: str) -> None:
    """Remove the temporary files a killed write of name left in dfd (regular files
    named exactly as _replace names them; nothing else is touched)."""
    prefix = f".{name}{_TMP_MARK}"
    for entry in os.listdir(dfd):
        tail = entry[len(prefix) :]
        ours = len(tail) == 8 and all(c in "0123456789abcdef" for c in tail)
        if entry.startswith(prefix) and ours:
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.stat(entry, dir_fd=dfd, follow_symlinks=False).st_mode):
                    os.unlink(entry, dir_fd=dfd)


def _split(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RootfsError(f"rootfs paths are absolute inside the container, got {path!r}")
    return [part for part in path.split("/") if part not in ("", ".")]


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _exited(pidfd: int) -> bool:
    """True once the process behind pidfd has exited (a pidfd polls readable then)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _open_root(root: Path) -> int:
    try:
        # The root itself is given by lxcprov (it may be /proc/PID/root, a magic link), so
        # it is followed; only what is below it is resolved inside the jail.
        return os.open(root, _PATH_FLAGS | os.O_DIRECTORY)
    except FileNotFoundError:
        raise RootfsError(f"rootfs {root} does not exist") from None
    except NotADirectoryError:
        raise RootfsError(f"rootfs {root} is not a directory") from None


class Rootfs:
    """A container's root filesystem, seen from the host, that cannot be escaped."""

    def __init__(self, root: Path, *, owner: tuple[int, int] = (0, 0)) -> None:
        self._adopt(_open_root(root), str(root), None)
        self.owner = owner  # set after _adopt, which starts every root at (0, 0)

    @classmethod
    def of_process(cls, pid: int) -> Rootfs:
        """The root a running process sees, pinned: never another process's, even if pid
        is reused; every operation fails cleanly once the process has exited."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise RootfsError(f"process {pid} has exited: its root cannot be opened") from None
        try:
            fd = _open_root(Path(f"/proc/{pid}/root"))
        except BaseException:
            os.close(pidfd)
            raise
        rootfs = cls.__new__(cls)
        rootfs._adopt(fd, f"/proc/{pid}/root", pidfd)
        # /proc/PID/root was opened by number. The pidfd was taken before, so if its
        # process is still alive now, the number still named it when the root was opened.
        try:
            rootfs._root()
        except BaseException:
            rootfs.close()
            raise
        return rootfs

    def _adopt(self, fd: int, label: str, pidfd: int | None) -> None:
        self._fd = fd
        self._pidfd = pidfd
        self.label = label  # for messages only: never opened again
        # Where uid/gid 0 of the container are on the host (an unprivileged container's
        # map): new files are its root's, and given ids are the container's own.
        self.owner = (0, 0)
        # Writes into this root must be made from inside the user namespace of this
        # process (a running unprivileged clone: its overlay belongs to that namespace).
        self.userns_pid: int | None = None

    def _ids(self, uid: int, gid: int, path: str = "/") -> tuple[int, int]:
        """Container ids as this root's filesystem stores them; an id the container does
        not have is refused before anything is written (the last line of defence: callers
        check the ids they take from a container's files themselves)."""
        for what, value in (("uid", uid), ("gid", gid)):
            if not 0 <= value <= MAX_ID:
                raise RootfsEscapeError(
                    f"refusing to give {one_line(path)} in {self.label} to {what} {value}: "
                    f"a container's ids are 0..{MAX_ID}"
                )
        return uid + self.owner[0], gid + self.owner[1]

    def _in_map(self, stored: int, which: int) -> bool:
        """Whether an id as the filesystem stores it is one of the container's."""
        return 0 <= stored - self.owner[which] <= MAX_ID

    def __repr__(self) -> str:
        return f"Rootfs({self.label!r})"

    def __enter__(self) -> Rootfs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for fd in (self._fd, self._pidfd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self._fd, self._pidfd = -1, None

    def _root(self) -> int:
        """The root's descriptor, once it is known to still be the container's."""
        if self._fd < 0:
            raise RootfsError(f"{self.label} was already closed")
        if self._pidfd is not None and _exited(self._pidfd):
            raise RootfsError(
                f"the process whose root lxcprov had open ({self.label}) has exited",
                hint="the container stopped while lxcprov worked on it; run the command again",
            )
        return self._fd

    @property
    def fd(self) -> int:
        """The root's directory descriptor (O_PATH), valid until close()."""
        return self._root()

    # -- resolution -------------------------------------------------------------------

    def resolve(self, path: str, *, follow_final: bool = True) -> str:
        """The container-absolute path that ``path`` really names, symlinks followed inside."""
        parts, fd = self._walk(path, follow_final=follow_final)
        if fd is not None:
            os.close(fd)
        return "/" + "/".join(parts)

    def _walk(self, path: str, *, follow_final: bool) -> tuple[list[str], int | None]:
        """The components path names and an O_PATH descriptor of it (None: nothing there).

        One fstatat per component and one open per directory, from a descriptor of the
        directory reached so far: linear in the path and the symlink targets met, never a
        walk from the root per component. Past a missing component the rest is taken as
        written (`..` drops a component), so a file to create has a path too.
        """
        root = self._root()
        todo = _split(path)[::-1]  # a stack: the next component is last
        done: list[str] = []
        # (st_dev, st_ino) of the root and of each directory in done: what `..` must reach.
        trail = [_identity(os.fstat(root))]
        cur = os.dup(root)
        missing = False
        hops = 0
        try:
            while todo:
                part = todo.pop()
                if part == "..":
                    if done:
                        done.pop()
                        if not missing:
                            cur = self._up(cur, trail, path)
                    continue
                if missing:
                    done.append(part)
                    continue
                try:
                    st = os.stat(part, dir_fd=cur, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    missing = True
                    done.append(part)
                    continue
                except OSError as exc:  # a name too long for the kernel, ...
                    raise RootfsError(
                        f"cannot look up {one_line(path)} in {self.label}: {exc.strerror}"
                    ) from None
                if stat.S_ISLNK(st.st_mode) and (follow_final or todo):
                    hops += 1
                    if hops > _MAX_SYMLINKS:
                        raise RootfsError(
                            f"too many levels of symbolic links resolving {one_line(path)}"
                        )
                    try:
                        target = os.readlink(part, dir_fd=cur)
                    except OSError:  # no longer a symlink (swapped since the stat above)
                        raise RootfsError(
                            f"{one_line(path)} changed while lxcprov resolved it"
                        ) from None
                    if not target:  # an empty symlink names nothing, as for the kernel
                        missing = True
                        done.append(part)
                        continue
                    if target.startswith("/"):
                        done.clear()
                        del trail[1:]
                        os.close(cur)
                        cur = os.dup(root)
                    todo.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
                    continue
                done.append(part)
                if not todo:
                    return done, self._open_checked(cur, part, st, _PATH_FLAGS, path)
                if not stat.S_ISDIR(st.st_mode):
                    missing = True  # a file where a directory should be: nothing below it
                    continue
                nfd = self._open_checked(cur, part, st, _PATH_FLAGS | os.O_DIRECTORY, path)
                os.close(cur)
                cur = nfd
                trail.append(_identity(st))
            if missing:
                return done, None
            found, cur = cur, -1
            return done, found
        finally:
            if cur >= 0:
                os.close(cur)

    @staticmethod
    def _open_checked(dfd: int, name: str, st: os.stat_result, flags: int, path: str) -> int:
        """name in dfd, opened without following it, and the very inode just looked at."""
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW, dir_fd=dfd)
        except OSError:
            fd = -1
        if fd < 0 or _identity(os.fstat(fd)) != _identity(st):
            if fd >= 0:
                os.close(fd)
            raise RootfsError(f"{one_line(path)} changed while lxcprov resolved it")
        return fd

    @staticmethod
    def _up(cur: int, trail: list[tuple[int, int]], path: str) -> int:
        """The parent of cur, which must be the directory the walk came down from."""
        parent = os.open("..", _PATH_FLAGS | os.O_DIRECTORY, dir_fd=cur)
        if _identity(os.fstat(parent)) != trail[-2]:
            os.close(parent)
            raise RootfsError(f"{one_line(path)}: a directory moved while lxcprov resolved it")
        trail.pop()
        os.close(cur)
        return parent

    def _lookup(self, path: str, *, follow_final: bool) -> int | None:
        """An O_PATH descriptor of what path names (None: nothing there). Opening with
        O_PATH never opens the file itself: no FIFO blocks, no device driver runs."""
        if not openat2.available():
            return self._walk(path, follow_final=follow_final)[1]
        flags = _PATH_FLAGS | (0 if follow_final else os.O_NOFOLLOW)
        clean = "/" + "/".join(_split(path))
        for _ in range(_RACE_RETRIES):
            try:
                return openat2.openat2(self._root(), clean, flags, _RESOLVE)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    continue
                if exc.errno == errno.ELOOP:
                    raise RootfsError(
                        f"too many levels of symbolic links (or a /proc magic link) "
                        f"resolving {one_line(path)}"
                    ) from None
                raise RootfsError(
                    f"cannot look up {one_line(path)} in {self.label}: {exc.strerror}"
                ) from None
        raise RootfsError(
            f"{one_line(path)} in {self.label} kept changing while lxcprov looked it up"
        )

    @contextlib.contextmanager
    def _open_dir(self, parts: list[str], *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory at parts (already resolved), never via a symlink."""
        fd = os.open(".", _DIR_FLAGS, dir_fd=self._root())
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                        os.chown(part, *self._ids(0, 0), dir_fd=fd, follow_symlinks=False)
                    except FileExistsError:
                        pass
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise RootfsEscapeError(
                            f"refusing to walk through a symlink at /{'/'.join(parts)}"
                        ) from None
                    raise
                os.close(fd)
                fd = nfd
            yield fd
        finally:
            os.close(fd)

    def _parent_and_name(self, path: str) -> tuple[list[str], str]:
        real = _split(self.resolve(path))
        if not real:
            raise RootfsError("cannot write the rootfs root itself")
        return real[:-1], real[-1]

    # -- reading ----------------------------------------------------------------------

    def info(self, path: str, *, follow_final: bool = True) -> FileInfo | None:
        fd = self._lookup(path, follow_final=follow_final)
        if fd is None:
            return None
        try:
            return FileInfo.of(os.fstat(fd))
        finally:
            os.close(fd)

    def kernel_fs(self, path: str) -> str | None:
        """The kernel filesystem (proc, sysfs, fuse, ...: lxcprov.system.kernelfs) what
        path names is on, None for any other or for nothing there; checked on the opened
        descriptor (fstatfs), so no symlink leads around it."""
        fd = self._lookup(path, follow_final=True)
        if fd is None:
            return None
        try:
            return kernelfs.kind(fd)
        finally:
            os.close(fd)

    def exists(self, path: str) -> bool:
        return self.info(path) is not None

    def read_bytes(self, path: str, *, limit: int = MAX_READ) -> bytes | None:
        """The content of the regular file at path, or None when nothing is there.

        Anything else there (a FIFO, a device, a directory) and a file of more than limit
        bytes are errors, found before a byte is read.
        """
        found = self.open_file(path, limit=limit)
        if found is None:
            return None
        rfd, _ = found
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := os.read(rfd, min(1 << 20, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:  # it grew since fstat
                    raise self._too_big(path, limit)
        finally:
            os.close(rfd)
        return b"".join(chunks)

    def open_file(self, path: str, *, limit: int | None = None) -> tuple[int, FileInfo] | None:
        """A read descriptor of the regular file at path and what it is (None: nothing
        there); the caller closes it. Anything but a regular file, and one of more than
        limit bytes (None: no limit, the caller streams it), is an error before it opens."""
        fd = self._lookup(path, follow_final=True)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a file")
                raise RootfsError(f"{one_line(path)} in {self.label} is {kind}, not a regular file")
            if limit is not None and st.st_size > limit:
                raise self._too_big(path, limit)
            # A running container's /proc and /sys show host root what its own root may not
            # see (kernel addresses): lxcprov reads as host root, so it reads none of them.
            if (fs := kernelfs.kind(fd)) is not None:
                raise RootfsError(
                    f"{one_line(path)} in {self.label} is on the kernel's {fs} filesystem: "
                    "lxcprov does not read it as host root",
                    hint="read it from inside: lxcprov exec NAME -- cat PATH",
                )
            # Opened through the O_PATH descriptor just checked: the same inode, so nothing
            # swapped in since (a FIFO, a device) is ever opened for reading.
            return os.open(f"/proc/self/fd/{fd}", _READ_FLAGS), FileInfo.of(st)
        finally:
            os.close(fd)

    def _too_big(self, path: str, limit: int) -> RootfsError:
        size = f"{limit // 1024**2} MiB" if limit % 1024**2 == 0 else f"{limit} bytes"
        return RootfsError(
            f"{one_line(path)} in {self.label} is larger than {size}, "
            "more than lxcprov reads of a configuration file",
            hint="inspect the container's rootfs: a template or a user left an odd file there",
        )

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="surrogateescape")

    def readlink(self, path: str) -> str | None:
        """The target of the symlink at path (its final component), or None."""
        fd = self._lookup(path, follow_final=False)
        if fd is None:
            return None
        try:
            if not stat.S_ISLNK(os.fstat(fd).st_mode):
                return None
            return os.readlink("", dir_fd=fd)  # readlinkat on the O_PATH link itself
        finally:
            os.close(fd)

    def listdir(self, path: str) -> list[str]:
        fd = self._lookup(path, follow_final=True)
        if fd is None:
            return []
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                return []
            dfd = os.open(".", _DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            return sorted(os.listdir(dfd))
        finally:
            os.close(dfd)

    # -- writing ----------------------------------------------------------------------

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        make_parents: bool = False,
    ) -> None:
        """Atomically replace the file at path; owner kept and mode kept (less setuid,
        setgid and o+w) unless given."""

        def fill(fd: int) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

        self._replace(path, fill, mode=mode, uid=uid, gid=gid, make_parents=make_parents)

    def write_from(
        self, path: str, fill: Callable[[int], object], *, mode: int, uid: int, gid: int
    ) -> None:
        """Atomically replace the file at path with what fill(fd) writes to a new file,
        owned by the container's uid and gid with mode. What a killed write left beside
        that file (its temporary files, which no one else writes while the container's
        lock is held) is removed first."""
        self._replace(path, fill, mode=mode, uid=uid, gid=gid, sweep=True)

    def _replace(
        self,
        path: str,
        fill: Callable[[int], object],
        *,
        mode: int | None,
        uid: int | None,
        gid: int | None,
        make_parents: bool = False,
        sweep: bool = False,
    ) -> None:
        # Given ids are the container's own; a new file is its root's. Checked first.
        new_uid, new_gid = self._ids(uid or 0, gid or 0, path)
        parent, name = self._parent_and_name(path)
        with contextlib.ExitStack() as stack:
            try:
                dfd = stack.enter_context(self._open_dir(parent, create=make_parents))
            except (FileNotFoundError, NotADirectoryError):
                raise self._missing_parent(path) from None
            try:
                old: os.stat_result | None = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if old is not None and not stat.S_ISREG(old.st_mode):
                raise RootfsEscapeError(
                    f"refusing to replace {one_line(path)} in {self.label}: "
                    "it is not a regular file"
                )
            if mode is not None:
                new_mode = mode
            elif old is not None:
                # The distro's mode, except what would hand lxcprov's content to someone
                # else: o+w lets any user in the container rewrite a getty line or a hosts
                # entry lxcprov wrote, and setuid/setgid would give our text its owner's
                # rights if it were ever run. A template or the container's root set them;
                # lxcprov does not carry them onto what it writes.
                new_mode = stat.S_IMODE(old.st_mode) & ~_NOT_KEPT
            else:
                new_mode = 0o644
            # The replaced file's owner is kept when it is one of the container's ids;
            # one outside its map (no container made it) is not handed our content.
            if old is not None and uid is None and self._in_map(old.st_uid, 0):
                new_uid = old.st_uid
            if old is not None and gid is None and self._in_map(old.st_gid, 1):
                new_gid = old.st_gid
            if sweep:
                sweep_temporaries(dfd, name)
            tmp = f".{name}{_TMP_MARK}{secrets.token_hex(4)}"
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dfd,
            )
            try:
                try:
                    fill(fd)
                    os.fchown(fd, new_uid, new_gid)
                    os.fchmod(fd, new_mode)  # after the chown, which clears setuid bits
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dfd)
                raise

    def _missing_parent(self, path: str) -> RootfsError:
        """Why path cannot be written: a symlink to nowhere, or no such directory."""
        found = self.info(path, follow_final=False)
        if found is not None and found.is_symlink:
            return RootfsError(
                f"cannot write {one_line(path)} in {self.label}: it is a dangling symlink "
                f"(to {one_line(self.readlink(path) or '')})",
                hint="remove the symlink, or make what it points to first",
            )
        parent = "/" + "/".join(_split(path)[:-1])
        return RootfsError(
            f"cannot write {one_line(path)} in {self.label}: no such directory {one_line(parent)}",
            hint="make it first (lxcprov exec NAME -- mkdir -p DIR)",
        )

    def make_dir(self, path: str, *, mode: int, uid: int, gid: int) -> bool:
        """Make the directory at path (its parent must exist), owned by the container's uid
        and gid with mode; an existing directory is left as it is. True: it was made."""
        ids = self._ids(uid, gid, path)
        parent, name = self._parent_and_name(path)
        try:
            with self._open_dir(parent) as dfd:
                try:
                    os.mkdir(name, 0o700, dir_fd=dfd)
                except FileExistsError:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    if not stat.S_ISDIR(st.st_mode):
                        raise RootfsEscapeError(
                            f"refusing to replace {one_line(path)} in {self.label} "
                            "with a directory: "
                            f"it is {_KINDS.get(stat.S_IFMT(st.st_mode), 'a file')}"
                        ) from None
                    return False
                fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
                try:
                    os.fchown(fd, *ids)
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)
                return True
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing_parent(path) from None

    def write_text(
        self, path: str, text: str, *, mode: int | None = None, make_parents: bool = False
    ) -> None:
        data = text.encode("utf-8", errors="surrogateescape")
        self.write_bytes(path, data, mode=mode, make_parents=make_parents)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """Make the directory at path and its missing parents (inside the rootfs)."""
        parts = _split(self.resolve(path))
        with self._open_dir(parts, create=True) as dfd:
            if mode != 0o755:
                os.fchmod(dfd, mode)

    def symlink(self, path: str, target: str) -> None:
        """Make path a symlink to target, atomically replacing a symlink already there."""
        parts = _split(self.resolve(path, follow_final=False))
        parent, name = parts[:-1], parts[-1]
        with self._open_dir(parent, create=True) as dfd:
            try:
                old = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if old is not None and not stat.S_ISLNK(old.st_mode):
                raise RootfsEscapeError(
                    f"refusing to replace {one_line(path)} in {self.label} with a symlink: "
                    "something else is there"
                )
            tmp = f".{name}.lxcprov-{secrets.token_hex(4)}"
            os.symlink(target, tmp, dir_fd=dfd)
            os.chown(tmp, *self._ids(0, 0), dir_fd=dfd, follow_symlinks=False)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)

    def mknod_char(self, path: str, major: int, minor: int, mode: int = 0o620) -> None:
        """Make a character device node at path (replacing nothing that exists)."""
        parent, name = self._parent_and_name(path)
        with self._open_dir(parent, create=True) as dfd:
            os.mknod(name, stat.S_IFCHR | mode, os.makedev(major, minor), dir_fd=dfd)
            os.chown(name, *self._ids(0, 0), dir_fd=dfd, follow_symlinks=False)
            _chmod_at(dfd, name, mode)  # mknod honoured the umask

    def remove(self, path: str) -> None:
        """Remove the file or symlink at path, never what a symlink points to; absent is fine."""
        parts = _split(self.resolve(path, follow_final=False))
        if not parts:
            raise RootfsError("cannot remove the rootfs root")
        try:
            with self._open_dir(parts[:-1]) as dfd:
                os.unlink(parts[-1], dir_fd=dfd)
        except (FileNotFoundError, NotADirectoryError):
            pass

    def chmod(self, path: str, mode: int) -> None:
        parent, name = self._parent_and_name(path)
        with self._open_dir(parent) as dfd:
            _chmod_at(dfd, name, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Give path to the container's uid and gid (mapped to the host's as stored)."""
        ids = self._ids(uid, gid, path)
        parent, name = self._parent_and_name(path)
        with self._open_dir(parent) as dfd:
            os.chown(name, *ids, dir_fd=dfd, follow_symlinks=False)
