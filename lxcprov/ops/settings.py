"""`lxcprov set` and `lxcprov show`: apply the settings table to a container.

`set` validates every assignment before it changes anything (lxcprov.engine.settings_table
and, for bridge=/address=, lxcprov.engine.network), writes the config once
(lxcprov.system.lxcconf keeps comments, order and foreign keys), applies what the kernel
allows live, then runs the recipes of the roles the settings touch, in one opening of
the rootfs. Each setting reports changed / no change / needs restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import idmap, recipes, settings_table
from lxcprov.engine import mounts as mount_specs
from lxcprov.engine.network import Decision, Request
from lxcprov.engine.recipes import Role
from lxcprov.engine.settings_table import (
    CFS_PERIOD,
    NETWORK,
    NOT_KEYS,
    SETTINGS,
    Ctx,
    Status,
    Wanted,
    online_cpus,
    parse_assignments,
)
from lxcprov.engine.usage import Stats
from lxcprov.errors import (
    InvalidArgumentError,
    LxcprovError,
    NoSuchContainerError,
    did_you_mean,
    plural,
)
from lxcprov.ops import disk as disk_op
from lxcprov.ops import forwards as forwards_op
from lxcprov.ops import mounts as mounts_op
from lxcprov.ops import network as netops
from lxcprov.ops import recovery, targets, workspace
from lxcprov.ops import stats as stats_op
from lxcprov.system import cgroups, diskimage, faults, journal, locks, lxc, lxcconf, netintent
from lxcprov.system.cgroups import CgroupHost


@dataclass
class Result:
    setting: str
    value: str  # the value as shown to users, with units
    status: Status
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


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


def effective_values(container: lxc.Container, keys: tuple[str, ...]) -> dict[str, str]:
    """liblxc's values of keys (includes resolved), for `apply` to plan against."""
    get = _effective(container)
    return {k: v for k in keys if (v := get(k)) is not None}


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


def _roles_changes(plan: recipes.Plan, loaded: list[recipes.Recipe]) -> dict[Role, int]:
    """How many rootfs changes each role's recipes made."""
    provides = {r.name: r.provides for r in loaded}
    counts: dict[Role, int] = {}
    for step in plan.steps:
        for role in provides.get(step.recipe, ()):
            counts[role] = counts.get(role, 0) + len(step.changes)
    return counts


def _run_roles(container: lxc.Container, roles: set[Role]) -> dict[Role, int]:
    """Run the recipes providing roles, in one opening of the rootfs; changes per role."""
    loaded = recipes.load_all()
    chosen = recipes.providing(loaded, *roles)
    if not chosen:
        return {}
    with workspace.opened(container) as ws:
        _facts, plan, _applied = ws.run(chosen)
    return _roles_changes(plan, loaded)


def set_settings(
    container: lxc.Container,
    assignments: Mapping[str, str],
    *,
    host: CgroupHost | None = None,
    run_recipes: bool = True,
) -> list[Result]:
    """Apply settings to a container; validates all of them before changing anything.

    run_recipes=False writes the config only (`new` runs every recipe once afterwards).
    Two `set`s of one container never interleave (its lock is held throughout).
    """
    targets.refuse_base(container, "set")
    with locks.container(container.lxcpath, container.name, "set"):
        return _set(container, assignments, host, run_recipes)


def finish_network(container: lxc.Container, entry: journal.Entry) -> list[Result]:
    """What a killed `set` (or apply) moving the network left, finished: the same
    assignments again, under the container's lock (doctor --fix holds it). Its journal
    stays until they are done, so a kill here too leaves it INCOMPLETE."""
    assignments = json.loads(entry.detail.removeprefix(recovery.NET_DETAIL))
    with locks.container(container.lxcpath, container.name, "doctor --fix"):
        return _set(container, assignments, None, True, finishing=True)


def _set(
    container: lxc.Container,
    assignments: Mapping[str, str],
    host: CgroupHost | None,
    run_recipes: bool,
    *,
    finishing: bool = False,
) -> list[Result]:
    if run_recipes and not finishing:  # `new` (run_recipes=False) journals it itself
        recovery.refuse_incomplete(container)
    jr = None
    if run_recipes and any(n in assignments for n in NETWORK):
        # Its config, address books, intent and rootfs change one after another: a kill
        # between them leaves a container INCOMPLETE that doctor --fix finishes.
        jr = journal.Journal.begin(container.lxcpath, container.name, "set", creating=False)
        moved = {n: v for n, v in assignments.items() if n in NETWORK}
        jr.update(detail=recovery.NET_DETAIL + json.dumps(moved, sort_keys=True))
        jr.phase("network")
    try:
        results = _set_journaled(container, assignments, host, run_recipes)
    except LxcprovError:
        if jr is not None:  # refused, or failed and said so: not a killed command
            jr.end()
        raise
    if jr is not None:
        jr.end()
    return results


def _set_journaled(
    container: lxc.Container,
    assignments: Mapping[str, str],
    host: CgroupHost | None,
    run_recipes: bool,
) -> list[Result]:
    container.require()
    host = host or cgroups.detect()
    raw = parse_assignments([f"{k}={v}" for k, v in assignments.items()])
    loaded = recipes.load_all()  # a broken recipe file stops `set` before it writes
    path = container.config_path
    text = lxcconf.read(path)
    room = diskimage.room(container.lxcpath)
    ctx = Ctx(host, lxcconf.parse(text), raw, _effective(container), room=room)
    wanted = {name: SETTINGS[name].compute(value, ctx) for name, value in raw.items()}
    net: Decision | None = None
    current = netops.current_of(container)
    if any(n in raw for n in NETWORK):
        request = Request(bridge=raw.get("bridge", "").strip() or None, address=raw.get("address"))
        net = netops.prepare(container.name, container.lxcpath, request, current)
    try:
        return _commit(container, raw, wanted, net, ctx, text, loaded if run_recipes else None)
    except BaseException:
        if net is not None and net.claim is not None:
            with contextlib.suppress(LxcprovError):
                netops.unclaim(net.intent, current.intent)
        raise


def check_words(words: list[str]) -> None:
    """The KEY=VALUE words are valid settings with valid values (what can be checked
    without a container): `set` on several containers checks once, before the first."""
    settings_table.check(parse_assignments(words))


def check_names(lxcpath: Path, words: list[str]) -> None:
    """Every plain name among `set`'s words is a container, checked before the first one
    is changed (patterns are resolved, and refused when they match nothing, by targets):
    a word that names none is refused, and one that is a setting's name followed by a
    value (`cpus 2`, a missed '=') is shown as the setting it was meant to be."""
    for index, word in enumerate(words):
        if "=" in word or targets.is_pattern(word):
            continue
        lxc.check_name(word)
        if lxc.Container(word, lxcpath).exists():
            continue
        following = words[index + 1] if index + 1 < len(words) else None
        meant = settings_table.missed_equals(word, following)
        if meant is not None:
            raise InvalidArgumentError(
                f"no container {word!r} in {lxcpath} (did you mean {meant!r}?)",
                hint="a setting is one word, KEY=VALUE: lxcprov set web1 memory=512M cpus=2",
            )
        known = [c.name for c in lxc.list_containers(lxcpath)]
        raise NoSuchContainerError(
            f"no container {word!r} in {lxcpath}{did_you_mean(word, known)}",
            hint="nothing was changed; list the containers with: lxcprov ls",
        )


def set_words(container: lxc.Container, words: list[str]) -> list[Result]:
    """`lxcprov set NAME KEY=VALUE...`: the words parsed, then set_settings."""
    lxc.require_root()
    return set_settings(container, parse_assignments(words))


def _commit(
    container: lxc.Container,
    raw: dict[str, str],
    wanted: dict[str, Wanted],
    net: Decision | None,
    ctx: Ctx,
    text: str,
    loaded: list[recipes.Recipe] | None,
) -> list[Result]:
    """Carry out what `_set` validated, in this order: the config file, the network's
    books and forwards, the recipes of the roles touched, live cgroup writes; then say
    what became of each setting."""
    # First: its refusals (a limit added or lowered while it runs, below what is used)
    # come before anything else of this `set` changes.
    disk = (
        _commit_disk(container, raw["disk"], own_journal=loaded is not None)
        if "disk" in raw
        else None
    )
    running = container.running()
    settings = {name: w for name, w in wanted.items() if name not in NOT_KEYS}
    changes, changed_by = _config_changes(settings, net, ctx)
    section = frozenset(k for w in settings.values() if w.in_section for k in w.keys)
    new_text = lxcconf.update(text, changes, section=section)
    if new_text != text:
        lxcconf.write(container.config_path, new_text)
    faults.stop_if("set-written")  # the config written, nothing else yet (crash tests)
    followed = _move_network(container, net) if net is not None and net.changed else []
    roles = _roles_of(settings, net)
    made = _run_roles(container, roles) if loaded is not None and roles else {}
    results = [
        _setting_result(container, name, w, changed_by[name], made, running=running)
        for name, w in settings.items()
    ]
    if "mounts" in raw:
        results.append(_commit_mounts(container, raw["mounts"]))
    if disk is not None:
        results.append(disk)
    if net is not None:
        results.append(_network_result(raw, net, made.get("network", 0), followed,
                                       running=running))  # fmt: skip
    return results


def _config_changes(
    settings: dict[str, Wanted], net: Decision | None, ctx: Ctx
) -> tuple[dict[str, str | None], dict[str, bool]]:
    """The config keys to write (None: removed), and which settings change any key."""
    changes: dict[str, str | None] = {}
    changed_by: dict[str, bool] = {}
    for name, w in settings.items():
        changed_by[name] = any(ctx.get(k) != v for k, v in w.keys.items())
        changes.update(w.keys)
    if net is not None:
        changes.update(net.keys)
    return changes, changed_by


def _move_network(container: lxc.Container, net: Decision) -> list[str]:
    """The container's new network recorded, its old address given back, its published
    ports following it; what the ports did."""
    before = netops.current_of(container).intent
    netintent.save(container.lxcpath / container.name, net.intent)
    if net.release is not None:
        netops.release(net.release)
    return forwards_op.follow(container, before, net.intent)


def _roles_of(settings: dict[str, Wanted], net: Decision | None) -> set[Role]:
    """The recipe roles the settings touch (the network's, whenever it is set)."""
    roles: set[Role] = {r for w in settings.values() for r in w.roles}
    if net is not None:
        roles.add("network")
    return roles


def _setting_result(
    container: lxc.Container,
    name: str,
    w: Wanted,
    keys_changed: bool,
    made: dict[Role, int],
    *,
    running: bool,
) -> Result:
    """What became of one setting: changed by its keys or its recipes; on a running
    container applied live where it can be (the kernel may refuse), else at next start."""
    count = sum(made.get(r, 0) for r in w.roles)
    changed = keys_changed or count > 0
    detail = plural(count, "rootfs change") if count else ""
    if not changed:
        return Result(name, w.display, "no change", detail)
    if not running:
        return Result(name, w.display, "changed", detail)
    if not w.live:
        return Result(name, w.display, "needs restart", detail)
    refused = _apply_live(container, w.keys)
    if refused:
        why = "the kernel refused it live (" + ", ".join(refused) + ")"
        return Result(name, w.display, "needs restart", why)
    return Result(name, w.display, "changed", "applied to the running container")


def _network_result(
    raw: dict[str, str], net: Decision, count: int, followed: list[str], *, running: bool
) -> Result:
    """What became of bridge= or address=: its rootfs changes and forwards in the detail."""
    status: Status = "no change"
    if net.changed or count:
        status = "needs restart" if running else "changed"
    setting = "address" if "address" in raw else "bridge"
    detail = "; ".join([plural(count, "rootfs change")] * bool(count) + followed)
    return Result(setting, net.display, status, detail)


def _commit_disk(container: lxc.Container, raw: str, *, own_journal: bool) -> Result:
    done = disk_op.set_disk(container, raw, own_journal=own_journal)
    return Result("disk", done.display, done.status, done.detail)


def _commit_mounts(container: lxc.Container, raw: str) -> Result:
    done = mounts_op.replace_all(container, mount_specs.parse_specs(raw))
    changed = [r for r in done if r.status != "no change"]
    status: Status = "no change"
    if any(r.status == "needs restart" for r in done):
        status = "needs restart"
    elif changed:
        status = "changed"
    shown_value = ", ".join(r.mount.spec() for r in done if r.status != "removed") or "none"
    detail = "; ".join(f"{r.mount.target}: {r.detail}" for r in changed if r.detail)
    return Result("mounts", shown_value, status, detail)


def check(
    values: Mapping[str, str], host: CgroupHost | None = None, lxcpath: Path | None = None
) -> None:
    """Validate settings without a container (for `new`, before the slow template run);
    a disk limit against the filesystem of lxcpath."""
    room = diskimage.room(lxcpath) if lxcpath is not None else None
    settings_table.check(values, host or cgroups.detect(), room)


# ---- show ---------------------------------------------------------------------------


@dataclass
class Shown:
    settings: dict[str, str]  # setting -> value with units ("-" when not set)
    raw: list[tuple[str, str]]  # every key = value of the config file, in order
    cgroup: str
    running: bool
    ports: list[dict[str, object]] = field(default_factory=list)  # published ports
    state: str = "STOPPED"  # LXC's word, as ls spells it
    usage: Stats | None = None  # what it uses now (stats' line of it)

    def as_dict(self) -> dict[str, object]:
        return {
            "settings": self.settings,
            "raw": [{"key": k, "value": v} for k, v in self.raw],
            "cgroup": self.cgroup,
            "running": self.running,
            "state": self.state,
            "ports": self.ports,
            "usage": None if self.usage is None else self.usage.as_dict(),
        }


def show(container: lxc.Container, host: CgroupHost | None = None) -> Shown:
    container.require()
    host = host or cgroups.detect()
    lines = lxcconf.parse(lxcconf.read(container.config_path))
    ctx = Ctx(host, lines, {}, _effective(container))
    intent = netops.current_of(container).intent
    values = settings_table.shown(ctx, container.name)
    values["bridge"] = intent.bridge if intent.mode != "none" else "none"
    values["address"] = intent.address if intent.mode == "static" else intent.mode
    ids = idmap.from_config(container.idmap())
    values["privileged"] = "yes" if ids is None else f"no (host ids {ids.host_uid}..)"
    values["mounts"] = ", ".join(m.spec() for m in mounts_op.listing(container)) or "none"
    values["disk"] = disk_op.describe(container)
    ports = [{**f.as_dict(), "bridge": b} for b, f in forwards_op.listing(container)]
    state = container.state()
    # A CPU% is measured over SHOW_INTERVAL; a stopped container has only its disk.
    interval = SHOW_INTERVAL if state == "RUNNING" else 0.0
    now = stats_op.stats(container.lxcpath, [container.name], interval)[0]
    return Shown(values, lxcconf.items(lines), host.describe(), state != "STOPPED", ports, state,
                 now)  # fmt: skip


# How long `show` measures a running container's CPU%.
SHOW_INTERVAL = 0.25
