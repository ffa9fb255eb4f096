"""One lock per container: every command that changes a container (or opens its files)
holds it, taken before it looks at the state it will change.

The lock is an flock on `<lxcpath>/.lxcprov/locks/<name>.lock`, so it dies with the
process that holds it: a command killed with SIGKILL never leaves a container locked.
The file holds who has it (pid and command), for the message of a command that waits.
Within one process the lock is re-entrant (new opens the container's files while it
holds its lock): flock locks belong to an open file, and a second open would wait for
itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lxcprov.errors import ContainerBusyError, StateFileError

STATE_DIR = ".lxcprov"  # lxcprov's own files inside an lxcpath (LXC ignores dot dirs)
# How long a command waits for another one on the same container before it gives up:
# long enough for a template run (`new` of a first Debian takes about a minute).
WAIT_SECONDS = 900.0

_held: dict[Path, int] = {}  # lock file -> nesting depth, in this process


def _silent(_msg: str) -> None:
    pass


# What a wait is told to when the caller names nobody: the CLI sets it once, so that every
# command that waits for another says so and for whom (a silent wait looks like a hang).
_told_of_waits: list[Callable[[str], None]] = [_silent]


def tell_waits(on_wait: Callable[[str], None]) -> None:
    """Where a wait for another command's lock is said when the caller passes no on_wait."""
    _told_of_waits[0] = on_wait


def state_dir(lxcpath: Path) -> Path:
    return lxcpath / STATE_DIR


def lock_path(lxcpath: Path, name: str) -> Path:
    return state_dir(Path(os.path.abspath(lxcpath))) / "locks" / f"{name}.lock"


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if text:
            return text
    return "another lxcprov command"


@contextlib.contextmanager
def container(
    lxcpath: Path,
    name: str,
    command: str,
    *,
    wait: float = WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the container's lock for the block (waiting up to `wait` seconds for it);
    on_wait (or what tell_waits set) hears once that it waits, and for whom."""
    path = lock_path(lxcpath, name)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateFileError(f"cannot make the lock {path}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                raise ContainerBusyError(f"{name} is busy: {holder} has held it for too long")
            if not told:
                (on_wait or _told_of_waits[0])(f"waiting for {holder} to finish with {name}")
                told = True
            time.sleep(0.1)
        with contextlib.suppress(OSError):  # who holds it is only for messages (a full disk)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"lxcprov {command} (pid {os.getpid()})\n".encode(), 0)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _stop_note(lxcpath: Path, name: str) -> Path:
    return lock_path(lxcpath, name).with_name(f"{name}.stopped")


def note_stop(lxcpath: Path, name: str) -> None:
    """Write down that the command holding the container's lock has stopped it. A `start`
    or `restart` waits for the boot outside the lock, so when it finds the container
    stopped, the command that stopped it may already be gone: this note still names it.
    A full disk only loses the name."""
    with contextlib.suppress(OSError):
        who = lock_path(lxcpath, name).read_text().strip()
        note = _stop_note(lxcpath, name)
        tmp = note.with_name(f"{name}.stopped.tmp")
        tmp.write_text(who + "\n")
        os.replace(tmp, note)


def stopped_since(lxcpath: Path, name: str, since: float) -> str | None:
    """Who stopped the container after `since` (a time.time()), as note_stop wrote it;
    None when no command has stopped it since then."""
    note = _stop_note(lxcpath, name)
    try:
        if note.stat().st_mtime < since:
            return None
        return note.read_text().strip() or None
    except OSError:
        return None


def held(lxcpath: Path, name: str) -> bool:
    """Whether this process holds the container's lock now."""
    return lock_path(lxcpath, name) in _held


def busy(lxcpath: Path, name: str) -> str | None:
    """Who holds the container's lock (another process), or None when nobody does."""
    path = lock_path(lxcpath, name)
    if path in _held:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
