"""From a document and what the host has now, to actions: pyinfra's plan-then-apply.

plan_container() takes one ContainerSpec and the Observed state of that container (both
plain data; lxcprov.ops.apply.observe gathers the observation) and returns its actions in
the order they are carried out, each with a reason. A no-op is an action too (change
False), with its reason: a second `apply` of the same document shows every key it checked
and why nothing is left to do.

What needs a new rootfs (template, release, template arguments, privileged, isolated) is
an action that is blocked without --replace; everything else is what `set`, `mount`,
`forward`, the root-access recipe, files and first-boot commands can change in place.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from lxcprov.engine import disklimit, settings_table
from lxcprov.engine.apply.document import ContainerSpec, Document, static_ip
from lxcprov.engine.apply.files import FileNow, plan_file, unified
from lxcprov.engine.devices import Device
from lxcprov.engine.mounts import Mount
from lxcprov.engine.network import owner_of
from lxcprov.engine.publish import Publish
from lxcprov.engine.sizes import format_size
from lxcprov.errors import LxcprovError
from lxcprov.system import lxcconf
from lxcprov.system.cgroups import CgroupHost
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.journal import REMOVAL, left_as
from lxcprov.system.netintent import NetIntent
from lxcprov.system.origin import Origin

ActionKind = Literal[
    "create", "replace", "remove", "setting", "network", "mounts", "publish", "devices",
    "access", "file", "start", "stop", "run", "groups", "wait",
]  # fmt: skip
# What ls calls a container, and ABSENT for one that does not exist.
ObservedState = Literal["RUNNING", "STOPPED", "ABSENT", "INCOMPLETE", "CREATING", "BROKEN"]


@dataclass(frozen=True)
class Observed:
    """One container as it is now (everything the planner may look at)."""

    name: str
    lxcpath: str
    state: ObservedState = "ABSENT"
    problem: str = ""  # INCOMPLETE, CREATING, BROKEN: what ls says
    leftover: str = ""  # INCOMPLETE: the command that was killed
    made_by_lxcprov: bool = False
    origin: Origin | None = None  # what it was made from (None: cannot tell)
    privileged: bool | None = None
    isolated: bool | None = None
    config: tuple[lxcconf.Line, ...] = ()
    effective: Mapping[str, str] = field(default_factory=dict)  # liblxc's, for non-file keys
    intent: NetIntent = field(default_factory=NetIntent)
    mounts: tuple[Mount, ...] = ()
    disk: int | None = None  # its disk limit in bytes (None: none)
    forwards: tuple[Forward, ...] = ()
    devices: tuple[Device, ...] = ()  # the ones lxcprov's record in its config gives
    # The document's devices as the host has them now: each name or path -> its paths (a
    # symlink resolved, gpu -> every render node), or why the host has none.
    device_paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    device_problem: str = ""
    # Recorded, but not bound in the running container (a command killed in between).
    devices_unbound: tuple[str, ...] = ()
    # The root-access recipe's changes for the document's password and keys (None: not
    # looked at, since the document gives neither).
    access: tuple[str, ...] | None = None
    files: Mapping[str, FileNow] = field(default_factory=dict)
    passwd: str = ""
    group: str = ""
    done: frozenset[str] = frozenset()  # ids of the first-boot commands that ran
    groups: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return self.state in ("RUNNING", "STOPPED", "CREATING", "BROKEN")

    @property
    def owner(self) -> str:
        return owner_of(self.name, self.lxcpath)


@dataclass(frozen=True)
class HostView:
    """What the whole host has, for checks across containers."""

    cgroup: CgroupHost
    default_bridge: str | None = None
    # bridge -> address -> owner (static addresses and reservations of every bridge)
    addresses: Mapping[str, Mapping[ipaddress.IPv4Address, str]] = field(default_factory=dict)
    forwards: tuple[Forward, ...] = ()  # of every bridge


@dataclass(frozen=True)
class Options:
    replace: bool = False
    prune: bool = False


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    change: bool
    reason: str
    key: str = ""  # the setting, path, mount target, port or command id it is about
    before: str = ""
    after: str = ""
    diff: str = ""  # a unified diff (files)
    blocked: str = ""  # a change that is not made, and why (needs --replace, ...)
    restart: bool = False  # a running container takes it at its next start

    @property
    def pending(self) -> bool:
        return self.change and not self.blocked

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "change": self.pending,
                                  "reason": self.reason}  # fmt: skip
        for name in ("key", "before", "after", "diff", "blocked"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.restart:
            out["restart"] = True
        return out


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    actions: tuple[Action, ...] = ()
    error: str = ""  # cannot be converged as the document says: one line, nothing done
    prune: bool = False  # not in the document

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.pending]

    @property
    def blocked(self) -> list[Action]:
        return [a for a in self.actions if a.change and a.blocked]

    def kinds(self) -> set[str]:
        return {a.kind for a in self.changes}


@dataclass(frozen=True)
class Plan:
    containers: tuple[ContainerPlan, ...]

    @property
    def changed(self) -> bool:
        return any(c.changes for c in self.containers)

    @property
    def errors(self) -> list[ContainerPlan]:
        return [c for c in self.containers if c.error]


class _Refused(Exception):
    """The container cannot be converged; the message says why."""


# ---- one container ------------------------------------------------------------------


def plan_container(
    spec: ContainerSpec, obs: Observed, host: HostView, options: Options
) -> ContainerPlan:
    try:
        actions = _plan(spec, obs, host, options)
    except _Refused as exc:
        return ContainerPlan(spec.name, error=str(exc))
    return ContainerPlan(spec.name, tuple(actions))


def _plan(spec: ContainerSpec, obs: Observed, host: HostView, options: Options) -> list[Action]:
    if obs.state == "BROKEN":
        raise _Refused(obs.problem or f"LXC cannot load the config of {spec.name}")
    if spec.state == "absent":
        return [_remove(spec, obs)]
    if spec.from_count and obs.exists and not obs.made_by_lxcprov:
        raise _Refused(
            f"{spec.name} exists and lxcprov did not make it: a count never takes over a "
            f"container (declare it by its name to manage it; {spec.declared})"
        )
    _check_claims(spec, obs, host)
    if obs.state == "CREATING":
        return [Action("wait", True, f"{obs.problem}: planned again once it is done")]
    if obs.state == "INCOMPLETE":
        if obs.leftover not in ("new", "apply", REMOVAL):
            raise _Refused(f"{spec.name} was left half-made by `lxcprov {obs.leftover}`; "
                           "finish that command first")  # fmt: skip
        return _create(
            spec, f"left {left_as(obs.leftover)} by {obs.problem}: removed and made again"
        )
    if not obs.exists:
        return _create(spec, "does not exist")
    recreate = _recreate(spec, obs)
    if recreate and options.replace:
        if not obs.made_by_lxcprov:
            raise _Refused(f"{spec.name} needs a new rootfs ({recreate}) but lxcprov did "
                           "not make it: it never removes what it did not create")  # fmt: skip
        return _create(spec, recreate, kind="replace")
    actions: list[Action] = []
    if recreate:
        actions.append(Action("replace", True, recreate, blocked="needs --replace (a new "
                              "rootfs; MAC and address are kept)"))  # fmt: skip
    actions += _settings(spec, obs, host)
    actions += _network(spec, obs, host.default_bridge)
    actions += _mounts(spec, obs)
    actions += _publish(spec, obs)
    actions += _devices(spec, obs)
    actions += _access(spec, obs)
    actions += _files(spec, obs)
    actions += _first_boot(spec, obs)  # they start a stopped container for themselves
    actions += _state(spec, obs)
    actions += _groups(spec, obs)
    return actions


def _remove(spec: ContainerSpec, obs: Observed) -> Action:
    if not obs.exists and obs.state != "INCOMPLETE":
        return Action("remove", False, "absent already")
    if not obs.made_by_lxcprov and obs.state != "INCOMPLETE":
        raise _Refused(f"{spec.name} is to be absent but lxcprov did not make it: it never "
                       f"removes what it did not create (lxc-destroy -n {spec.name})")  # fmt: skip
    return Action("remove", True, "state = absent")


def _create(spec: ContainerSpec, reason: str, kind: ActionKind = "create") -> list[Action]:
    if not spec.template and not spec.image:
        raise _Refused(f"{spec.name} is to be made ({reason}) but the document gives no "
                       f"template or image ({spec.declared})")  # fmt: skip
    made = [spec.template or f"image {spec.image}"]
    if spec.release:
        made.append(spec.release)
    made += [f"{k} {v}" for k, v in spec.settings.items()]
    if spec.bridge == "none" or (spec.address or "").lower() == "none":
        made.append("no network")
    elif spec.address or spec.bridge:
        made.append(f"address {spec.address or 'dhcp'} on {spec.bridge or 'the default bridge'}")
    if spec.devices:
        made.append("devices " + " ".join(spec.devices))
    actions = [Action(kind, True, reason, after=", ".join(made))]
    for f in spec.files or ():
        actions.append(Action("file", True, "new file", f.path, diff=unified(f.path, None, f.data)))
    for c in spec.first_boot or ():
        actions.append(Action("run", True, "first boot", c.id, after=c.run))
    if spec.state == "stopped" and spec.first_boot:
        actions.append(Action("stop", True, "state = stopped (after its first boot)"))
    if spec.groups:
        actions.append(Action("groups", True, "new container", after=" ".join(spec.groups)))
    return actions


def _recreate(spec: ContainerSpec, obs: Observed) -> str:
    """What the document wants that only a new rootfs gives ("" when nothing)."""
    why: list[str] = []
    origin = obs.origin
    if origin is not None:
        # A different image reference, or a template for an image (or the reverse), needs
        # a new rootfs as a different template does; the same reference is not read again
        # (a tarball rewritten in place, a registry tag moved on: --replace takes them).
        was = f"image {origin.image}" if origin.image else f"template {origin.template}"
        if spec.image and spec.image != origin.image:
            why.append(f"{was} -> image {spec.image}")
        if spec.template and (origin.image or spec.template != origin.template):
            why.append(f"{was} -> template {spec.template}" if origin.image
                       else f"template {origin.template} -> {spec.template}")  # fmt: skip
        if spec.release and spec.release != origin.release:
            why.append(f"release {origin.release or '(none)'} -> {spec.release}")
        args = spec.template_args
        if args is not None and tuple(args) != origin.template_args:
            old = " ".join(origin.template_args) or "(none)"
            why.append(f"template_args {old} -> {' '.join(args) or '(none)'}")
    for key in ("privileged", "isolated"):
        want, have = getattr(spec, key), getattr(obs, key)
        if want is not None and have is not None and want != have:
            why.append(f"{key} {_yes(have)} -> {_yes(want)}")
    return "; ".join(why)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _settings(spec: ContainerSpec, obs: Observed, host: HostView) -> list[Action]:
    if not spec.settings:
        return []
    ctx = settings_table.Ctx(host.cgroup, list(obs.config), dict(spec.settings),
                             lambda key: obs.effective.get(key))  # fmt: skip
    shown = settings_table.shown(ctx, spec.name)
    running = obs.state == "RUNNING"
    actions = []
    for name, value in spec.settings.items():
        try:
            wanted = settings_table.SETTINGS[name].compute(value, ctx)
        except LxcprovError as exc:
            raise _Refused(f"{spec.at(_key_of(name))}: {exc.message}") from None
        changed = any(ctx.get(k) != v for k, v in wanted.keys.items())
        before = shown.get(name, "-")
        if name == "disk":  # an image, not a config key: its size is the limit
            changed = disklimit.parse(value) != obs.disk
            before = format_size(obs.disk)
        if changed:
            actions.append(Action("setting", True, f"{before} -> {wanted.display}", name,
                                  before, wanted.display,
                                  restart=running and not wanted.live))  # fmt: skip
        else:
            actions.append(Action("setting", False, f"already {wanted.display}", name))
    return actions


def _key_of(setting: str) -> str:
    return setting.replace("-", "_")


def _net_text(intent: NetIntent) -> str:
    if intent.mode == "none":
        return "none"
    what = intent.address if intent.mode == "static" else "dhcp"
    return f"{what} on {intent.bridge}"


def _network(spec: ContainerSpec, obs: Observed, default_bridge: str | None) -> list[Action]:
    if spec.bridge is None and spec.address is None:
        return []
    now = obs.intent
    address = (spec.address or "").strip().lower()
    bridge = spec.bridge or now.bridge or default_bridge or "the default bridge"
    if spec.bridge == "none" or address == "none":
        changed, after = now.mode != "none", "none"
    else:
        changed = now.mode == "none" or (spec.bridge is not None and now.bridge != spec.bridge)
        if address == "dhcp":
            changed = changed or now.mode != "dhcp"
            after = f"dhcp on {bridge}"
        elif address == "auto":
            changed = changed or now.mode != "static"
            after = f"auto on {bridge}"
        elif address:
            iface = ipaddress.IPv4Interface(spec.address or "")
            same = now.mode == "static" and _same_ip(now.address, iface, "/" in address)
            changed = changed or not same
            after = f"{spec.address} on {bridge}"
        else:  # a bridge alone: the address stays what it is (set refuses a static move)
            after = f"{now.address if now.mode == 'static' else 'dhcp'} on {bridge}"
    before = _net_text(now)
    if not changed:
        return [Action("network", False, f"already {before}")]
    return [Action("network", True, f"{before} -> {after}", "", before, after,
                   restart=obs.state == "RUNNING")]  # fmt: skip


def _same_ip(current: str, wanted: ipaddress.IPv4Interface, with_prefix: bool) -> bool:
    try:
        now = ipaddress.IPv4Interface(current)
    except ValueError:
        return False
    return now == wanted if with_prefix else now.ip == wanted.ip


def _mounts(spec: ContainerSpec, obs: Observed) -> list[Action]:
    if spec.mounts is None:
        return []
    now = {m.target: m for m in obs.mounts}
    wanted = {m.target: m for m in spec.mounts}
    actions = []
    for target, m in sorted(wanted.items()):
        if now.get(target) == m:
            continue
        old = now.get(target)
        reason = f"{old.spec()} -> {m.spec()}" if old else f"add {m.spec()}"
        actions.append(Action("mounts", True, reason, target, old.spec() if old else "", m.spec()))
    for target in sorted(set(now) - set(wanted)):
        actions.append(Action("mounts", True, f"remove {now[target].spec()}", target,
                              now[target].spec(), ""))  # fmt: skip
    if not actions:
        count = len(wanted)
        what = f"exactly these {count} mounts" if count else "no mounts"
        return [Action("mounts", False, f"{what} already")]
    return actions


def _publish_key(p: Publish) -> tuple[str, int, str, int]:
    return (p.proto, p.host_port, p.host_addr, p.container_port)


def _forward_key(f: Forward) -> tuple[str, int, str, int]:
    return (f.proto, f.host_port, f.host_addr, f.container_port)


def forward_spec(f: Forward) -> str:
    return Publish(f.host_port, f.container_port, f.proto, f.host_addr).spec()


def _publish(spec: ContainerSpec, obs: Observed) -> list[Action]:
    if spec.publish is None:
        return []
    now = {_forward_key(f): f for f in obs.forwards}
    wanted = {_publish_key(p): p for p in spec.publish}
    actions = []
    for key, p in wanted.items():
        if key not in now:
            actions.append(Action("publish", True, f"publish {p.spec()}", p.spec(), "", p.spec()))
    for key, f in now.items():
        if key not in wanted:
            text = forward_spec(f)
            actions.append(Action("publish", True, f"unpublish {text}", text, text, ""))
    if not actions:
        what = f"exactly these {len(wanted)} ports" if wanted else "no published ports"
        return [Action("publish", False, f"{what} already")]
    return actions


def _devices(spec: ContainerSpec, obs: Observed) -> list[Action]:
    """Exactly the document's devices, compared by their host paths (a device's mode and
    owner, which `device add --mode/--uid` may have chosen, are left as they are)."""
    if spec.devices is None:
        return []
    missing = [s for s in spec.devices if s not in obs.device_paths]
    if obs.device_problem or missing:
        why = obs.device_problem or f"{missing[0]} was not looked at on this host"
        raise _Refused(f"{spec.at('devices')}: {why}")
    wanted = sorted({p for s in spec.devices for p in obs.device_paths[s]})
    now = sorted(d.path for d in obs.devices)
    actions = [Action("devices", True, f"add {p}", p, "", p) for p in wanted if p not in now]
    actions += [Action("devices", True, f"bind {p} in the running container (recorded, not "
                       "there)", p, "", p) for p in wanted if p in obs.devices_unbound]  # fmt: skip
    actions += [Action("devices", True, f"remove {p}", p, p, "") for p in now
                if p not in wanted]  # fmt: skip
    if not actions:
        what = f"exactly these {len(wanted)} devices" if wanted else "no devices"
        return [Action("devices", False, f"{what} already")]
    return actions


def _access(spec: ContainerSpec, obs: Observed) -> list[Action]:
    if spec.root_password_file is None and spec.ssh_keys is None:
        return []
    if not obs.access:
        return [Action("access", False, "root's password and keys are already the ones given")]
    return [Action("access", True, "; ".join(obs.access), restart=False)]


def _files(spec: ContainerSpec, obs: Observed) -> list[Action]:
    actions = []
    for f in spec.files or ():
        now = obs.files.get(f.path, FileNow("absent"))
        change = plan_file(f, now, obs.passwd, obs.group)
        if change.problem:
            raise _Refused(f"{spec.at('files')}: {change.problem}")
        actions.append(Action("file", change.change, change.reason, f.path, diff=change.diff))
    return actions


def _state(spec: ContainerSpec, obs: Observed) -> list[Action]:
    running = obs.state == "RUNNING"
    if spec.state == "started" and not running:
        return [Action("start", True, "stopped; state = started")]
    if spec.state == "stopped" and running:
        return [Action("stop", True, "running; state = stopped")]
    return []


def _first_boot(spec: ContainerSpec, obs: Observed) -> list[Action]:
    actions = []
    for c in spec.first_boot or ():
        if c.id in obs.done:
            actions.append(Action("run", False, "ran already", c.id, after=c.run))
        else:
            actions.append(Action("run", True, "not run yet", c.id, after=c.run))
    return actions


def _groups(spec: ContainerSpec, obs: Observed) -> list[Action]:
    if spec.groups is None or tuple(spec.groups) == obs.groups:
        return []
    before, after = " ".join(obs.groups) or "(none)", " ".join(spec.groups) or "(none)"
    return [Action("groups", True, f"{before} -> {after}", before=before, after=after)]


def _check_claims(spec: ContainerSpec, obs: Observed, host: HostView) -> None:
    """A static address or host port the document gives that another container holds."""
    owner = obs.owner
    ip = static_ip(spec)
    bridge = spec.bridge or obs.intent.bridge or host.default_bridge or ""
    if ip is not None:
        holder = host.addresses.get(bridge, {}).get(ip)
        if holder is not None and holder != owner:
            raise _Refused(f"{spec.at('address')}: {ip} is taken on {bridge} by "
                           f"{holder.split('@')[0]} ({holder})")  # fmt: skip
    for p in spec.publish or ():
        for f in host.forwards:
            if f.owner == owner or (f.proto, f.host_port) != (p.proto, p.host_port):
                continue
            if not p.host_addr or not f.host_addr or p.host_addr == f.host_addr:
                raise _Refused(f"{spec.at('publish')}: host port {p.host_port}/{p.proto} is "
                               f"published for {f.owner.split('@')[0]} ({f.owner})")  # fmt: skip


# ---- the document -------------------------------------------------------------------


def plan_document(
    doc: Document,
    observed: Mapping[str, Observed],
    others: list[Observed],
    host: HostView,
    options: Options,
) -> Plan:
    """Every container of the document, then (with --prune) the ones lxcprov made that the
    document does not name; containers lxcprov did not make are never pruned."""
    plans: list[ContainerPlan] = []
    for o in others:
        if not options.prune:
            continue
        if o.made_by_lxcprov or o.state == "INCOMPLETE":
            plans.append(ContainerPlan(o.name, (Action("remove", True, "not in the document "
                                                       "(--prune)"),), prune=True))  # fmt: skip
        else:
            plans.append(ContainerPlan(o.name, (Action("remove", False, "not in the document, "
                         "but lxcprov did not make it: kept"),), prune=True))  # fmt: skip
    for spec in doc.containers:
        plans.append(plan_container(spec, observed[spec.name], host, options))
    return Plan(tuple(plans))
