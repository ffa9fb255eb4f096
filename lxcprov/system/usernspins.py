"""Who keeps a pinned user namespace (`<lxcpath>/.lxcprov/userns/NAME`), and when it goes.

A pin (an nsfs bind mount, made by livemount.pinned_userns) exists only to be opened: a
start opens it to idmap a share it stages, a live `mount add` to idmap the share it adds.
Once opened, the idmapped mount (or the descriptor) holds the namespace itself, and every
user makes the pin again when it is missing (as after a reboot). So a pin is needed by
nobody between two opens, and the containers whose config names it (`idmap=PATH` in a
mount entry) are the only ones that will open it again.

The decision: the last user releases it. When a container goes (recovery.remove: destroy,
destroy --force, doctor --fix, bases rm) or drops a share (mount rm), every pin no
container's config in the lxcpath still names is unmounted and its file removed, so an
lxcpath whose containers are all gone holds no mount and can be removed.

The race: a user that made (or found) a pin must open it before a release takes it away.
Users hold the lxcpath's pins lock shared from the pin to the open (`opened`); a release
holds it exclusive and reads the configs under it (`release_unnamed`). Both are short (no
start, no wait inside); the lock is always taken last, under any container lock, so it
cannot close a cycle.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from lxcprov.system import locks, run

DIR = "userns"
_LOCK = "userns.lock"
_IDMAP = re.compile(r"idmap=([^,\s]+)")


def pins_dir(lxcpath: Path) -> Path:
    return locks.state_dir(lxcpath) / DIR


@contextlib.contextmanager
def _locked(lxcpath: Path, how: int) -> Iterator[None]:
    path = locks.state_dir(lxcpath) / _LOCK
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


def using(lxcpath: Path) -> contextlib.AbstractContextManager[None]:
    """Held (shared) by whoever needs a pin to stay until it has opened it."""
    return _locked(lxcpath, fcntl.LOCK_SH)


def opened(lxcpath: Path, pin: Callable[[], Path]) -> int:
    """A descriptor of the namespace pin() makes (or finds), opened before any release
    can take the pin away."""
    with using(lxcpath):
        return os.open(pin(), os.O_RDONLY | os.O_CLOEXEC)


def _named(lxcpath: Path) -> set[str]:
    """The pins some container's config in lxcpath names (a half-made one's too)."""
    named: set[str] = set()
    for config in lxcpath.glob("*/config"):
        with contextlib.suppress(OSError):
            named |= set(_IDMAP.findall(config.read_text(errors="replace")))
    return named


def _mounted() -> set[str]:
    points = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.add(fields[4])
    return points


def release_unnamed(lxcpath: Path) -> list[str]:
    """Unmount and remove every pin of lxcpath no container's config names; the names of
    those released."""
    directory = pins_dir(lxcpath)
    if not directory.is_dir():
        return []
    released = []
    with _locked(lxcpath, fcntl.LOCK_EX):
        named = _named(lxcpath)
        mounted = _mounted()
        for pin in sorted(directory.iterdir()):
            if str(pin) in named:
                continue
            for _ in range(3) if str(pin) in mounted else ():  # a pin made twice: both
                if run.run(["umount", str(pin)], check=False).returncode != 0:
                    break
            pin.unlink(missing_ok=True)
            released.append(pin.name)
        with contextlib.suppress(OSError):
            directory.rmdir()
    return released
