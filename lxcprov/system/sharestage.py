"""Where a start's shares wait for LXC to bind them, and what a killed start left there.

A start stages each share (a nosuid, nodev clone; idmapped, its flags locked, for an
unprivileged container) under STAGE in the host's namespace, outside every lxcpath (which
the container's root may not traverse), then unstages it once LXC has its copy. A start
killed in between leaves its staged mounts (the container may be running with its copies
by then): the next start or stop of the container takes them away, and so does every
removal of it (recovery.remove: destroy, doctor --fix, apply, a dependent's removal), the
name being gone after that. One module so that all of them reach the same place.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

# The container's own directory here is 0710, of its root's group, so no other host user
# walks in (lxcprov.ops.mounts makes it).
STAGE = Path("/run/lxcprov/shares")
# A live `mount add` into an unprivileged container passes through an empty directory of
# the container's here (ops.mounts._lock_dir); a killed one leaves it, empty.
LIVE = STAGE / "live"


def _token(lxcpath: Path) -> str:
    return hashlib.sha256(str(lxcpath).encode()).hexdigest()[:12]


def stage_dir(lxcpath: Path, name: str) -> Path:
    """The container's directory under STAGE (each start stages in a random name in it:
    a host user who could guess the path could otherwise walk into a staged share); the
    lxcpath is named by a digest, so two lxcpaths' containers of one name never meet."""
    return STAGE / _token(lxcpath) / name


def live_dir(lxcpath: Path, name: str) -> Path:
    return LIVE / f"{_token(lxcpath)}-{name}"


def clear_left(lxcpath: Path, name: str) -> bool:
    """Unstage what a killed start of the container left, then remove its directory and
    the lxcpath's when empty (another container's start may be under way there), and the
    empty directory a killed live `mount add` left (LIVE itself stays: another
    container's may be made in it now). True when staged shares were left."""
    mine = stage_dir(lxcpath, name)
    found = mine.is_dir()
    if found:
        from lxcprov.system import livemount  # only then: stop stays light (ops/halt.py)

        for left in mine.iterdir():
            livemount.unstage(left)
    for directory in (mine, mine.parent, live_dir(lxcpath, name)):
        with contextlib.suppress(OSError):
            directory.rmdir()
    return found
