"""`lxcprov ls`: every container with its state, addresses, type, memory limit and ports.

Kept apart from the commands that change containers: listing imports only what it reads
(liblxc, the journals, the bridges' forwards files), so `ls` starts quickly; one
container that cannot be read is a row of its own, never the end of the list.
"""

from __future__ import annotations

import contextlib
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxcprov.engine import appimage, disklimit, nesting, sizes
from lxcprov.errors import LxcprovError, NoSuchContainerError
from lxcprov.system import containerfs, diskimage, journal, lxc, lxcconf, snapstore
from lxcprov.system.hostnet import forwards, settings


@dataclass(frozen=True)
class Row:
    name: str
    # RUNNING, STOPPED (LXC's states); CREATING, DESTROYING (an lxcprov command is making
    # or removing it), INCOMPLETE (that command was killed), BROKEN (LXC cannot load its
    # config); CHANGING only when one that changes it is at work and it cannot be read.
    state: str
    ipv4: list[str]
    problem: str = ""  # for INCOMPLETE and BROKEN: what is wrong and what to run
    privileged: bool | None = None  # None: not known (a container that cannot be read)
    ipv6: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)  # published: "8080->80/tcp"
    memory: str = ""  # its memory limit (512M), "" when it has none
    snapshots: int = 0
    autostart: bool | None = None  # lxc.start.auto (None: not known)
    nesting: bool | None = None  # nesting=yes (lxcprov.engine.nesting; None: not known)
    disk: str = ""  # its disk limit and use ("64M (12M used)"), "" when it has none
    disk_limit: int | None = None  # bytes
    disk_used: int | None = None  # bytes (None: its image is not mounted now)
    # What it uses now: measured only when asked (ls --columns memory_used,cpu_percent),
    # since a CPU% takes an interval (ops/stats.py); None: not asked, or not running.
    memory_used: int | None = None
    cpu_percent: float | None = None
    # "system" (an init) or "application" (an image's entrypoint: lxcprov.engine.appimage);
    # "" when not known.
    kind: str = ""
    # The lxcprov command at work on it now (set, snapshot, restore, convert), in words;
    # its row is otherwise what it is (RUNNING, its snapshots, its limits).
    busy: str = ""

    @property
    def type(self) -> str:
        return {True: "privileged", False: "unprivileged", None: ""}[self.privileged]

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "state": self.state, "ipv4": self.ipv4,
                                  "ipv6": self.ipv6, "ports": self.ports,
                                  "privileged": self.privileged, "type": self.type,
                                  "memory": self.memory or None,
                                  "snapshots": self.snapshots,
                                  "autostart": self.autostart,
                                  "nesting": self.nesting, "disk": self.disk or None,
                                  "disk_limit": self.disk_limit,
                                  "disk_used": self.disk_used,
                                  "kind": self.kind or None}  # fmt: skip
        if self.problem:
            out["problem"] = self.problem
        if self.busy:
            out["busy"] = self.busy
        return out

    def with_usage(self) -> dict[str, object]:
        """as_dict() and what it uses (ls --columns memory_used,cpu_percent)."""
        percent = None if self.cpu_percent is None else round(self.cpu_percent, 1)
        return {**self.as_dict(), "memory_used": self.memory_used, "cpu_percent": percent}


def _ports(lxcpath: Path) -> dict[str, list[str]]:
    """Published ports by container name (one read per managed bridge)."""
    found: dict[str, list[str]] = {}
    with contextlib.suppress(LxcprovError):  # a broken forwards file: doctor says so
        for bridge in settings.load_config().bridges:
            found_list = forwards.read(bridge)
            for f in found_list:
                name, _, path = f.owner.partition("@")
                if path == str(lxcpath):
                    where = f"{f.host_addr}:" if f.host_addr else ""
                    found.setdefault(name, []).append(
                        f"{where}{f.host_port}->{f.container_port}/{f.proto}"
                    )
    return found


def _memory(c: lxc.Container) -> str:
    for key in ("lxc.cgroup2.memory.max", "lxc.cgroup.memory.limit_in_bytes"):
        value = c.config_item(key)
        if value and value.isdigit():
            return sizes.format_size(int(value))
    return ""


def _nesting(c: lxc.Container) -> bool | None:
    """The config file's own lines, as `show` reads them (an include never turns it on);
    None when lxcprov cannot read them as text (LXC may still load the file)."""
    try:
        return nesting.enabled(lxcconf.parse(lxcconf.read(c.config_path)))
    except LxcprovError:
        return None


def _row(c: lxc.Container, entry: journal.Entry | None) -> Row | None:
    """Its row; None when it was destroyed since it was listed."""
    if entry is not None and entry.running:
        if entry.changes_existing:
            # It is still what it was (running, its snapshots, its limits) while set,
            # snapshot, restore or convert works on it: the row says so, and by whom.
            row = _read(c)
            if row is None or row.state != "BROKEN":
                return row and replace(row, busy=entry.describe())
        return Row(c.name, entry.busy_state, [], f"{entry.describe()}")
    if entry is not None:
        from lxcprov.ops import recovery  # only for a row that needs its advice

        how = "half-changed" if recovery.kept(entry) else journal.left_as(entry.command)
        why = f"left {how} by {entry.describe()}: {recovery.advice(c.name, entry)}"
        return Row(c.name, "INCOMPLETE", [], why)
    return _read(c)


def _read(c: lxc.Container) -> Row | None:
    """Its row as LXC and its files say; None when it was destroyed meanwhile."""
    try:
        state, ipv4, ipv6 = c.summary()
        count = snapstore.count(c.lxcpath / c.name)
        auto = (c.config_item("lxc.start.auto") or "0").strip() == "1"
        limit, used = containerfs.disk_of(c)
        fs = diskimage.fs_bytes(diskimage.image_of(c.lxcpath / c.name)) if limit else None
        return Row(c.name, state, ipv4, privileged=not c.idmap(), ipv6=ipv6, memory=_memory(c),
                   snapshots=count, autostart=auto, nesting=_nesting(c),
                   disk=disklimit.describe(limit, used, fs)
                   if limit else "", disk_limit=limit, disk_used=used,
                   kind=appimage.APPLICATION if c.config_item(appimage.MARK)
                   else appimage.SYSTEM)  # fmt: skip
    except NoSuchContainerError:
        return None
    except LxcprovError as exc:
        return Row(c.name, "BROKEN", [], exc.message)


def listing(lxcpath: Path, pattern: str | None = None, *, usage: bool = False) -> list[Row]:
    """Every container (bases aside) with its state and addresses, sorted by name; only
    names matching the shell pattern when one is given (the others are never read).
    With usage, each running one's memory used and CPU% (over USAGE_INTERVAL) too.

    One container that cannot be read is a row of its own, never the end of the list.
    """
    names = {c.name for c in lxc.list_containers(lxcpath)}
    names |= {n for n in journal.names(lxcpath) if not n.startswith(lxc.BASE_PREFIX)}
    if pattern:
        names = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
    rows = []
    ports = _ports(lxcpath)
    for name in sorted(names):
        c = lxc.Read(name, lxcpath)  # one python3-lxc object per row
        try:
            entry = journal.read(lxcpath, name)
        except LxcprovError as exc:
            rows.append(Row(name, "BROKEN", [], exc.message))
            continue
        row = _row(c, entry)
        if row is None:
            continue
        rows.append(replace(row, ports=ports.get(name, [])) if name in ports else row)
    return _with_usage(lxcpath, rows) if usage else rows


# How long `ls` measures a CPU% when asked for one.
USAGE_INTERVAL = 0.5


def _with_usage(lxcpath: Path, rows: list[Row]) -> list[Row]:
    from lxcprov.ops import stats  # only when asked: a plain ls stays light

    live = [r.name for r in rows if r.state in ("RUNNING", "FROZEN")]
    if not live:
        return rows
    sampler = stats.Sampler(lxcpath, disk_every=float("inf"))
    sampler.sample(live, disk=False)
    time.sleep(USAGE_INTERVAL)
    now = {s.name: s for s in sampler.sample(live, disk=False)}
    out = []
    for r in rows:
        s = now.get(r.name)
        if s is not None and s.reading is not None:
            r = replace(r, memory_used=s.reading.memory_used, cpu_percent=s.cpu_percent)
        out.append(r)
    return out


def watch(
    lxcpath: Path,
    on_change: Callable[[list[Row]], None],
    interval: float = 1.0,
    *,
    rows: Callable[[Path], list[Row]] = listing,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call on_change with the listing now and again each time it differs, until interrupted.

    One process looks every interval seconds (a look at a few containers takes
    milliseconds; starting lxcprov to look takes far longer): a page or a terminal stays
    live without re-running `ls`. A new address counts as a change, so DHCP leases show.
    """
    last: list[Row] | None = None
    while True:
        now = rows(lxcpath)
        if now != last:
            on_change(now)
            last = now
        sleep(interval)
