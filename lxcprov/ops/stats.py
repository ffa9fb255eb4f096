"""`stats`, `top`, `metrics` and the Cockpit graphs: what each container uses now.

One `Sampler` reads every container it is asked about (system/usage.py: files only, no
process per container) and remembers its last reading of each, so a CPU% is always over
the interval since the one before. A one-shot `stats` reads twice, `--interval` apart;
`top`, `stats --watch` and `metrics --listen` keep one sampler for as long as they run.
The disk is the slow part (a walk of the rootfs, or of a clone's upper layer, unless a
disk limit's filesystem says it at once), so a long-running sampler walks it again only
every `DISK_EVERY` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxcprov.engine import usage as model
from lxcprov.engine.usage import Stats
from lxcprov.errors import LxcprovError, NoSuchContainerError
from lxcprov.ops import targets
from lxcprov.system import containerfs, diskimage, journal, lxc, usage
from lxcprov.system.usage import Reading

# How often a long-running sampler walks a container's files again (seconds).
DISK_EVERY = 30.0
# States whose processes (and so cgroup) exist.
_LIVE = ("RUNNING", "FROZEN")


def names_of(lxcpath: Path, words: Iterable[str]) -> list[str]:
    """The containers words name (names or `ls`'s patterns); every one (bases aside)
    when there are none. A plain name that is not a container is refused here."""
    words = list(words)
    if not words:
        every = {c.name for c in lxc.list_containers(lxcpath)}
        every |= {n for n in journal.names(lxcpath) if not n.startswith(lxc.BASE_PREFIX)}
        return sorted(every)
    found = [c.name for c in targets.resolve(lxcpath, words)]
    known = {c.name for c in lxc.list_containers(lxcpath, include_bases=True)}
    known |= set(journal.names(lxcpath))
    for name in found:
        if name not in known:
            raise NoSuchContainerError(
                f"no container {name!r} in {lxcpath}", hint="list them with: lxcprov ls"
            )
    return found


@dataclass(frozen=True)
class _Live:
    state: str
    pid: int | None = None  # its init, when running or frozen
    host_ends: list[str] | None = None  # its veths' host ends (None: not countable)


def _look(name: str, lxcpath: Path) -> _Live | None:
    """Its state, init and veths' host ends; None when it is gone (destroyed meanwhile)."""
    try:
        entry = journal.read(lxcpath, name)
    except LxcprovError:
        return _Live("BROKEN")
    if entry is not None and not (entry.running and entry.changes_existing):
        return _Live(entry.busy_state if entry.running else "INCOMPLETE")
    live = _read(name, lxcpath)
    if entry is not None and (live is None or live.state == "BROKEN"):
        return _Live(entry.busy_state)  # set, snapshot, restore at work: not gone, not broken
    return live


def _read(name: str, lxcpath: Path) -> _Live | None:
    if not (lxcpath / name / "config").exists():
        return None  # destroyed since it was listed
    try:
        handle = lxc.Read(name, lxcpath).handle
        state = str(handle.state)
        if state not in _LIVE:
            return _Live(state)
        return _Live(state, int(handle.init_pid), _host_ends(handle))
    except NoSuchContainerError:
        return None  # destroyed between the check above and the open
    except (LxcprovError, ValueError):
        return _Live("BROKEN")


def _host_ends(handle: Any) -> list[str] | None:
    """The host ends of its veths, as LXC named them ([] when it has only empty ones);
    None when one of its interfaces is the host's own network (type none) or one whose
    counters only its namespace holds (macvlan, phys, ...)."""
    ends: list[str] = []
    for index, kind in enumerate(handle.get_config_item("lxc.net") or []):
        if kind == "empty":
            continue
        if kind != "veth":
            return None
        key = f"lxc.net.{index}.veth.pair"
        end = handle.get_running_config_item(key) or handle.get_config_item(key)
        if not end:
            return None
        ends.append(str(end))
    return ends


def disk_of(name: str, lxcpath: Path) -> tuple[int | None, int | None]:
    """Bytes used by its writable files (a dir rootfs, a clone's upper layer) and its disk
    limit: a limit's filesystem says the use at once when it is mounted; else a walk."""
    c = lxc.Read(name, lxcpath)
    directory = lxcpath / name
    try:
        limit, used = containerfs.disk_of(c)
        if used is not None:
            return used, limit
        found = containerfs.layout(c.config())
    except LxcprovError:
        return None, diskimage.limit_of(directory)
    top = Path(found.upper if found.storage == "overlay" else found.path)
    if found.storage == "other" or not top.is_relative_to(directory):
        return None, limit  # not lxcprov's layout: its bytes are not ours to walk
    return usage.tree_bytes(top), limit


@dataclass
class Sampler:
    """Readings of the same containers, again and again; each Stats' CPU% is over the time
    since this sampler's reading before."""

    lxcpath: Path
    disk_every: float = DISK_EVERY
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, Reading] = field(default_factory=dict)
    _disk: dict[str, tuple[float, int | None, int | None]] = field(default_factory=dict)

    def sample(self, names: Iterable[str], *, disk: bool = True) -> list[Stats]:
        """Each container's stats now (disk: its files' bytes too, or None)."""
        out: list[Stats] = []
        for name in names:
            live = _look(name, self.lxcpath)
            if live is None:
                continue  # gone since it was listed
            state = live.state
            reading = usage.read(name, live.pid, live.host_ends) if live.pid else None
            before = self._last.pop(name, None)
            if reading is not None:
                self._last[name] = reading
            used, limit = self._disk_of(name, state) if disk else (None, None)
            percent = model.cpu_percent(before, reading) if reading else None
            out.append(Stats(name, state, reading, percent, used, limit))
        return out

    def _disk_of(self, name: str, state: str) -> tuple[int | None, int | None]:
        if state in ("CREATING", "CHANGING", "DESTROYING", "INCOMPLETE", "BROKEN"):
            return None, None
        now = self.clock()
        cached = self._disk.get(name)
        if cached is not None and now - cached[0] < self.disk_every:
            return cached[1], cached[2]
        used, limit = disk_of(name, self.lxcpath)
        self._disk[name] = (now, used, limit)
        return used, limit


def stats(
    lxcpath: Path,
    words: Iterable[str] = (),
    interval: float = 0.5,
    *,
    disk: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Stats]:
    """What each named container (every one when none is named) uses now; with an
    interval, the containers are read twice that far apart, for their CPU% (the disk
    once); without disk, no file is walked."""
    names = names_of(lxcpath, words)
    sampler = Sampler(lxcpath, disk_every=float("inf"))
    if interval > 0:
        sampler.sample(names, disk=disk)
        sleep(interval)
    return sampler.sample(names, disk=disk)


def watch(
    lxcpath: Path,
    words: Iterable[str],
    interval: float,
    on_sample: Callable[[list[Stats]], None],
    *,
    disk: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """on_sample with every container's stats each interval, until interrupted; the
    containers are looked for again each time (a new one appears, a destroyed one goes)."""
    words = list(words)
    names_of(lxcpath, words)  # a name that is no container is refused before the first line
    sampler = Sampler(lxcpath)
    while True:
        try:
            names = names_of(lxcpath, words)
        except LxcprovError:
            names = []  # a named container destroyed while watched: shown as gone
        on_sample(sampler.sample(names, disk=disk))
        sleep(interval)
