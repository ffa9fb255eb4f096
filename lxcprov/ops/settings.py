"""Container settings people change, without learning lxc.container.conf.

One table entry per setting: how its value is parsed (with units), which LXC keys it
becomes on this host's cgroup layout, whether a running container takes it live, and
which recipes keep the rootfs in step (hostname, ttys, network). `set` validates every
assignment before it changes anything, writes the config once (lxcprov.lxcconf keeps
comments, order and foreign keys), applies what the kernel allows live, then runs the
recipes. Each setting reports changed / no change / needs restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lxcprov.engine import recipes
from lxcprov.errors import InvalidArgumentError, LxcprovError
from lxcprov.ops import provision
from lxcprov.system import cgroups, lxc, lxcconf, netintent
from lxcprov.system.cgroups import CgroupHost
from lxcprov.system.netintent import NetIntent

Status = Literal["changed", "no change", "needs restart"]

# The CFS period LXC and Docker use: a quota of 100000 per 100000 us is one CPU.
CFS_PERIOD = 100000
MIN_MEMORY = 16 * 1024**2  # below this even busybox's init is killed at once
MAX_TTYS = 63  # LXC allocates one pty pair per tty; the kernel's tty minor limit is 63
TTY_RECIPES = ("getty-systemd", "getty-inittab", "tty-nodes", "securetty")
NET_RECIPES = ("network-ifupdown", "network-busybox", "network-networkd", "resolv-static")

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?$", re.IGNORECASE)
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_NONE = ("none", "max", "unlimited", "")


@dataclass
class Result:
    setting: str
    value: str  # the value as shown to users, with units
    status: Status
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class Wanted:
    """What one assignment becomes."""

    display: str
    keys: dict[str, str | None] = field(default_factory=dict)  # None removes the key
    live: bool = False  # a running container takes the cgroup keys without a restart
    recipes: tuple[str, ...] = ()


@dataclass
class Ctx:
    """What computing a setting may look at: the host, the config, the other assignments."""

    host: CgroupHost
    lines: list[lxcconf.Line]
    pending: dict[str, str]  # every assignment of this `set`, raw
    effective: Callable[[str], str | None] = lambda _key: None

    def get(self, key: str) -> str | None:
        found = lxcconf.get(self.lines, key)
        return found if found is not None else self.effective(key)


# ---- values and units ---------------------------------------------------------------


def parse_size(name: str, raw: str) -> int | None:
    """Bytes from 512M, 1.5G, 1GiB, 536870912; None for none/max (no limit)."""
    text = raw.strip()
    if text.lower() in _NONE:
        return None
    m = _SIZE.match(text)
    if not m:
        raise InvalidArgumentError(
            f"{name}={raw}: not a size", hint=f"use a number with K, M, G or T, e.g. {name}=512M"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(size: int | None) -> str:
    if size is None:
        return "none"
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def _int_or_none(value: str | None) -> int | None:
    try:
        n = int(value) if value is not None else None
    except ValueError:
        return None
    return n if n is not None and n >= 0 else None


def online_cpus() -> set[int]:
    try:
        text = Path("/sys/devices/system/cpu/online").read_text().strip()
    except OSError:
        return set()
    return _expand_cpuset(text)


def _expand_cpuset(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _yes_no(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("yes", "y", "true", "on", "1"):
        return True
    if low in ("no", "n", "false", "off", "0"):
        return False
    raise InvalidArgumentError(f"{name}={raw}: not yes or no", hint=f"use {name}=yes or {name}=no")


# ---- cgroup keys --------------------------------------------------------------------


def _key(version: int, cgfile: str) -> str:
    return f"lxc.cgroup2.{cgfile}" if version == 2 else f"lxc.cgroup.{cgfile}"


def _need(ctx: Ctx, controller: str, setting: str, still: str) -> int:
    version = ctx.host.version_of(controller)
    if version is None:
        raise InvalidArgumentError(
            f"{setting}: this host has no {controller} cgroup controller ({ctx.host.describe()})",
            hint=f"still works: {still}",
        )
    return version


def _still(ctx: Ctx, but: str) -> str:
    """The settings that do work here, for a refusal's hint."""
    ok = [
        s.name
        for s in SETTINGS.values()
        if s.name != but and all(ctx.host.version_of(c) for c in s.controllers)
    ]
    return ", ".join(ok)


def _current_memory(ctx: Ctx) -> tuple[int | None, int | None]:
    """(memory, swap) in bytes as the config has them now, for either cgroup version."""
    v1 = _int_or_none(ctx.get("lxc.cgroup.memory.limit_in_bytes"))
    memsw = _int_or_none(ctx.get("lxc.cgroup.memory.memsw.limit_in_bytes"))
    if v1 is not None:
        return v1, (memsw - v1 if memsw is not None and memsw >= v1 else None)
    v2 = _int_or_none(ctx.get("lxc.cgroup2.memory.max"))
    return v2, _int_or_none(ctx.get("lxc.cgroup2.memory.swap.max"))


def _memory_keys(ctx: Ctx, memory: int | None, swap: int | None, who: str) -> dict[str, str | None]:
    version = _need(ctx, "memory", who, _still(ctx, who))
    if version == 2:
        return {
            "lxc.cgroup2.memory.max": None if memory is None else str(memory),
            "lxc.cgroup2.memory.swap.max": None if swap is None else str(swap),
        }
    if swap is not None and not ctx.host.swap_accounting:
        raise InvalidArgumentError(
            "swap: this kernel has no swap accounting (memory.memsw.* is missing on cgroup v1)",
            hint="boot with swapaccount=1 to limit swap; memory= still works",
        )
    if swap is not None and memory is None:
        raise InvalidArgumentError(
            "swap: cgroup v1 limits memory and swap together, so swap needs a memory limit",
            hint="set both, e.g. memory=512M swap=256M",
        )
    keys: dict[str, str | None] = {
        "lxc.cgroup.memory.limit_in_bytes": None if memory is None else str(memory)
    }
    if ctx.host.swap_accounting or ctx.get("lxc.cgroup.memory.memsw.limit_in_bytes"):
        both = None if memory is None or swap is None else memory + swap
        keys["lxc.cgroup.memory.memsw.limit_in_bytes"] = None if both is None else str(both)
    return keys


def _pending_or_current(ctx: Ctx, name: str) -> int | None:
    """memory or swap as this same `set` asks for it, else as the config has it now."""
    if name in ctx.pending:
        return parse_size(name, ctx.pending[name])
    memory_now, swap_now = _current_memory(ctx)
    return memory_now if name == "memory" else swap_now


def memory(raw: str, ctx: Ctx) -> Wanted:
    size = parse_size("memory", raw)
    if size is not None and size < MIN_MEMORY:
        raise InvalidArgumentError(
            f"memory={raw}: too small (at least {format_size(MIN_MEMORY)})",
            hint="for example memory=512M",
        )
    swap = _pending_or_current(ctx, "swap")
    return Wanted(format_size(size), _memory_keys(ctx, size, swap, "memory"), live=True)


def swap(raw: str, ctx: Ctx) -> Wanted:
    size = parse_size("swap", raw)
    mem = _pending_or_current(ctx, "memory")
    return Wanted(format_size(size), _memory_keys(ctx, mem, size, "swap"), live=True)


def cpus(raw: str, ctx: Ctx) -> Wanted:
    text = raw.strip()
    online = online_cpus()
    bad = InvalidArgumentError(
        f"cpus={raw}: not a CPU count or a CPU list",
        hint=f"a count (cpus=2, cpus=0.5) or CPUs to pin to (cpus=0-1, cpus=0,2); "
        f"this host has {len(online) or '?'} CPUs",
    )
    quota: str | None = None
    cpuset: str | None = None
    if text.lower() in _NONE:
        display = "none"
    elif "-" in text or "," in text:
        if not _CPUSET.match(text):
            raise bad
        wanted = _expand_cpuset(text)
        if online and not wanted <= online:
            missing = ",".join(str(c) for c in sorted(wanted - online))
            raise InvalidArgumentError(
                f"cpus={raw}: CPU {missing} is not online here",
                hint=f"online CPUs: {Path('/sys/devices/system/cpu/online').read_text().strip()}",
            )
        cpuset = display = text
    else:
        try:
            count = float(text)
        except ValueError:
            raise bad from None
        if count < 0.01 or (online and count > len(online)):
            raise bad
        quota = str(round(count * CFS_PERIOD))
        display = f"{count:g}"
    keys: dict[str, str | None] = {}
    if quota is not None or display == "none":
        v = _need(ctx, "cpu", "cpus", _still(ctx, "cpus"))
        if v == 2:
            keys["lxc.cgroup2.cpu.max"] = None if quota is None else f"{quota} {CFS_PERIOD}"
        else:
            keys["lxc.cgroup.cpu.cfs_quota_us"] = quota
            keys["lxc.cgroup.cpu.cfs_period_us"] = None if quota is None else str(CFS_PERIOD)
    if cpuset is not None or (display == "none" and ctx.host.version_of("cpuset")):
        v = _need(ctx, "cpuset", "cpus", "cpus=N (a count) and " + _still(ctx, "cpus"))
        keys[_key(v, "cpuset.cpus")] = cpuset
    if display != "none":
        # A count and a pinning are two ways of saying one thing: the other one goes.
        for other in ("cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.max", "cpuset.cpus"):
            for v in (1, 2):
                k = _key(v, other)
                if k not in keys and ctx.get(k) is not None:
                    keys[k] = None
    return Wanted(display, keys, live=True)


def cpu_weight(raw: str, ctx: Ctx) -> Wanted:
    try:
        weight = None if raw.strip().lower() in _NONE else int(raw)
    except ValueError:
        weight = 0
    if weight is not None and not 1 <= weight <= 10000:
        raise InvalidArgumentError(
            f"cpu-weight={raw}: not a weight from 1 to 10000",
            hint="100 is the default share; 200 gets twice as much CPU under contention",
        )
    v = _need(ctx, "cpu", "cpu-weight", _still(ctx, "cpu-weight"))
    if v == 2:
        value = None if weight is None else str(weight)
        return Wanted(str(weight or "none"), {"lxc.cgroup2.cpu.weight": value}, live=True)
    # cgroup v1 has shares (default 1024) where v2 has weight (default 100).
    shares = None if weight is None else str(max(2, round(weight * 1024 / 100)))
    return Wanted(str(weight or "none"), {"lxc.cgroup.cpu.shares": shares}, live=True)


def autostart(raw: str, ctx: Ctx) -> Wanted:
    on = _yes_no("autostart", raw)
    # Not a cgroup item: lxc-autostart reads the config, so it counts at once.
    return Wanted("yes" if on else "no", {"lxc.start.auto": "1" if on else "0"}, live=True)


def hostname(raw: str, ctx: Ctx) -> Wanted:
    name = raw.strip()
    if len(name) > 253 or not all(_LABEL.match(p) for p in name.split(".")):
        raise InvalidArgumentError(
            f"hostname={raw}: not a host name",
            hint="letters, digits and dashes, dot-separated labels of at most 63",
        )
    return Wanted(name, {"lxc.uts.name": name}, recipes=("hostname",))


def ttys(raw: str, ctx: Ctx) -> Wanted:
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if not 0 <= n <= MAX_TTYS:
        raise InvalidArgumentError(
            f"ttys={raw}: not a number of terminals from 0 to {MAX_TTYS}",
            hint="for example ttys=4 (lxc-console -t 1..4), the console is always there",
        )
    return Wanted(str(n), {"lxc.tty.max": str(n)}, recipes=TTY_RECIPES)


@dataclass(frozen=True)
class Setting:
    name: str
    summary: str
    example: str
    compute: Callable[[str, Ctx], Wanted]
    controllers: tuple[str, ...] = ()
    live: str = "no: restart"


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "memory", "RAM limit (K, M, G, T; none)", "512M", memory, ("memory",), "yes"
        ),
        Setting(
            "swap", "swap on top of memory (needs memory= on cgroup v1)", "256M", swap,
            ("memory",), "yes",
        ),
        Setting(
            "cpus", "CPU count (quota, e.g. 1.5) or CPUs to pin to (0-1, 0,2)", "1", cpus,
            ("cpu",), "yes",
        ),
        Setting(
            "cpu-weight", "CPU share under contention (1-10000, default 100)", "100",
            cpu_weight, ("cpu",), "yes",
        ),
        Setting("autostart", "start with `lxcprov start --all`", "yes", autostart, (), "yes"),
        Setting("hostname", "host name (config and rootfs files)", "web1", hostname),
        Setting("ttys", "LXC ttys, each with a login prompt", "4", ttys),
        Setting("bridge", "bridge for eth0, or none", "lxcbr0", lambda r, c: Wanted(r)),
        Setting(
            "address", "dhcp, auto, or ADDR[/PREFIX] on the bridge", "dhcp",
            lambda r, c: Wanted(r),
        ),
    )
}  # fmt: skip
NETWORK = ("bridge", "address")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """KEY=VALUE words into a dict; an unknown key or a missing '=' is one clear line."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("_", "-")
        if not sep:
            raise InvalidArgumentError(
                f"{item!r} is not KEY=VALUE", hint="for example: lxcprov set c1 memory=512M"
            )
        if key not in SETTINGS:
            raise InvalidArgumentError(
                f"unknown setting {key!r}", hint="settings: " + ", ".join(SETTINGS)
            )
        out[key] = value
    return out


# ---- the container side -------------------------------------------------------------


def _effective(container: lxc.Container) -> Callable[[str], str | None]:
    """liblxc's value of a key (includes resolved), for keys the file itself does not set."""
    handle = container.handle

    def get(key: str) -> str | None:
        if key.startswith("lxc.cgroup"):
            return None  # only the file's own limits count; includes do not set any
        with contextlib.suppress(KeyError, ValueError, SystemError):
            value = handle.get_config_item(key)
            text = value if isinstance(value, str) else " ".join(value)
            return text or None
        return None

    return get


# The value a running container's cgroup file gets when lxcprov removes a limit.
_UNLIMITED = {
    "memory.limit_in_bytes": "-1",
    "memory.memsw.limit_in_bytes": "-1",
    "memory.max": "max",
    "memory.swap.max": "max",
    "cpu.cfs_quota_us": "-1",
    "cpu.cfs_period_us": str(CFS_PERIOD),
    "cpu.max": f"max {CFS_PERIOD}",
    "cpu.shares": "1024",
    "cpu.weight": "100",
}


def _apply_live(container: lxc.Container, keys: dict[str, str | None]) -> list[str]:
    """Write cgroup keys into a running container; returns what the kernel refused."""
    items: list[tuple[str, str]] = []
    for key, value in keys.items():
        if not key.startswith("lxc.cgroup"):
            continue
        cgfile = key.split(".", 2)[2]
        if value is None:
            if cgfile == "cpuset.cpus":
                value = ",".join(str(c) for c in sorted(online_cpus()))
            else:
                value = _UNLIMITED.get(cgfile, "")
        if value:
            items.append((cgfile, value))
    handle = container.handle
    failed = items
    # memory <= memory+swap must hold after every single write: an order that fails
    # one way round succeeds the other way, so retry what failed once.
    for _ in range(2):
        failed = [(f, v) for f, v in failed if not handle.set_cgroup_item(f, v)]
    return [f"{f}={v}" for f, v in failed]


def _run_recipes(container: lxc.Container, only: tuple[str, ...]) -> int:
    """Run some recipes through `fix` (those whose `when` holds) and count their changes."""
    known = {r.name for r in recipes.load_all()}
    chosen = [r for r in only if r in known]  # an admin may have removed one
    if not chosen:
        return 0
    return provision.fix(container, only=chosen).applied


def _plan_network(
    container: lxc.Container, raw: dict[str, str], ctx: Ctx
) -> tuple[NetIntent, NetIntent, dict[str, str | None], str]:
    """(old intent, new intent, config keys, display) for bridge=/address=."""
    old = provision.intent_of(container)
    bridge = raw.get("bridge", "").strip() or None
    address = raw.get("address", "").strip().lower() or None
    if "address" in raw and address is None:
        raise InvalidArgumentError("address= is empty", hint="use dhcp, auto or ADDR/PREFIX")
    if bridge == "none" or (bridge is None and address == "none"):
        if address not in (None, "none"):
            raise InvalidArgumentError(
                "an address needs a bridge", hint="drop address=, or name a bridge"
            )
        new = NetIntent()
        keys: dict[str, str | None] = {"lxc.net.0.type": "empty"}
        for k in ("link", "flags", "name", "hwaddr", "ipv4.address", "ipv4.gateway"):
            keys[f"lxc.net.0.{k}"] = None
        return old, new, keys, "none"
    bridge = bridge or old.bridge or None
    ip: str | None
    if address is None:
        if old.mode == "static" and bridge != old.bridge:
            raise InvalidArgumentError(
                f"the container has the static address {old.address} on {old.bridge}",
                hint="give the address on the new bridge too: address=auto, dhcp or ADDR",
            )
        ip = old.address if old.mode == "static" else None
    else:
        ip = None if address == "dhcp" else raw["address"].strip()
    if old.mode == "static" and ip == old.address and bridge == old.bridge:
        return old, old, {}, old.address  # the same static address: nothing to reserve
    new, planned = provision.plan_network(
        container.name, container.lxcpath, "bridge", bridge, ip, provision.Progress()
    )
    # Keep the MAC and interface name a veth already has: DHCP leases follow them. (An
    # `empty` network reports name "lo": never take anything over from one.)
    was_veth = ctx.get("lxc.net.0.type") == "veth"
    name = (ctx.get("lxc.net.0.name") if was_veth else None) or "eth0"
    mac = (ctx.get("lxc.net.0.hwaddr") if was_veth else None) or planned["lxc.net.0.hwaddr"]
    keys = {
        "lxc.net.0.type": "veth",
        "lxc.net.0.link": new.bridge,
        "lxc.net.0.flags": "up",
        "lxc.net.0.name": name,
        "lxc.net.0.hwaddr": mac,
        # An LXC-level address is undone by the init's DHCP client; ours lives in the rootfs.
        "lxc.net.0.ipv4.address": None,
        "lxc.net.0.ipv4.gateway": None,
    }
    return old, new, keys, new.address if new.mode == "static" else f"dhcp on {new.bridge}"


def set_settings(
    container: lxc.Container,
    assignments: Mapping[str, str],
    *,
    host: CgroupHost | None = None,
    run_recipes: bool = True,
) -> list[Result]:
    """Apply settings to a container; validates all of them before changing anything."""
    container.require()
    host = host or cgroups.detect()
    raw = parse_assignments([f"{k}={v}" for k, v in assignments.items()])
    path = container.config_path
    text = lxcconf.read(path)
    ctx = Ctx(host, lxcconf.parse(text), raw, _effective(container))
    wanted = {name: SETTINGS[name].compute(value, ctx) for name, value in raw.items()}
    net: tuple[NetIntent, NetIntent, dict[str, str | None], str] | None = None
    if any(n in raw for n in NETWORK):
        net = _plan_network(container, raw, ctx)  # may reserve an address: keep it last
    try:
        return _commit(container, raw, wanted, net, ctx, text, run_recipes)
    except BaseException:
        if net is not None and net[1] != net[0]:
            with contextlib.suppress(LxcprovError):
                provision.release_network(net[1])
        raise


def _commit(
    container: lxc.Container,
    raw: dict[str, str],
    wanted: dict[str, Wanted],
    net: tuple[NetIntent, NetIntent, dict[str, str | None], str] | None,
    ctx: Ctx,
    text: str,
    run_recipes: bool,
) -> list[Result]:
    running = container.running()
    changes: dict[str, str | None] = {}
    changed_by: dict[str, bool] = {}
    for name, w in wanted.items():
        if name in NETWORK:
            continue
        changed_by[name] = any(ctx.get(k) != v for k, v in w.keys.items())
        changes.update(w.keys)
    if net is not None:
        changes.update(net[2])
    new_text = lxcconf.update(text, changes)
    if new_text != text:
        lxcconf.write(container.config_path, new_text)
    results: list[Result] = []
    for name, w in wanted.items():
        if name in NETWORK:
            continue
        changed = changed_by[name]
        detail = ""
        if run_recipes and w.recipes:
            made = _run_recipes(container, w.recipes)
            changed = changed or made > 0
            detail = f"{made} rootfs changes" if made else ""
        status: Status = "changed" if changed else "no change"
        if changed and running:
            if w.live:
                refused = _apply_live(container, w.keys)
                if refused:
                    status = "needs restart"
                    detail = "the kernel refused it live (" + ", ".join(refused) + ")"
                else:
                    detail = "applied to the running container"
            else:
                status = "needs restart"
        results.append(Result(name, w.display, status, detail))
    if net is not None:
        results += _commit_network(container, raw, net, running, run_recipes)
    return results


def _commit_network(
    container: lxc.Container,
    raw: dict[str, str],
    net: tuple[NetIntent, NetIntent, dict[str, str | None], str],
    running: bool,
    run_recipes: bool,
) -> list[Result]:
    old, new, _keys, display = net
    changed = new != old
    if changed:
        netintent.save(container.lxcpath / container.name, new)
        if old.mode == "static" and (new.mode != "static" or new.bridge != old.bridge):
            provision.release_network(old)
    made = _run_recipes(container, NET_RECIPES) if run_recipes else 0
    changed = changed or made > 0
    status: Status = "no change"
    if changed:
        status = "needs restart" if running else "changed"
    name = "address" if "address" in raw else "bridge"
    detail = f"{made} rootfs changes" if made else ""
    return [Result(name, display, status, detail)]


def check(values: Mapping[str, str], host: CgroupHost | None = None) -> None:
    """Validate settings without a container (for `new`, before the slow template run)."""
    raw = parse_assignments([f"{k}={v}" for k, v in values.items()])
    ctx = Ctx(host or cgroups.detect(), [], raw)
    for name, value in raw.items():
        if name not in NETWORK:
            SETTINGS[name].compute(value, ctx)


def apply_settings(container: lxc.Container, values: Mapping[str, str]) -> list[Result]:
    """For `new --memory 512M ...`: call after create, before start (same as `set`)."""
    return set_settings(container, values)


# ---- show ---------------------------------------------------------------------------


@dataclass
class Shown:
    settings: dict[str, str]  # setting -> value with units ("-" when not set)
    raw: list[tuple[str, str]]  # every key = value of the config file, in order
    cgroup: str
    running: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "settings": self.settings,
            "raw": [{"key": k, "value": v} for k, v in self.raw],
            "cgroup": self.cgroup,
            "running": self.running,
        }


def _show_cpus(ctx: Ctx) -> str:
    quota = ctx.get("lxc.cgroup.cpu.cfs_quota_us")
    period = ctx.get("lxc.cgroup.cpu.cfs_period_us") or str(CFS_PERIOD)
    v2 = (ctx.get("lxc.cgroup2.cpu.max") or "").split()
    if v2 and v2[0] != "max":
        quota, period = v2[0], (v2[1] if len(v2) > 1 else str(CFS_PERIOD))
    parts = []
    q, p = _int_or_none(quota), _int_or_none(period)
    if q and p:
        parts.append(f"{q / p:g}")
    pinned = ctx.get("lxc.cgroup.cpuset.cpus") or ctx.get("lxc.cgroup2.cpuset.cpus")
    if pinned:
        parts.append(f"pinned to {pinned}")
    return ", ".join(parts) or "-"


def _show_weight(ctx: Ctx) -> str:
    weight = ctx.get("lxc.cgroup2.cpu.weight")
    if weight:
        return weight
    shares = _int_or_none(ctx.get("lxc.cgroup.cpu.shares"))
    return str(round(shares * 100 / 1024)) if shares else "-"


def show(container: lxc.Container, host: CgroupHost | None = None) -> Shown:
    container.require()
    host = host or cgroups.detect()
    lines = lxcconf.parse(lxcconf.read(container.config_path))
    ctx = Ctx(host, lines, {}, _effective(container))
    mem, swp = _current_memory(ctx)
    intent = provision.intent_of(container)
    auto = ctx.get("lxc.start.auto")
    values = {
        "memory": format_size(mem) if mem is not None else "-",
        "swap": format_size(swp) if swp is not None else "-",
        "cpus": _show_cpus(ctx),
        "cpu-weight": _show_weight(ctx),
        "autostart": "yes" if auto and auto.strip() == "1" else "no",
        "hostname": ctx.get("lxc.uts.name") or container.name,
        "ttys": ctx.get("lxc.tty.max") or "0",
        "bridge": intent.bridge if intent.mode != "none" else "none",
        "address": intent.address if intent.mode == "static" else intent.mode,
    }
    return Shown(values, lxcconf.items(lines), host.describe(), container.running())
