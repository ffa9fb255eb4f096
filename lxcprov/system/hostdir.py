"""A host directory opened once, one component at a time, following no symlink; and where
it really is.

What lxcprov shares with a container is what it opened and judged: a descriptor (O_PATH)
reached from `/` by openat of each component with O_NOFOLLOW, so a symlink anywhere on
the way is refused (a host user who owns a directory on the way cannot point the path
elsewhere by swapping a component for a symlink), and the stat of every component is
that of the directory actually walked through. The mount is then made from that
descriptor (lxcprov.system.livemount), never from the path again.

`place` says where the opened directory is by what it is rather than by the path it was
reached by: its filesystem (the mount's device) and its path inside that filesystem (the
mount's root in /proc/self/mountinfo, then the rest of the path). A bind mount of a
directory elsewhere has another path and the same place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import InvalidArgumentError

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Walked:
    """The directory at `path`: fd (O_PATH, the caller closes it) and the stat of every
    directory on the way, from `/` to itself, as (its path, its stat)."""

    path: str
    fd: int
    steps: list[tuple[str, os.stat_result]]


def walk(path: str) -> Walked:
    """Open the directory at path (absolute, normalised) through no symlink; one line
    (InvalidArgumentError) when a component is missing, a symlink or not a directory."""
    fd = os.open("/", _DIR)
    steps = [("/", os.fstat(fd))]
    current = "/"
    try:
        for part in [p for p in path.split("/") if p]:
            current = posixpath.join(current, part)
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidArgumentError(
                    f"{current} does not exist", hint="give an existing host directory"
                ) from None
            except OSError as exc:
                raise InvalidArgumentError(f"{current} cannot be read: {exc.strerror}") from None
            if stat.S_ISLNK(st.st_mode):
                target = ""
                with contextlib.suppress(OSError):
                    target = os.readlink(part, dir_fd=fd)
                raise InvalidArgumentError(
                    f"{current} is a symlink (to {target}): lxcprov shares a directory only "
                    "by a path without symlinks, which no one can point elsewhere",
                    hint=f"give the real path: realpath {path}",
                )
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidArgumentError(
                    f"{current} is not a directory", hint="give an existing host directory"
                )
            try:
                child = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    raise InvalidArgumentError(
                        f"{current} changed while lxcprov opened it", hint="run it again"
                    ) from None
                raise InvalidArgumentError(f"{current} cannot be opened: {exc.strerror}") from None
            os.close(fd)
            fd = child
            # The stat of what was opened (what the check above saw may have been swapped).
            steps.append((current, os.fstat(fd)))
        return Walked(current, fd, steps)
    except BaseException:
        os.close(fd)
        raise


def _unescape(field: str) -> str:
    # mountinfo writes a space, tab, newline and backslash in a path as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _mount_id(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as fh:
        for line in fh:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    raise OSError(errno.ENOSYS, "this kernel does not say which mount a descriptor is on")


def place(fd: int) -> tuple[str, str]:
    """Where the directory fd names is: (its filesystem's device "major:minor", its path
    inside that filesystem); OSError when it cannot be told (e.g. deleted)."""
    path = os.readlink(f"/proc/self/fd/{fd}")
    if not path.startswith("/"):
        raise OSError(errno.ENOENT, f"{path}: not reachable from this process's root")
    wanted = _mount_id(fd)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) < 5 or int(fields[0]) != wanted:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if point == "/":
            rest = path.lstrip("/")
        elif path == point or path.startswith(point + "/"):
            rest = path[len(point) :].lstrip("/")
        else:
            break
        return fields[2], posixpath.normpath(posixpath.join(root, rest)) if rest else root
    raise OSError(errno.ENOENT, f"{path}: its mount is not in this process's mount table")


def place_of(path: str) -> tuple[str, str] | None:
    """The place of path (symlinks followed: for the directories lxcprov itself names),
    None when it does not exist or cannot be told."""
    try:
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return place(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
