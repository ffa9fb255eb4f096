"""The host limits many containers meet, observed for doctor and for `new` of several.

What a container costs and what cannot fit is decided by lxcprov.engine.hostlimits; this
module observes the host and a bridge for it, refuses a batch that cannot fit before
anything is made, and raises the fixable limits for `doctor --fix` (a sysctl file).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from lxcprov.engine import hostlimits
from lxcprov.engine.hostlimits import BridgeUse, Coming, HostUse, Kind, Use
from lxcprov.errors import HostLimitError
from lxcprov.ops.request import NewRequest
from lxcprov.system import kernellimits, run, statefile
from lxcprov.system.hostnet import addresses, settings


def bridge_use(bridge: str) -> BridgeUse | None:
    """A managed bridge's ports and free addresses; None when lxcprov does not manage it
    (its addresses are someone else's to count)."""
    free = addresses.free(bridge)
    if free is None:
        return None
    return BridgeUse(bridge, kernellimits.bridge_ports(bridge), free[0], free[1])


def kind_of(req: NewRequest) -> Kind:
    """systemd unless the template is busybox or the request installs sysvinit."""
    if req.template == "busybox" or any("sysvinit-core" in a for a in req.template_args):
        return "simple"
    return "systemd"


def coming_of(reqs: list[NewRequest]) -> tuple[Coming, str | None]:
    """The batch as the cost model sees it, and the bridge it goes on (None: none)."""
    first = reqs[0]
    bridge: str | None = None
    if first.network == "bridge" and first.bridge != "none":
        bridge = first.bridge or settings.load_config().default
    kinds = {kind_of(r) for r in reqs}
    kind: Kind = "systemd" if "systemd" in kinds else "simple"
    return Coming(len(reqs), kind, bridge, static=first.ip == "auto"), bridge


def refuse_what_cannot_fit(reqs: list[NewRequest], warn: Callable[[str], None]) -> None:
    """Raise HostLimitError (one line and a hint) when the batch cannot fit the host's
    limits or its bridge, before anything is made; warn of a limit it would pass
    without failing (keys, neighbour tables)."""
    coming, bridge = coming_of(reqs)
    host = host_use()
    found = hostlimits.refusal(host, bridge_use(bridge) if bridge else None, coming)
    if found is not None:
        raise HostLimitError(found.message, hint=found.hint)
    for line in hostlimits.warnings(host, coming):
        warn(line)


def _use(name: str, used: int | None, limit: int | None) -> Use | None:
    return Use(name, used, limit) if used is not None and limit is not None else None


def host_use() -> HostUse:
    """What is used of each host limit now (root sees every process's fds)."""
    k = kernellimits
    keys = k.fullest_key_user()
    pid_max, threads_max = k.sysctl("kernel.pid_max"), k.sysctl("kernel.threads-max")
    pid_limit = min(pid_max, threads_max) if pid_max and threads_max else None
    pid_name = "kernel.pid_max" if pid_limit == pid_max else "kernel.threads-max"
    inotify, neigh4, neigh6 = (
        "fs.inotify.max_user_instances",
        "net.ipv4.neigh.default.gc_thresh3",
        "net.ipv6.neigh.default.gc_thresh3",
    )
    return HostUse(
        inotify=_use(inotify, k.root_inotify_instances(), k.sysctl(inotify)),
        keys=_use("kernel.keys.maxkeys", keys[0] if keys else 0, k.sysctl("kernel.keys.maxkeys")),
        key_bytes=_use("kernel.keys.maxbytes", keys[2] if keys else 0,
                       k.sysctl("kernel.keys.maxbytes")),
        tasks=_use(pid_name, k.tasks(), pid_limit),
        neigh4=_use(neigh4, k.neighbours("arp_cache"), k.sysctl(neigh4)),
        neigh6=_use(neigh6, k.neighbours("ndisc_cache"), k.sysctl(neigh6)),
    )  # fmt: skip


_LINE = re.compile(r"^\s*([a-z0-9_.-]+)\s*=\s*(\d+)\s*$")


def raise_limits(sysctls: Iterable[str], path: Path = Path(hostlimits.SYSCTL_FILE)) -> list[str]:
    """Raise these sysctls to hostlimits.RAISED now (sysctl -w) and at every boot (the
    file, which keeps what an earlier fix wrote there); never lower one. Returns what was
    done, one line each."""
    kept: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            if m := _LINE.match(line):
                kept[m.group(1)] = int(m.group(2))
    except FileNotFoundError:
        pass
    current = {n: v for n in hostlimits.RAISED if (v := kernellimits.sysctl(n)) is not None}
    wanted = hostlimits.raised(sorted(set(sysctls)), current)
    statefile.write_text(path, hostlimits.sysctl_file({**kept, **wanted}))
    done = []
    for name, value in wanted.items():
        if current.get(name, 0) < value:
            run.run(["sysctl", "-q", "-w", f"{name}={value}"])
            done.append(f"{name}: {current.get(name)} -> {value} (kept in {path})")
    return done
