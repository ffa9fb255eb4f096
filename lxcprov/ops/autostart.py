"""`lxcprov start --all`: bring up the saved host network, then the autostart containers.

A container with `lxc.start.auto = 1` (`lxcprov set NAME autostart=yes`) is started in
`lxc.start.order` order (lower first, as lxc-autostart does), waiting `lxc.start.delay`
seconds after each. Bridges lxcprov manages do not survive a host reboot; restoring the
ones these containers use comes first, or their veths would have nothing to attach to.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine.network import Request
from lxcprov.errors import LxcprovError
from lxcprov.ops import mounts
from lxcprov.ops import network as netops
from lxcprov.system import containerfs, hostnet, locks, lxc, lxcfs


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
    marked.sort(key=lambda c: (_int(_item(c, "lxc.start.order")), c.name))
    return marked, broken


def start_all(lxcpath: Path, phase: Callable[[str], None] = lambda _msg: None) -> StartAll:
    """Bring the saved network of the autostart containers up to date, then start them.

    Each container's network is decided as it stands (lxcprov.engine.network); every
    bridge lxcprov manages that they use goes through `net setup` (idempotent: it
    recreates a bridge that vanished and restarts a dnsmasq that died). A container whose
    network cannot work is reported, and the others still start.
    """
    lxc.require_root()
    containers, broken = autostart_containers(lxcpath)
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
    results: list[Started] = list(broken)
    if containers:
        said = lxcfs.ensure()  # before the first start: its mount hook binds lxcfs's files
        if said:
            phase(said)
    for c in containers:
        if c.name in blocked:
            results.append(Started(c.name, "failed", blocked[c.name]))
            continue
        if c.running():
            results.append(Started(c.name, "already running"))
            continue
        phase(f"starting {c.name}")
        try:
            with locks.container(lxcpath, c.name, "start --all"):
                containerfs.attach_disk(c)  # at boot: its disk image, unmounted by the reboot
                mounts.ensure_userns(c)
                notes = netops.guard_at_start(c)
                with mounts.staged(c) as defines:
                    c.start(defines)
        except LxcprovError as exc:
            # One container that fails must not keep the others down.
            results.append(Started(c.name, "failed", exc.message))
            continue
        results.append(Started(c.name, "started", "; ".join(notes)))
        delay = _int(_item(c, "lxc.start.delay"))
        if delay > 0 and c is not containers[-1]:
            time.sleep(delay)
    return StartAll(restored, results)
