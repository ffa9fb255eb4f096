"""Jailed file access inside a container's rootfs.

A rootfs comes from a template or a user: it may hold symlinks that point at host paths
(``/etc/hostname -> /etc/shadow``) or climb out (``../../..``). Every path given here is
resolved *inside* the rootfs: an absolute symlink target is taken relative to the rootfs
and ``..`` stops at its root, exactly as the container itself would see the file.

Resolution alone is not enough (a path could change between the check and the write),
so every operation then walks the resolved components with ``O_NOFOLLOW|O_DIRECTORY``
directory descriptors from the rootfs root and acts relative to the last one. A symlink
that appears in between makes the walk fail; it never leads outside.

Writes are atomic (temporary file in the same directory, then rename) and keep the mode
and owner of the file they replace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import RootfsError, RootfsEscapeError

# Same limit as the kernel's: more symlinks than this in one lookup is a loop.
_MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class FileInfo:
    """What lxcprov needs to know about an existing path (not following a final symlink)."""

    mode: int
    uid: int
    gid: int
    rdev: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_chardev(self) -> bool:
        return stat.S_ISCHR(self.mode)


def _chmod_at(dfd: int, name: str, mode: int) -> None:
    """chmod name in dfd without following a symlink and without opening a device."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise RootfsEscapeError(f"refusing to chmod through the symlink {name}")
        # Linux has no fchmodat(AT_SYMLINK_NOFOLLOW); the O_PATH descriptor pins the inode.
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def _split(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RootfsError(f"rootfs paths are absolute inside the container, got {path!r}")
    return [part for part in path.split("/") if part not in ("", ".")]


class Rootfs:
    """A container's root filesystem, seen from the host, that cannot be escaped."""

    def __init__(self, root: Path) -> None:
        try:
            # The root itself is given by lxcprov (it may be /proc/PID/root, a magic
            # link): only what is below it is walked without following symlinks.
            info = os.stat(root)
        except FileNotFoundError:
            raise RootfsError(f"rootfs {root} does not exist") from None
        if not stat.S_ISDIR(info.st_mode):
            raise RootfsError(f"rootfs {root} is not a directory")
        self.root = root

    def __repr__(self) -> str:
        return f"Rootfs({str(self.root)!r})"

    # -- resolution -------------------------------------------------------------------

    def resolve(self, path: str, *, follow_final: bool = True) -> str:
        """The container-absolute path that ``path`` really names, symlinks followed inside."""
        done: list[str] = []
        todo = _split(path)
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = [*done, part]
            if not todo and not follow_final:
                done = candidate
                break
            target = self._readlink_parts(candidate)
            if target is None:
                done = candidate
                continue
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise RootfsError(f"too many levels of symbolic links resolving {path}")
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
        return "/" + "/".join(done)

    def _readlink_parts(self, parts: list[str]) -> str | None:
        """The symlink target at parts (already resolved parents), or None if not a link."""
        try:
            with self._open_dir(parts[:-1]) as dfd:
                info = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
                if not stat.S_ISLNK(info.st_mode):
                    return None
                return os.readlink(parts[-1], dir_fd=dfd)
        except (FileNotFoundError, NotADirectoryError):
            return None

    @contextlib.contextmanager
    def _open_dir(self, parts: list[str], *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory at parts (already resolved), never via a symlink."""
        fd = os.open(self.root, _DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            for part in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
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
        parts = _split(self.resolve(path, follow_final=follow_final))
        if not parts:
            st = os.stat(self.root)
            return FileInfo(st.st_mode, st.st_uid, st.st_gid, st.st_rdev)
        try:
            with self._open_dir(parts[:-1]) as dfd:
                st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return FileInfo(st.st_mode, st.st_uid, st.st_gid, st.st_rdev)

    def exists(self, path: str) -> bool:
        return self.info(path) is not None

    def read_bytes(self, path: str) -> bytes | None:
        """The file's content, or None when it does not exist."""
        parent, name = self._parent_and_name(path)
        try:
            with self._open_dir(parent) as dfd:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise RootfsError(f"{path} in {self.root} is not a regular file")
            return fh.read()

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="surrogateescape")

    def readlink(self, path: str) -> str | None:
        """The target of the symlink at path (its final component), or None."""
        parts = _split(self.resolve(path, follow_final=False))
        return self._readlink_parts(parts) if parts else None

    def listdir(self, path: str) -> list[str]:
        parts = _split(self.resolve(path))
        try:
            with self._open_dir(parts) as dfd:
                return sorted(os.listdir(dfd))
        except (FileNotFoundError, NotADirectoryError):
            return []

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
        """Atomically replace the file at path; mode and owner kept unless given."""
        parent, name = self._parent_and_name(path)
        with contextlib.ExitStack() as stack:
            try:
                dfd = stack.enter_context(self._open_dir(parent, create=make_parents))
            except (FileNotFoundError, NotADirectoryError):
                raise RootfsError(
                    f"cannot write {path} in {self.root}: its directory is missing"
                ) from None
            try:
                old: os.stat_result | None = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if old is not None and not stat.S_ISREG(old.st_mode):
                raise RootfsEscapeError(
                    f"refusing to replace {path} in {self.root}: it is not a regular file"
                )
            new_mode = mode if mode is not None else (stat.S_IMODE(old.st_mode) if old else 0o644)
            new_uid = uid if uid is not None else (old.st_uid if old else 0)
            new_gid = gid if gid is not None else (old.st_gid if old else 0)
            tmp = f".{name}.lxcprov-{secrets.token_hex(4)}"
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd
            )
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fchown(fh.fileno(), new_uid, new_gid)
                    os.fchmod(fh.fileno(), new_mode)
                    os.fsync(fh.fileno())
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dfd)
                raise

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
                    f"refusing to replace {path} in {self.root} with a symlink: "
                    "something else is there"
                )
            tmp = f".{name}.lxcprov-{secrets.token_hex(4)}"
            os.symlink(target, tmp, dir_fd=dfd)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)

    def mknod_char(self, path: str, major: int, minor: int, mode: int = 0o620) -> None:
        """Make a character device node at path (replacing nothing that exists)."""
        parent, name = self._parent_and_name(path)
        with self._open_dir(parent, create=True) as dfd:
            os.mknod(name, stat.S_IFCHR | mode, os.makedev(major, minor), dir_fd=dfd)
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
        parent, name = self._parent_and_name(path)
        with self._open_dir(parent) as dfd:
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
