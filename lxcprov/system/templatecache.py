"""LXC's template cache, and what a template run that did not finish leaves in it.

The download templates (debian, ubuntu, devuan, kali, ...) build their cache in
`<cache>/<dir>/partial-*` and rename it into place (`rootfs-*`) once it is complete; their
own trap removes the partial directory when they are interrupted, but a run killed with
SIGKILL (lxcprov's kill of a template that outlived a Ctrl-C, a killed lxcprov's orphan)
leaves it, hundreds of megabytes. lxcprov notes the partial directories there are before
it runs a template, and afterwards removes the ones that appeared: never a complete cache
(`rootfs-*` is never touched), never one that was there before, and nothing while another
run of that template holds the template's own lock (it may be building the same one).

The cache is `$LXC_CACHE_PATH` when set (the templates read the same variable), else
/var/cache/lxc.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

CACHE_ENV = "LXC_CACHE_PATH"
DEFAULT_CACHE = Path("/var/cache/lxc")
# Where the templates take their lock (`9>$LOCALSTATEDIR/lock/subsys/lxc-NAME...`).
LOCK_DIR = Path("/var/lock/subsys")
PARTIAL = "partial"
# How deep under the cache a partial directory sits (debian: debian/partial-bookworm-amd64).
_DEPTH = 2


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def partials(root: Path | None = None) -> tuple[str, ...]:
    """The partial directories in the cache now, relative to it, sorted."""
    root = root or cache_root()
    found: list[str] = []

    def walk(d: Path, depth: int) -> None:
        with contextlib.suppress(OSError):
            for entry in os.scandir(d):
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if entry.name.startswith(PARTIAL):
                    found.append(str(Path(entry.path).relative_to(root)))
                elif depth < _DEPTH:
                    walk(Path(entry.path), depth + 1)

    walk(root, 1)
    return tuple(sorted(found))


@contextlib.contextmanager
def _runs_idle(template: str, wait: float = 0.0) -> Iterator[bool]:
    """Hold the template's own locks while the block runs: True when no run of it holds
    one (none runs), False when one does (its partial directory may be its work); a lock
    held is tried again for up to wait seconds."""
    held: list[int] = []
    idle = True
    deadline = time.monotonic() + wait
    try:
        for lock in sorted(LOCK_DIR.glob(f"lxc-{template}*")):
            try:
                fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            held.append(fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        idle = False
                        break
                    time.sleep(0.1)
            if not idle:
                break
        yield idle
    finally:
        for fd in held:
            os.close(fd)


def remove_new(
    template: str, before: tuple[str, ...], root: Path | None = None, *, wait: float = 0.0
) -> list[str]:
    """Remove the partial directories that appeared since before (what the run started);
    returns what was removed, as paths. wait: how long a run's lock is waited for (a run
    just killed lets go of it as its last process exits)."""
    root = root or cache_root()
    new = [rel for rel in partials(root) if rel not in before]
    if not new:
        return []
    removed: list[str] = []
    with _runs_idle(template, wait) as idle:
        if not idle:
            return []
        for rel in new:
            path = root / rel
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(str(path))
    return removed
