"""lxcprov's own state files: read strictly, written atomically and durably.

Every file lxcprov keeps (net.toml, address books, a container's lxcprov.toml, journals,
base metadata) goes through here. A write is a temporary file in the same directory,
fsync'ed, renamed over the old one, and the directory fsync'ed: a crash or a full disk
leaves the old file or the new one, never half of one. A read that does not parse stops
the command with one line naming the file, the key or line, and what to do; the file is
never overwritten by a command that could not read it (callers raise before writing).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from lxcprov.errors import DiskFullError, LxcprovError, StateFileError

# lxcprov's state files are small; anything larger is not one of ours.
MAX_STATE_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist; one-line errors otherwise."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateFileError(f"{path} is a directory, not a file", hint="remove it") from None
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_STATE_BYTES:
        raise StateFileError(f"{path} is larger than any file lxcprov writes", hint=_fix(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError(
            f"{path}: not UTF-8 text (byte {exc.start})", hint=_fix(path)
        ) from None


def _fix(path: Path) -> str:
    return f"fix or remove {path}; lxcprov does not overwrite a file it cannot read"


def read_toml(path: Path) -> dict[str, Any] | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StateFileError(f"{path}: {exc}", hint=_fix(path)) from None


def read_json(path: Path) -> object | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        data: object = json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"{path}: not valid JSON ({exc})", hint=_fix(path)) from None
    return data


def field(
    data: Mapping[str, object], key: str, kind: type[T], path: Path, where: str = ""
) -> T | None:
    """data[key] when it has type kind; None when absent; a one-line error otherwise."""
    if key not in data:
        return None
    value = data[key]
    if kind is not bool and isinstance(value, bool):
        value = object()  # TOML true is not a number or a string here
    if not isinstance(value, kind):
        name = {str: "a string", bool: "true or false", int: "an integer", dict: "a table",
                list: "a list"}.get(kind, kind.__name__)  # fmt: skip
        place = f"{where}.{key}" if where else key
        raise StateFileError(f"{path}: `{place}` must be {name}, not {value!r}", hint=_fix(path))
    return value


def check_keys(data: Mapping[str, object], known: set[str], path: Path, where: str = "") -> None:
    """Refuse keys lxcprov never writes (a typo would otherwise be silently ignored)."""
    unknown = sorted(set(data) - known)
    if unknown:
        place = f" in [{where}]" if where else ""
        raise StateFileError(
            f"{path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{place}",
            hint=f"known: {', '.join(sorted(known))}; " + _fix(path),
        )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace path with text atomically and durably (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fchmod(fh.fileno(), mode)  # not the umask's idea of it
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def create_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Make path, which must not exist yet, with text: written into an unnamed file
    (O_TMPFILE) that is given its name once whole, so a process killed at any instant
    leaves either nothing or the whole file, never a temp file of a name that then has
    no owner (a `new` killed in its first journal write left one: bench/chaos.py). Where
    the filesystem has no unnamed files, or path exists, write_text's way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            write_text(path, text, mode=mode)
            return
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fchmod(fh.fileno(), mode)  # not the umask's idea of it
            os.fsync(fh.fileno())
            # Named through /proc (linkat with AT_EMPTY_PATH wants CAP_DAC_READ_SEARCH);
            # a dir_fd makes Python call linkat with AT_SYMLINK_FOLLOW (plain link() would
            # link the /proc symlink itself: EXDEV).
            directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.link(f"/proc/self/fd/{fh.fileno()}", path.name, dst_dir_fd=directory,
                        follow_symlinks=True)  # fmt: skip
            finally:
                os.close(directory)
        _fsync_dir(path.parent)
    except FileExistsError:
        write_text(path, text, mode=mode)
    except OSError as exc:
        raise write_error(path, exc) from None


def write_error(path: Path, exc: OSError) -> LxcprovError:
    """A failed write of lxcprov's state as one line (a full disk says which one)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left to write {path}", hint=f"free space on the filesystem of {path.parent}"
        )
    return StateFileError(f"cannot write {path}: {exc.strerror}")


def remove(path: Path) -> None:
    """Remove a state file (absent is fine), durably."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)
