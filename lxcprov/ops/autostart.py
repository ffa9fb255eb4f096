"""`lxcprov start --all`: bring up the saved host network, then the autostart containers.

A container with `lxc.start.auto = 1` (`lxcprov set NAME autostart=yes`) is started in
`lxc.start.order` order (lower first, as lxc-autostart does): the containers of one order
boot together, and the longest `lxc.start.delay` of a group is waited before the next
(lxcprov.ops.startorder says why). Bridges lxcprov manages do not survive a host reboot;
restoring the ones these containers use comes first, or their veths would have nothing to
attach to.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine.network import Request
from lxcprov.errors import LxcprovError
from lxcprov.ops import mounts, startorder, targets
from lxcprov.ops import network as netops
from lxcprov.system import containerfs, faults, hostnet, journal, locks, lxc, lxcfs

# Between two order groups (LXCPROV_FAULT_AT, tests only).
FAULT_GROUP = "next-start-group"


@dataclass
class Started:
    name: str
    status: str  # "started", "already running" or "failed"
    detail: str = ""


@dataclass
class StartAll:
    bridges: list[str]  # bridges restored from their saved settings
    containers: list[Started]

    @property
    def ok(self) -> bool:
        return all(c.status != "failed" for c in self.containers)

    def as_dict(self) -> dict[str, object]:
        return {
            "bridges_restored": self.bridges,
            "containers": [vars(c) for c in self.containers],
        }


def _item(container: lxc.Container, key: str) -> str:
    with contextlib.suppress(KeyError, ValueError, SystemError):
        value = container.handle.get_config_item(key)
        return value if isinstance(value, str) else " ".join(value)
    return ""


def _int(text: str) -> int:
    try:
        return int(text.strip() or 0)
    except ValueError:
        return 0


def autostart_containers(lxcpath: Path) -> tuple[list[lxc.Container], list[Started]]:
    """The containers marked lxc.start.auto = 1, in start order, and those that cannot
    even be read (each reported on its own, the others still start)."""
    marked: list[lxc.Container] = []
    broken: list[Started] = []
    for c in lxc.list_containers(lxcpath):
        try:
            if _int(_item(c, "lxc.start.auto")) == 1:
                marked.append(c)
        except LxcprovError as exc:
            broken.append(Started(c.name, "failed", exc.message))
    marked.sort(key=lambda c: (order_of(c), c.name))
    return marked, broken


def order_of(container: lxc.Container) -> int:
    return _int(_item(container, "lxc.start.order"))


def _delay_left(c: lxc.Container, status: str) -> int:
    """Its lxc.start.delay still to wait: all of it for one this run started; for one
    already running (another `start --all` at the same time may have just started it, as
    the outside review found), what is left of it since its init started."""
    delay = _int(_item(c, "lxc.start.delay"))
    if status == "started" or delay <= 0:
        return delay if status == "started" else 0
    with contextlib.suppress(LxcprovError, ValueError, TypeError, OSError):
        started = journal.process_start(int(c.handle.init_pid))
        if started is not None:
            uptime = float(Path("/proc/uptime").read_text().split()[0])
            age = uptime - started / os.sysconf("SC_CLK_TCK")
            return max(0, math.ceil(delay - age))
    return 0


def start_all(
    lxcpath: Path,
    phase: Callable[[str], None] = lambda _msg: None,
    on_done: Callable[[Started], None] = lambda _started: None,
) -> StartAll:
    """Bring the saved network of the autostart containers up to date, then start them,
    a group of one lxc.start.order at a time (lxcprov.ops.startorder); on_done hears each
    container as it ends.

    Each container's network is decided as it stands (lxcprov.engine.network); every
    bridge lxcprov manages that they use goes through `net setup` (idempotent: it
    recreates a bridge that vanished and restarts a dnsmasq that died). A container whose
    network cannot work is reported, and the others still start.
    """
    lxc.require_root()
    containers, broken = autostart_containers(lxcpath)
    blocked, restored = _network(lxcpath, containers, phase)
    results: dict[str, Started] = {}
    for item in broken:
        results[item.name] = item
        on_done(item)
    if containers:
        said = lxcfs.ensure()  # before the first start: its mount hook binds lxcfs's files
        if said:
            phase(said)
    waits = startorder.groups(containers, order_of, lambda c: c.name)
    for index, group in enumerate(waits):
        if index:
            faults.stop_if(FAULT_GROUP)
        names = [c.name for c in group.members]
        phase(f"starting {len(names)} of order {group.order} at once"
              + (": " + ", ".join(names) if len(names) <= 8 else ""))  # fmt: skip

        def one(c: lxc.Container) -> Started:
            if c.name in blocked:
                return Started(c.name, "failed", blocked[c.name])
            return _start_one(lxcpath, c)

        def said_one(done: targets.Done[Started]) -> None:
            item = done.result or Started(done.name, "failed", str(done.error))
            results[done.name] = item
            on_done(item)

        ended = targets.each(group.members, one, at_once=startorder.AT_ONCE, on_done=said_one)
        delay = startorder.delay_after(
            _delay_left(c, d.result.status)
            for c, d in zip(group.members, ended, strict=True)
            if d.result is not None
        )
        if delay and index + 1 < len(waits):
            phase(f"waiting {delay} s (lxc.start.delay) before order {waits[index + 1].order}")
            time.sleep(delay)
    ordered = [b.name for b in broken] + [c.name for c in containers]
    return StartAll(restored, [results[name] for name in ordered])


def _network(
    lxcpath: Path, containers: list[lxc.Container], phase: Callable[[str], None]
) -> tuple[dict[str, str], list[str]]:
    """Restore the bridges the containers use; those whose network cannot work, and why,
    and the bridges restored."""
    blocked: dict[str, str] = {}
    bridges: set[str] = set()
    for c in containers:
        try:
            decision = netops.preview(c.name, lxcpath, Request(), netops.current_of(c))
        except LxcprovError as exc:
            blocked[c.name] = exc.message
            continue
        if decision.intent.bridge and hostnet.load_settings(decision.intent.bridge):
            bridges.add(decision.intent.bridge)
    restored: list[str] = []
    for bridge in sorted(bridges):
        result = hostnet.setup(bridge)
        if result.actions:
            phase(f"bridge {bridge}: " + "; ".join(result.actions))
            restored.append(bridge)
    return blocked, restored


def _start_one(lxcpath: Path, c: lxc.Container) -> Started:
    """One container of the group (in its own thread): its error is its own."""
    if c.running():
        return Started(c.name, "already running")
    try:
        with locks.container(lxcpath, c.name, "start --all"):
            if c.running():  # started by another command while this one waited for it
                return Started(c.name, "already running")
            containerfs.attach_disk(c)  # at boot: its disk image, unmounted by the reboot
            mounts.ensure_userns(c)
            notes = netops.guard_at_start(c)
            with mounts.staged(c) as defines:
                c.start(defines)
    except LxcprovError as exc:
        # One container that fails must not keep the others down.
        return Started(c.name, "failed", exc.message)
    return Started(c.name, "started", "; ".join(notes))
