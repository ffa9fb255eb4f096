"""The settings people change, as a table: parsing with units, and the LXC keys each becomes.

One entry per setting: how its value is parsed (512M, 1.5, 0-1, yes), which LXC keys it
becomes on this host's cgroup layout (v1, v2 or hybrid), whether a running container
takes it live, and which recipe roles keep the rootfs in step (hostname, ttys). Pure:
the host's layout and the config's current lines come in through Ctx; lxcprov.ops.settings
applies what this computes. The network keys (bridge=, address=) are decided by
lxcprov.engine.network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lxcprov.engine import disklimit
from lxcprov.engine import mounts as mount_specs
from lxcprov.engine import nesting as nesting_keys
from lxcprov.engine.facts import MAX_TTYS
from lxcprov.engine.recipes.roles import TERMINAL_ROLES, Role
from lxcprov.engine.settings_words import summary
from lxcprov.engine.sizes import NONE as _NONE
from lxcprov.engine.sizes import format_size, parse_size
from lxcprov.errors import InvalidArgumentError, did_you_mean
from lxcprov.system import cgroups, lxcconf
from lxcprov.system.cgroups import CgroupHost

Status = Literal["changed", "no change", "needs restart"]

CFS_PERIOD = 100000
MIN_MEMORY = 16 * 1024**2  # below this even busybox's init is killed at once

# Values reach the config file: matched whole (fullmatch), since `$` also accepts a
# trailing newline, which would end the config line early.
_CPUSET = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass
class Wanted:
    """What one assignment becomes."""

    display: str
    keys: dict[str, str | None] = field(default_factory=dict)  # None removes the key
    live: bool = False  # a running container takes the cgroup keys without a restart
    roles: tuple[Role, ...] = ()  # recipe roles that keep the rootfs in step
    # The keys are lines of lxcprov's own section, on top of the file's lines, which stay:
    # for keys LXC adds up line by line (lxc.mount.auto) or where a later line overrides
    # a template's (nesting's profile). None removes the section's line only.
    in_section: bool = False


@dataclass
class Ctx:
    """What computing a setting may look at: the host, the config, the other assignments."""

    host: CgroupHost
    lines: list[lxcconf.Line]
    pending: dict[str, str]  # every assignment of this `set`, raw
    effective: Callable[[str], str | None] = lambda _key: None
    room: int | None = None  # bytes of the lxcpath's filesystem: the largest disk limit

    def get(self, key: str) -> str | None:
        found = lxcconf.get(self.lines, key)
        return found if found is not None else self.effective(key)


# ---- values and units ---------------------------------------------------------------


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
        if not _CPUSET.fullmatch(text):
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


def nesting(raw: str, ctx: Ctx) -> Wanted:
    on = _yes_no("nesting", raw)
    # lxcprov.engine.nesting says which keys and why; LXC reads them at start only.
    return Wanted("yes" if on else "no", nesting_keys.keys(on, ctx.lines), in_section=True)


def hostname(raw: str, ctx: Ctx) -> Wanted:
    name = raw.strip()
    if len(name) > 253 or not all(_LABEL.fullmatch(p) for p in name.split(".")):
        raise InvalidArgumentError(
            f"hostname={raw}: not a host name",
            hint="letters, digits and dashes, dot-separated labels of at most 63",
        )
    return Wanted(name, {"lxc.uts.name": name}, roles=("hostname",))


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
    return Wanted(str(n), {"lxc.tty.max": str(n)}, roles=TERMINAL_ROLES)


def mounts_value(raw: str, ctx: Ctx) -> Wanted:
    """Checked here (so `set` validates before it changes anything); applied by mounts."""
    found = mount_specs.parse_specs(raw)
    return Wanted(", ".join(m.spec() for m in found) or "none")


def disk_value(raw: str, ctx: Ctx) -> Wanted:
    """Checked here (so `set` validates before it changes anything); carried out by
    lxcprov.ops.disk (an image, not a config key)."""
    return Wanted(format_size(disklimit.parse(raw, ctx.room)))


@dataclass(frozen=True)
class Setting:
    name: str
    summary: str
    example: str
    compute: Callable[[str, Ctx], Wanted]
    controllers: tuple[str, ...] = ()
    live: str = "no: restart"
    # Values worth offering (shell completion); "none" among them when none removes it.
    values: tuple[str, ...] = ()

    @property
    def removable(self) -> bool:
        return "none" in self.values


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "memory", summary("memory"), "512M", memory, ("memory",), "yes",
            ("256M", "512M", "1G", "2G", "none"),
        ),
        Setting(
            "swap", summary("swap"), "256M", swap,
            ("memory",), "yes", ("256M", "512M", "1G", "none"),
        ),
        Setting(
            "cpus", summary("cpus"), "1", cpus,
            ("cpu",), "yes", ("0.5", "1", "2", "none"),
        ),
        Setting(
            "cpu-weight", summary("cpu-weight"), "100",
            cpu_weight, ("cpu",), "yes", ("50", "100", "200", "none"),
        ),
        Setting(
            "autostart", summary("autostart"), "yes", autostart, (), "yes",
            ("yes", "no"),
        ),
        Setting("nesting", summary("nesting"), "yes", nesting, values=("yes", "no")),
        Setting("hostname", "host name (config and rootfs files)", "web1", hostname),
        Setting(
            "ttys", "LXC ttys, each with a login prompt", "4", ttys, values=("1", "2", "4", "6")
        ),
        Setting(
            "bridge", "bridge for eth0, or none", "lxcbr0", lambda r, c: Wanted(r),
            values=("none",),
        ),
        Setting(
            "address", "dhcp, auto, or ADDR[/PREFIX] on the bridge", "dhcp",
            lambda r, c: Wanted(r), values=("dhcp", "auto"),
        ),
        Setting(
            "disk", summary("disk"), "10G", disk_value, live="raise: yes; add, lower: stopped",
            values=("1G", "10G", "100G"),
        ),
        Setting(
            "mounts", "host directories inside: HOST:DIR[:ro],... or none", "/srv/www:/var/www:ro",
            mounts_value, live="yes", values=("none",),
        ),
    )
}  # fmt: skip
NETWORK = ("bridge", "address")
# Settings that are not config keys of the table: set applies them by their own module.
NOT_KEYS = (*NETWORK, "mounts", "disk")


def missed_equals(word: str, following: str | None) -> str | None:
    """The KEY=VALUE a word that names no container was meant as, when it is a setting's
    name (or a near miss of one): `cpus 2` -> "cpus=2" (`cpus` alone -> "cpus=VALUE")."""
    import difflib

    key = word.strip().lower().replace("_", "-")
    near = difflib.get_close_matches(key, list(SETTINGS), n=1, cutoff=0.8)
    if key not in SETTINGS and not near:
        return None
    value = following if following is not None and "=" not in following else "VALUE"
    return f"{key if key in SETTINGS else near[0]}={value}"


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
                f"unknown setting {key!r}{did_you_mean(key, SETTINGS)}",
                hint="settings: " + ", ".join(SETTINGS),
            )
        if not value.strip():
            # Never a silent removal: `memory=` is a value forgotten, not a wish.
            setting = SETTINGS[key]
            raise InvalidArgumentError(
                f"{key}= has no value",
                hint=f"{key}=none removes it"
                if setting.removable
                else f"for example {key}={setting.example}",
            )
        out[key] = value
    return out


def check(
    values: Mapping[str, str], host: CgroupHost | None = None, room: int | None = None
) -> None:
    """Validate settings without a container (for `new`, before the slow template run);
    room: the size of the lxcpath's filesystem (disk=)."""
    raw = parse_assignments([f"{k}={v}" for k, v in values.items()])
    ctx = Ctx(host or cgroups.detect(), [], raw, room=room)
    for name, value in raw.items():
        if name not in NETWORK:
            SETTINGS[name].compute(value, ctx)


# ---- show ---------------------------------------------------------------------------


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


def shown(ctx: Ctx, name: str) -> dict[str, str]:
    """The table's settings as `show` prints them, with units ("-" when not set)."""
    mem, swp = _current_memory(ctx)
    auto = ctx.get("lxc.start.auto")
    return {
        "memory": format_size(mem) if mem is not None else "-",
        "swap": format_size(swp) if swp is not None else "-",
        "cpus": _show_cpus(ctx),
        "cpu-weight": _show_weight(ctx),
        "autostart": "yes" if auto and auto.strip() == "1" else "no",
        "nesting": "yes" if nesting_keys.enabled(ctx.lines) else "no",
        "hostname": ctx.get("lxc.uts.name") or name,
        "ttys": ctx.get("lxc.tty.max") or "0",
    }
