"""A file another program reads at any moment (node_exporter's textfile collector reads
every `*.prom` of its directory at each scrape), replaced so it never sees half of one.

The text goes into a temporary file in the same directory, named `.NAME.XXXXXXXX.tmp`
(it never ends in `.prom`, so the collector never reads it), fsync'ed, made 0644 (the
collector runs as its own user), then renamed over NAME and the directory fsync'ed. A
reader sees the old file or the new one; a kill or a crash before the rename leaves the
old one (or none) and a temporary file, which the next write removes.

Writers of one directory take turns: each holds an exclusive flock on the directory
itself (no lock file to leave behind) from its sweep to its rename. So a temporary file
of NAME's pattern found under the lock is no running writer's: it is a killed one's, and
is removed. Only that pattern: the other files of the directory are other programs'.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from lxcprov.errors import DiskFullError, StateFileError
from lxcprov.system import faults

# The point a crash test stops a write at: the temporary file written, not yet renamed.
FAULT_POINT = "metrics-temp-written"
MODE = 0o644


def temp_pattern(name: str) -> re.Pattern[str]:
    """The names of NAME's temporary files (and nothing else's)."""
    return re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{8}}\.tmp")


@contextlib.contextmanager
def _directory(directory: Path) -> Iterator[int]:
    """The directory opened and flocked exclusively (the writers' turn), released on exit."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise StateFileError(
            f"no directory {directory}",
            hint="create it, or check the path (node_exporter's textfile collector reads "
            "/var/lib/prometheus/node-exporter on Debian)",
        ) from None
    except NotADirectoryError:
        raise StateFileError(f"{directory} is not a directory") from None
    except OSError as exc:
        raise _error(directory, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # the lock goes with the descriptor


def sweep(dir_fd: int, name: str) -> list[str]:
    """Remove the temporary files of NAME a killed writer left (call it under the lock);
    the names removed. A symlink or a directory of that name is not ours: left alone."""
    pattern = temp_pattern(name)
    removed: list[str] = []
    for entry in os.listdir(dir_fd):
        if not pattern.fullmatch(entry):
            continue
        try:
            if not stat.S_ISREG(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                continue
            os.unlink(entry, dir_fd=dir_fd)
        except FileNotFoundError:
            continue
        removed.append(entry)
    return removed


def replace(path: Path, text: str) -> None:
    """Replace path with text, atomically and durably (see the module docstring). Its
    directory must exist: a mistyped path creates nothing nobody reads."""
    name = path.name
    if not name or name in (".", ".."):
        raise StateFileError(f"{path}: not a file name")
    with _directory(path.parent) as dir_fd:
        sweep(dir_fd, name)
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, MODE, dir_fd=dir_fd)  # fmt: skip
            try:
                data = text.encode("utf-8")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, MODE)  # not the umask's idea of it
                os.fsync(fd)
            finally:
                os.close(fd)
            faults.stop_if(FAULT_POINT)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise _error(path, exc) from None


def _error(path: Path, exc: OSError) -> StateFileError | DiskFullError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left to write {path}", hint=f"free space on the filesystem of {path.parent}"
        )
    if exc.errno == errno.EISDIR:
        return StateFileError(f"{path} is a directory", hint="give the path of a file in it")
    return StateFileError(f"cannot write {path}: {exc.strerror}")
