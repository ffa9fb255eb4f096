"""What a container costs of the host's kernel limits, and how many more fit (one decision).

Asked by doctor (a limit that leaves room for fewer than HEADROOM more containers is
reported before it bites) and by `new --count` / several names (what cannot fit is
refused before anything is made). Pure: the observed use and limits come in
(lxcprov.system.kernellimits, the bridge's books), verdicts go out.

The costs were measured on this project's machine (kernel 6.18, 2 cores, LXC 5.0.2,
`bench/limits.py`; README "Cached bases and many containers"):

- inotify instances are counted per user up the user-namespace chain (kernel ucounts), so
  every unprivileged container that root made charges root's
  fs.inotify.max_user_instances. An idle Debian (systemd) container holds 5 (systemd's
  own), more while it boots; with the default 128 the 14th to 17th container stopped at
  boot or never showed `login:` here. busybox and sysvinit hold none.
- keys are counted per host uid (/proc/key-users), and every container of the shared id
  block maps its root to the same host uid: kernel.keys.maxkeys (200) and maxbytes (20000)
  are shared by all of them. systemd gives each service a session keyring and an
  invocation-id key: 19 keys and 340 bytes per idle Debian container here. At the quota a
  further Debian container still booted to `login:` with no failed unit (systemd goes on
  without a keyring it cannot make): a warning, not a refusal.
- every process and thread takes a pid (kernel.pid_max, kernel.threads-max).
- the neighbour tables (ARP, NDP) are one per family for the whole kernel, across network
  namespaces: the host's entry for each container and each container's entries for its
  gateway count against gc_thresh3, past which new neighbours fail ("neighbour table
  overflow").
- a bridge takes at most 1023 ports (BR_MAX_PORTS is 1024 and port number 0 is never
  used: the 1024th veth got EXFULL here).
- an address: a static one from the static half of the subnet (`--ip auto`), a DHCP
  reservation from the DHCP half (dnsmasq's lease limit is the range's size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxcprov.errors import plural

Kind = Literal["systemd", "simple"]  # simple: busybox, sysvinit (no per-service kernel objects)

# A container's cost in each limit (idle, plus its boot's peak where that is what bites).
INOTIFY = {"systemd": 8, "simple": 0}  # 5 held idle, the rest while booting
KEYS = {"systemd": 19, "simple": 0}  # measured: 76 keys for 4 Debian containers
KEY_BYTES = {"systemd": 340, "simple": 0}  # measured: 1356 bytes for 4
TASKS = {"systemd": 12, "simple": 6}  # a Debian container's pids.current idle: 9-10
NEIGH4 = 2  # the host's entry for the container, its own for the gateway (seen: 1.2 each)
NEIGH6 = 6  # link-local and global, both ways (seen: 5.6 each, on a bridge without IPv6)
BRIDGE_PORTS = 1023  # BR_MAX_PORTS (1 << 10), less port number 0

# A limit that leaves room for fewer containers than this is reported by doctor.
HEADROOM = 20

# What `doctor --fix` writes to /etc/sysctl.d (the values LXD's production setup
# recommends for inotify, keys and the neighbour tables): raising a limit is safe, and
# removing the file undoes it at the next boot. Other limits are only advised.
SYSCTL_FILE = "/etc/sysctl.d/60-lxcprov-limits.conf"
RAISED = {
    "fs.inotify.max_user_instances": 1024,
    "kernel.keys.maxkeys": 2000,
    "kernel.keys.maxbytes": 2000000,
    "net.ipv4.neigh.default.gc_thresh3": 8192,
    "net.ipv6.neigh.default.gc_thresh3": 8192,
}

LimitId = Literal[
    "inotify-instances-low",
    "keys-low",
    "pids-low",
    "neighbour-table-small",
    "bridge-ports-low",
    "subnet-full",
]


# What doctor --fix raises for each limit (none: advised only).
SYSCTLS_OF: dict[str, tuple[str, ...]] = {
    "inotify-instances-low": ("fs.inotify.max_user_instances",),
    "keys-low": ("kernel.keys.maxkeys", "kernel.keys.maxbytes"),
    "pids-low": (),
    "neighbour-table-small": (
        "net.ipv4.neigh.default.gc_thresh3",
        "net.ipv6.neigh.default.gc_thresh3",
    ),
    "bridge-ports-low": (),
    "subnet-full": (),
}


@dataclass(frozen=True)
class Use:
    """One limit as observed: what is used of it now, and its value."""

    name: str  # the sysctl, or what the limit is ("ports of bridge br0")
    used: int
    limit: int


@dataclass(frozen=True)
class HostUse:
    """The host's kernel limits that many containers meet; None: not observed."""

    inotify: Use | None = None  # root's inotify instances
    keys: Use | None = None  # the fullest non-root uid's keys
    key_bytes: Use | None = None
    tasks: Use | None = None  # threads of every process, against min(pid_max, threads-max)
    neigh4: Use | None = None  # ARP entries of every namespace, against gc_thresh3
    neigh6: Use | None = None


@dataclass(frozen=True)
class BridgeUse:
    """What a bridge has room for: ports, and free addresses in each half of its subnet."""

    bridge: str
    ports: int  # ports attached now
    static_free: int  # addresses `--ip auto` can still take
    dhcp_free: int  # DHCP reservations still possible (the range less booked and leased)


@dataclass(frozen=True)
class Coming:
    """Containers about to be made: how many, of which kind, on which bridge and how."""

    count: int
    kind: Kind
    bridge: str | None = None  # None: no network (no port, no address)
    static: bool = False  # --ip auto (the static half) rather than DHCP


@dataclass(frozen=True)
class Pressure:
    """A limit with little room left: what doctor reports."""

    id: LimitId
    name: str
    used: int
    limit: int
    room: int  # containers (of the costliest kind) that still fit
    fix: str
    sysctls: tuple[str, ...] = ()  # what doctor --fix raises (to RAISED, in SYSCTL_FILE)


def room(use: Use, per_container: int) -> int:
    """How many more containers of that cost fit under the limit (a large number when
    they cost nothing of it)."""
    if per_container <= 0:
        return 10**9
    return max(0, use.limit - use.used) // per_container


def _sysctl_fix(*names: str) -> str:
    sets = " ".join(f"{n}={RAISED[n]}" for n in names)
    return f"sysctl -w {sets}  # doctor --fix also keeps it in {SYSCTL_FILE}"


def host_pressures(host: HostUse) -> list[Pressure]:
    """The host limits that let fewer than HEADROOM more systemd containers run."""
    out: list[Pressure] = []
    checks: list[tuple[LimitId, Use | None, int]] = [
        ("inotify-instances-low", host.inotify, INOTIFY["systemd"]),
        ("keys-low", host.keys, KEYS["systemd"]),
        ("keys-low", host.key_bytes, KEY_BYTES["systemd"]),
        ("pids-low", host.tasks, TASKS["systemd"]),
        ("neighbour-table-small", host.neigh4, NEIGH4),
        ("neighbour-table-small", host.neigh6, NEIGH6),
    ]
    seen: set[LimitId] = set()
    for limit_id, use, per in checks:
        if use is None or limit_id in seen:
            continue
        left = room(use, per)
        if left < HEADROOM:
            seen.add(limit_id)
            sysctls = SYSCTLS_OF[limit_id]
            fix = _sysctl_fix(*sysctls) if sysctls else PIDS_FIX
            out.append(Pressure(limit_id, use.name, use.used, use.limit, left, fix, sysctls))
    return out


PIDS_FIX = "sysctl -w kernel.pid_max=4194304  # and kernel.threads-max when it is the lower"


def bridge_pressures(bridge: BridgeUse) -> list[Pressure]:
    """A bridge with room for fewer than HEADROOM more containers: ports, addresses."""
    out: list[Pressure] = []
    ports = Use(f"ports of bridge {bridge.bridge}", bridge.ports, BRIDGE_PORTS)
    if room(ports, 1) < HEADROOM:
        fix = "put further containers on another bridge (net setup --bridge BR2; new --bridge BR2)"
        out.append(Pressure("bridge-ports-low", ports.name, ports.used, ports.limit,
                            room(ports, 1), fix))  # fmt: skip
    free = bridge.static_free + bridge.dhcp_free
    if free < HEADROOM:
        out.append(Pressure("subnet-full", f"free addresses of bridge {bridge.bridge}",
                            0, free, free, "give the bridge a larger subnet "
                            f"(lxcprov net setup --bridge {bridge.bridge} --address ADDR/PREFIX)"
                            " or destroy containers you no longer need (a DHCP address"
                            " is free again when its lease ends, within the hour)"))  # fmt: skip
    return out


@dataclass(frozen=True)
class Refusal:
    """Why the containers coming cannot fit: one line, and what to do."""

    message: str
    hint: str


def _need(n: int, word: str) -> str:
    return f"{plural(n, word)} {'needs' if n == 1 else 'need'}"


def refusal(host: HostUse, bridge: BridgeUse | None, coming: Coming) -> Refusal | None:
    """The first limit the coming containers would break, or None when they fit.

    Refused: more addresses than the bridge's subnet has free, more ports than a bridge
    takes, more systemd containers than root's inotify instances let boot, more tasks
    than pids are left. The keys and the neighbour table are doctor's warnings only: past
    them containers still boot (systemd ignores a keyring it cannot make; stale neighbours
    are collected)."""
    n = coming.count
    if bridge is not None and coming.bridge is not None:
        free = bridge.static_free if coming.static else bridge.dhcp_free
        half = "static addresses (--ip auto)" if coming.static else "DHCP addresses"
        if n > free:
            return Refusal(
                f"{_need(n, 'container')} {n} {half} on {bridge.bridge}, but {free} "
                f"{'is' if free == 1 else 'are'} free",
                f"make at most {free}, destroy containers you no longer need (a DHCP address: "
                "free when its lease ends, within the hour), or give "
                f"{bridge.bridge} a larger subnet (lxcprov net setup --bridge "
                f"{bridge.bridge} --address ADDR/PREFIX)",
            )
        if bridge.ports + n > BRIDGE_PORTS:
            return Refusal(
                f"{_need(n, 'container')} {n} ports of {bridge.bridge}, which has "
                f"{bridge.ports} of its {BRIDGE_PORTS}",
                "put the rest on another bridge: lxcprov net setup --bridge BR2 "
                "--address ADDR/PREFIX, then new --bridge BR2",
            )
    if host.inotify is not None:
        fits = room(host.inotify, INOTIFY[coming.kind])
        if n > fits:
            return Refusal(
                f"{_need(n, 'systemd container')} about {n * INOTIFY[coming.kind]} inotify "
                f"instances of root, but {host.inotify.used} of "
                f"fs.inotify.max_user_instances={host.inotify.limit} are used: about "
                f"{fits} more boot",
                "raise it first: lxcprov doctor --fix (or sysctl -w "
                f"fs.inotify.max_user_instances={RAISED['fs.inotify.max_user_instances']})",
            )
    if host.tasks is not None:
        fits = room(host.tasks, TASKS[coming.kind])
        if n > fits:
            return Refusal(
                f"{_need(n, 'container')} about {n * TASKS[coming.kind]} pids, but "
                f"{host.tasks.used} of {host.tasks.limit} ({host.tasks.name}) are used",
                "raise it first: sysctl -w kernel.pid_max=4194304",
            )
    return None


def warnings(host: HostUse, coming: Coming) -> list[str]:
    """What the coming containers would use up without being refused for it: the keys
    (systemd goes on without a keyring it cannot make) and the neighbour tables (stale
    entries are collected first; past gc_thresh3 a new neighbour fails)."""
    n = coming.count
    out = []
    keys: list[tuple[Use | None, int]] = [
        (host.keys, KEYS[coming.kind]),
        (host.key_bytes, KEY_BYTES[coming.kind]),
    ]
    for use, per in keys:
        if use is not None and n > room(use, per):
            out.append(
                f"{n} more containers would pass {use.name}={use.limit} ({use.used} used by "
                "containers' root): their services start without a keyring; "
                f"raise it: {_sysctl_fix('kernel.keys.maxkeys', 'kernel.keys.maxbytes')}"
            )
            break
    if coming.bridge is not None:
        for use, per in ((host.neigh4, NEIGH4), (host.neigh6, NEIGH6)):
            if use is not None and n > room(use, per):
                out.append(f"{n} more containers would pass {use.name}={use.limit} "
                           f"({use.used} entries): raise it: {_sysctl_fix(use.name)}")  # fmt: skip
    return out


def raised(names: list[str], current: dict[str, int]) -> dict[str, int]:
    """The value doctor --fix sets each named sysctl to: RAISED, or what the host has now
    when that is higher already (a limit someone raised further stays raised)."""
    return {n: max(RAISED[n], current.get(n, 0)) for n in names if n in RAISED}


def sysctl_file(values: dict[str, int]) -> str:
    """The text of SYSCTL_FILE holding these values."""
    lines = [
        "# Written by lxcprov doctor --fix: limits many containers meet (lxcprov's",
        '# README, "Cached bases and many containers"). Remove it to undo at the next boot.',
    ]
    lines += [f"{n} = {v}" for n, v in sorted(values.items())]
    return "\n".join(lines) + "\n"
