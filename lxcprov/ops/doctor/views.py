"""Observe the host and a container into plain data; the checks judge that data.

Nothing here changes anything. Every observation is tolerant: what cannot be read
becomes "absent"/"unknown" in the view, so one broken piece never hides the others.
Containers are read from their config file and rootfs, never started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from lxcprov.engine import idmap, recipes
from lxcprov.engine.facts import Facts, gather
from lxcprov.engine.hostlimits import BridgeUse, HostUse
from lxcprov.engine.lines import split_lines
from lxcprov.engine.network import owner_of
from lxcprov.engine.recipes.actions import root_home
from lxcprov.errors import LxcprovError
from lxcprov.ops import devices, idmaps, limits, mounts, workspace
from lxcprov.system import (
    cgroups,
    containerfs,
    diskimage,
    hostnet,
    journal,
    lxc,
    lxcfs,
    netintent,
    run,
)
from lxcprov.system.hostnet.nat import Dnat, dnat_of
from lxcprov.system.netintent import NetIntent
from lxcprov.system.rootfs import FileInfo, Rootfs

CgroupLayout = Literal["v1", "v2", "hybrid", "none"]
BootUnit = Literal["enabled", "disabled", "no-systemd"]
UNIT = "lxcprov.service"
# Where an enabled unit's WantedBy link lives (systemctl enable writes under /etc).
UNIT_DIRS = ("/etc/systemd/system",)
RootHash = Literal["set", "locked", "empty", "absent"]

# DHCP servers we recognise serving a bridge we do not manage (lxc-net runs dnsmasq).
_DHCP_PROGRAMS = {"dnsmasq", "dhcpd", "udhcpd", "kea-dhcp4"}


@dataclass(frozen=True)
class CgroupView:
    layout: CgroupLayout
    v1: frozenset[str] = frozenset()  # controllers mounted as v1 hierarchies
    v2: frozenset[str] = frozenset()  # controllers available in the unified hierarchy


@dataclass(frozen=True)
class BridgeView:
    name: str
    exists: bool
    is_bridge: bool = False
    up: bool = False
    managed: bool = False  # `lxcprov net setup` knows this bridge
    dhcp_wanted: bool = False  # managed with DHCP on
    dhcp_server: bool = False  # a live DHCP server serves it
    nat_wanted: bool = False
    nat_present: bool = False
    forward_blocked: tuple[str, ...] = ()  # foreign FORWARD drop rules (net status warnings)
    # A managed bridge's published ports as forwards.json lists them, and the DNAT rules
    # its nftables table has (None: not read, as for a user who is not root).
    listed: tuple[Dnat, ...] = ()
    dnat_rules: tuple[Dnat, ...] | None = None


@dataclass(frozen=True)
class HostView:
    root: bool
    lxc_version: str | None  # None: lxc is not installed
    python_lxc: str | None  # None: python3-lxc is not importable
    namespaces: frozenset[str]
    cgroup: CgroupView
    apparmor: bool | None  # None: AppArmor is not in this kernel
    apparmor_parser: bool
    apparmor_profiles: frozenset[str]
    ip_forward: bool
    bridges: tuple[BridgeView, ...] = ()
    default_bridge: str = hostnet.settings.DEFAULT_BRIDGE
    # The kernel limits many containers meet, and each managed bridge's room (None: not
    # observed, as for a user who is not root: other users' fds are not readable).
    limits: HostUse | None = None
    bridge_limits: tuple[BridgeUse, ...] = ()
    # (bridge, owner, address) of static addresses whose container does not exist
    stale_addresses: tuple[tuple[str, str, str], ...] = ()
    # Why root's subordinate ids cannot serve unprivileged containers ("" when they can).
    subids_problem: str = ""
    # Containers of the lxcpath doctor looks at that should start at boot, that lxcpath,
    # and how the host starts them: "enabled" (lxcprov.service), "disabled", "no-systemd".
    autostart: tuple[str, ...] = ()
    lxcpath: str = ""
    boot_unit: BootUnit = "disabled"
    lxcfs: lxcfs.State = "running"  # absent (not installed), stopped or running

    def bridge(self, name: str) -> BridgeView:
        return next((b for b in self.bridges if b.name == name), BridgeView(name, exists=False))

    def as_dict(self) -> dict[str, object]:
        return {
            "root": self.root,
            "lxc_version": self.lxc_version,
            "python_lxc": self.python_lxc,
            "namespaces": sorted(self.namespaces),
            "cgroup_layout": self.cgroup.layout,
            "cgroup_v1_controllers": sorted(self.cgroup.v1),
            "cgroup_v2_controllers": sorted(self.cgroup.v2),
            "apparmor": self.apparmor,
            "ip_forward": self.ip_forward,
        }


@dataclass(frozen=True)
class ForwardView:
    """A published port of the container and what must agree with it."""

    label: str
    address: str  # where the DNAT rule sends it
    booked: str  # the bridge's address book entry for the container ("": none)
    mac: str  # the MAC the bridge's books have for it ("": none)


@dataclass(frozen=True)
class ContainerView:
    name: str
    config_path: str
    config: dict[str, str]  # the keys lxc.Container.config() gives (net.0, tty, rootfs...)
    raw: tuple[tuple[str, str], ...]  # every key = value of the config file and its includes
    rootfs_path: str
    rootfs_exists: bool | None  # None: not a plain directory, so not inspected
    net: NetIntent = field(default_factory=NetIntent)
    facts: Facts | None = None
    # recipe name -> descriptions of the changes it would still make (planned without secrets)
    pending: dict[str, tuple[str, ...]] = field(default_factory=dict)
    root_hash: RootHash = "absent"
    root_keys: bool = False  # a non-empty authorized_keys for root
    hostname: str | None = None  # /etc/hostname
    getty_missing: tuple[str, ...] = ()  # terminals (console, ttyN) no getty will answer on
    # role -> the recipes that provide it (to name them in fix commands)
    role_recipes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ids: idmap.IdMap | None = None  # its id map (None: privileged)
    rootfs_owner: tuple[int, int] | None = None  # host uid and gid of its rootfs's /
    forwards: tuple[ForwardView, ...] = ()  # its published ports
    running_ipv4: tuple[str, ...] | None = None  # None: not running
    devices_missing: tuple[str, ...] = ()  # host devices it was given that the host lacks
    devices_other: tuple[str, ...] = ()  # ... whose path holds another device now
    # Its shares not mounted in it while it runs: (target, the `mount add` that mounts it)
    shares_not_mounted: tuple[tuple[str, str], ...] = ()
    # Container engines installed inside (dockerd, podman): they need nesting=yes.
    engines: tuple[str, ...] = ()
    disk_stale_loops: tuple[str, ...] = ()  # loop devices of its images nothing mounts
    # (what the lxcpath's disk images can still grow by, the bytes free): only when more
    disk_growth: tuple[int, int] | None = None

    def pending_for(self, role: str) -> tuple[str, ...]:
        """The recipes of role that have changes pending, in apply order."""
        return tuple(r for r in self.role_recipes.get(role, ()) if r in self.pending)

    def links(self) -> list[str]:
        """Bridges the container's veth interfaces attach to, in config order."""
        return links(self.raw, self.config)

    def values(self, prefix: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.raw if k.startswith(prefix)]


def links(raw: tuple[tuple[str, str], ...], config: dict[str, str]) -> list[str]:
    """Bridges a container's veth interfaces attach to, in config order."""
    types = {k.rsplit(".", 1)[0]: v for k, v in raw if k.endswith(".type")}
    seen: list[str] = []
    for key, value in raw:
        is_link = key.startswith("lxc.net.") and key.endswith(".link") and value
        if is_link and types.get(key.rsplit(".", 1)[0]) == "veth" and value not in seen:
            seen.append(value)
    link = config.get("lxc.net.0.link", "")
    if link and link not in seen and config.get("lxc.net.0.type") == "veth":
        seen.insert(0, link)
    return seen


# -- host ----------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _cgroup() -> CgroupView:
    host = cgroups.detect()
    return CgroupView(host.layout, host.v1, host.v2)


def _lxc_version() -> str | None:
    if shutil.which("lxc-create") is None:
        return None
    try:
        return run.run(["lxc-create", "--version"], check=False).stdout.strip() or "unknown"
    except (OSError, LxcprovError):
        return "unknown"


def _python_lxc() -> str | None:
    try:
        import lxc as pylxc
    except ImportError:
        return None
    return str(getattr(pylxc, "version", "unknown"))


def foreign_dhcp_server(bridge: str) -> bool:
    """A DHCP server process whose command line names this bridge (lxc-net's dnsmasq)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) not in _DHCP_PROGRAMS:
            continue
        for arg in argv[1:]:
            value = arg.split("=", 1)[-1]
            if value == bridge or value.split(",")[0] == bridge:
                return True
    return False


def observe_bridge(name: str, root: bool) -> BridgeView:
    # A netlink or nftables failure stops doctor with its own error: reporting a bridge as
    # absent (or its NAT as missing) because it could not be read would be a wrong answer.
    state = hostnet.link(name)  # exists, bridge, up: sysfs is enough (no netlink import)
    saved = hostnet.load_settings(name)
    if state is None:
        return BridgeView(name, exists=False, managed=saved is not None)
    nat_present, dnsmasq_alive = False, False
    blocked: tuple[str, ...] = ()
    listed: tuple[Dnat, ...] = ()
    rules: tuple[Dnat, ...] | None = None
    if root and saved is not None:
        st = hostnet.health(name)  # one nft listing: the table's rules come with it
        nat_present, dnsmasq_alive = st.nat_table, st.dnsmasq_pid is not None
        blocked = st.warnings
        listed, rules = tuple(dnat_of(f) for f in st.forwards), st.dnat_rules
    dhcp = (saved is not None and saved.dhcp and dnsmasq_alive) or foreign_dhcp_server(name)
    return BridgeView(
        name,
        exists=True,
        is_bridge=state.is_bridge,
        up=state.up,
        managed=saved is not None,
        dhcp_wanted=saved is not None and saved.dhcp,
        dhcp_server=dhcp,
        nat_wanted=saved is not None and saved.nat,
        nat_present=nat_present,
        forward_blocked=tuple(blocked),
        listed=listed,
        dnat_rules=rules,
    )


def owner_exists(owner: str) -> bool:
    """Whether the container an address book entry (name@lxcpath) names exists or is being
    made (a command's journal is there). One a killed destroy left without its files is
    gone: its address and ports are given back here, before a `net setup` fix of the same
    run would forward them again, and `destroy --force` then ends its journal."""
    name, _, lxcpath = owner.partition("@")
    if not name or not lxcpath.startswith("/"):
        return True  # not an owner lxcprov wrote: not ours to judge
    path = Path(lxcpath)
    if (path / name / "config").exists():
        return True
    try:
        entry = journal.read(path, name)
    except LxcprovError:
        return True  # a journal that does not parse: doctor NAME says so
    return entry is not None and (entry.running or entry.command != journal.REMOVAL)


def stale_addresses() -> tuple[tuple[str, str, str], ...]:
    found = []
    for bridge in sorted(hostnet.settings.load_config().bridges):
        for owner, address in sorted(hostnet.address_book(bridge).items()):
            if not owner_exists(owner):
                found.append((bridge, owner, str(address)))
    return tuple(found)


def _subids_problem() -> str:
    try:
        found = idmaps.root_range()
    except LxcprovError as exc:
        return exc.message
    missing = [f for f, line in (("/etc/subuid", found.add_uid_line),
                                  ("/etc/subgid", found.add_gid_line)) if line]  # fmt: skip
    return f"root has no subordinate ids in {' and '.join(missing)}" if missing else ""


def boot_unit() -> BootUnit:
    """Whether lxcprov.service starts autostart containers when the host boots."""
    if not Path("/run/systemd/system").is_dir():
        return "no-systemd"
    wants = [Path(d) / "multi-user.target.wants" / UNIT for d in UNIT_DIRS]
    return "enabled" if any(p.exists() for p in wants) else "disabled"


def autostart_names(lxcpath: Path | None) -> tuple[str, ...]:
    """Containers of lxcpath with lxc.start.auto = 1 (as `set autostart=yes` writes it)."""
    if lxcpath is None:
        return ()
    found = []
    for c in lxc.list_containers(lxcpath):
        with contextlib.suppress(LxcprovError):
            if (c.config_item("lxc.start.auto") or "0").strip() == "1":
                found.append(c.name)
    return tuple(found)


def observe_host(
    bridges: list[str] | None = None, lxcpath: Path | None = None, *, limits_too: bool = False
) -> HostView:
    """The host as doctor needs it; bridges None means the managed ones and the default;
    lxcpath is where its autostart containers are looked for; limits_too: the kernel limits
    many containers meet (the whole host's doctor: it reads every process's fds, which a
    container's closing advice at the end of `new` need not pay for)."""
    root = os.geteuid() == 0
    default = hostnet.default_bridge() or hostnet.settings.DEFAULT_BRIDGE
    if bridges is None:
        names = [default, *sorted(hostnet.settings.load_config().bridges)]
        bridges = list(dict.fromkeys(names))
    try:
        ns = frozenset(os.listdir("/proc/self/ns"))
    except OSError:
        ns = frozenset()
    enabled = _read("/sys/module/apparmor/parameters/enabled")
    profiles = _read("/sys/kernel/security/apparmor/profiles") or ""
    return HostView(
        root=root,
        lxc_version=_lxc_version(),
        python_lxc=_python_lxc(),
        namespaces=ns,
        cgroup=_cgroup(),
        apparmor=None if enabled is None else enabled.strip().upper().startswith("Y"),
        apparmor_parser=shutil.which("apparmor_parser") is not None,
        apparmor_profiles=frozenset(ln.split(" (")[0] for ln in profiles.splitlines() if ln),
        ip_forward=(_read("/proc/sys/net/ipv4/ip_forward") or "0").strip() == "1",
        bridges=tuple(observe_bridge(b, root) for b in bridges),
        default_bridge=default,
        limits=limits.host_use() if root and limits_too else None,
        bridge_limits=_bridge_limits(bridges) if root and limits_too else (),
        stale_addresses=stale_addresses() if root else (),
        subids_problem=_subids_problem(),
        autostart=autostart_names(lxcpath) if root else (),
        lxcpath=str(lxcpath or ""),
        boot_unit=boot_unit(),
        lxcfs=lxcfs.state(),
    )


def _bridge_limits(bridges: list[str]) -> tuple[BridgeUse, ...]:
    found = []
    for b in bridges:
        with contextlib.suppress(LxcprovError):  # an unreadable book is net setup's to say
            if (use := limits.bridge_use(b)) is not None:
                found.append(use)
    return tuple(found)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


# -- container -----------------------------------------------------------------------------


def read_config(path: Path, depth: int = 0) -> list[tuple[str, str]]:
    """key = value pairs of an LXC config file, following lxc.include (files and dirs)."""
    text = _read(str(path))
    if text is None or depth > 5:
        return []
    pairs: list[tuple[str, str]] = []
    for line in split_lines(text):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key == "lxc.include":
            inc = Path(value)
            files = sorted(inc.glob("*.conf")) if inc.is_dir() else [inc]
            for f in files:
                pairs += read_config(f, depth + 1)
        else:
            pairs.append((key, value))
    return pairs


def classify_root_hash(passwd: str, shadow: str | None) -> RootHash:
    """How root's password stands: a real hash, locked, empty, or no entry at all."""
    field_ = None
    for line in split_lines(passwd):
        parts = line.split(":")
        if parts[0] == "root" and len(parts) > 1:
            field_ = parts[1]
            break
    if field_ is not None and field_ not in ("x", "*", "!", "!!", "") and field_[0] not in "!*":
        return "set"  # an old-style hash in /etc/passwd itself
    hash_ = None
    for line in split_lines(shadow or ""):
        parts = line.split(":")
        if parts[0] == "root" and len(parts) > 1:
            hash_ = parts[1]
            break
    if hash_ is None:
        return "absent"
    if hash_ == "":
        return "empty"
    if hash_ in ("*", "!!", "x") or hash_.startswith(("!", "*")):
        return "locked"
    return "set"


def _has_keys(text: str | None) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in split_lines(text or ""))


def without_rootfs(
    name: str,
    config_path: Path,
    config: dict[str, str],
    exists: bool | None,
    net: NetIntent | None,
    path: str | None = None,
) -> ContainerView:
    """The view of a container whose rootfs is not looked into (exists: whether it is a
    directory, None when not known): its config alone."""
    raw = tuple(read_config(config_path))
    spec = path if path is not None else config.get("lxc.rootfs.path", "")
    ids = idmap.from_config([v for k, v in raw if k == "lxc.idmap"])
    net = net or netintent.from_config(config)
    return ContainerView(name, str(config_path), config, raw, spec, exists, net, ids=ids)


def view_of(
    name: str,
    config_path: Path,
    config: dict[str, str],
    rootfs: Rootfs,
    rootfs_path: str,
    net: NetIntent | None = None,
) -> ContainerView:
    """Observe one container whose rootfs is open (a directory, a mounted overlay, a
    running container's root): its facts, and what the recipes would still change."""
    raw = tuple(read_config(config_path))
    ids = idmap.from_config([v for k, v in raw if k == "lxc.idmap"])
    top = rootfs.info("/")
    owner = None if top is None else (top.uid, top.gid)
    net = net or netintent.from_config(config)
    facts = gather(name, rootfs, config, net)
    # The recipes decide what "in place" means; doctor reads their pending changes.
    loaded = recipes.load_all()
    planned = recipes.plan(rootfs, facts, loaded, recipes.Secrets())
    pending: dict[str, list[str]] = {}
    missing: set[str] = set()
    console = {r.name for r in recipes.providing(loaded, "console")}
    for step in planned.steps:
        for change in step.changes:
            pending.setdefault(step.recipe, []).append(change.describe())
            if step.recipe in console:
                missing.update(change.terminals)
    passwd = rootfs.read_text("/etc/passwd") or ""
    home = root_home(passwd)
    hostname = rootfs.read_text("/etc/hostname")
    order = ["console", *(f"tty{n}" for n in range(1, facts.ttys + 1))]
    return ContainerView(
        name,
        str(config_path),
        config,
        raw,
        rootfs_path,
        True,
        net,
        facts,
        {k: tuple(v) for k, v in pending.items()},
        classify_root_hash(passwd, rootfs.read_text("/etc/shadow")),
        _has_keys(rootfs.read_text(f"{home}/.ssh/authorized_keys"))
        or _has_keys(rootfs.read_text(f"{home}/.ssh/authorized_keys2")),
        None if hostname is None else hostname.strip(),
        tuple(t for t in order if t in missing),
        {role: tuple(r.name for r in recipes.providing(loaded, role)) for role in recipes.ROLES},
        ids,
        owner,
        engines=engines_in(rootfs),
    )


# The programs whose containers need nesting=yes (lxcprov.engine.nesting), by path.
ENGINES = {"/usr/sbin/dockerd": "docker", "/usr/bin/dockerd": "docker",
           "/usr/bin/podman": "podman"}  # fmt: skip


def _is_file(info: FileInfo | None) -> bool:
    return info is not None and info.is_file


def engines_in(rootfs: Rootfs) -> tuple[str, ...]:
    """Docker and Podman as installed in the rootfs (looked up inside its jail)."""
    found = [name for path, name in ENGINES.items() if _is_file(rootfs.info(path))]
    return tuple(dict.fromkeys(found))


@contextlib.contextmanager
def opened(container: lxc.Container) -> Iterator[workspace.Workspace | None]:
    """The container's files for doctor's look, or None when they cannot be looked at
    (a backend lxcprov does not read, a missing rootfs, an overlay without root)."""
    found = containerfs.layout(container.config())
    needed = [found.path] if found.storage == "dir" else [found.lower, found.upper]
    readable = found.storage == "dir" or (found.storage == "overlay" and os.geteuid() == 0)
    if not readable or not all(Path(p).is_dir() for p in needed):
        yield None
        return
    with workspace.opened(container) as ws:
        yield ws


def observe_container(container: lxc.Container, ws: workspace.Workspace | None) -> ContainerView:
    """The view of a real container, stopped or running, whatever its rootfs storage.

    ws is the container opened by `opened()` (lxcprov's one way to its files: a stopped
    clone's overlay is mounted once for the whole command, a running one is read
    through its init), or None when it could not be.
    """
    config = container.config()
    net = netintent.load(container.lxcpath / container.name, config)
    path = container.config_path
    found = containerfs.layout(config)
    if ws is None:
        exists = None if found.storage == "other" else Path(found.path.split(":")[0]).is_dir()
        if found.storage == "overlay" and exists:
            exists = None  # there, but not readable here (not root)
        view = without_rootfs(container.name, path, config, exists, net, found.path)
    else:
        view = view_of(container.name, path, config, ws.rootfs, found.path, net)
    listed = devices.listing(container)
    gone = tuple(d.device.path for d in listed if d.state == "gone")
    other = tuple(d.device.path for d in listed if d.state == "other")
    view = replace(view, devices_missing=gone, devices_other=other)
    with contextlib.suppress(LxcprovError):  # a config lxcprov cannot read: said elsewhere
        lacking = tuple((m.target, mounts.add_again(container, m))
                        for m in mounts.not_mounted(container))  # fmt: skip
        view = replace(view, shares_not_mounted=lacking)
    directory = container.lxcpath / container.name
    limited = diskimage.limit_of(directory) is not None
    view = replace(view, disk_stale_loops=tuple(diskimage.stale_loops(directory)),
                   disk_growth=_disk_growth(container) if limited else None)  # fmt: skip
    ports = _forwards(container, net)
    if not ports:
        return view
    running = tuple(container.ipv4()) if container.running() else None
    return replace(view, forwards=ports, running_ipv4=running)


def _disk_growth(container: lxc.Container) -> tuple[int, int] | None:
    """What the disk images of the container's lxcpath can still grow by, and the space
    free on its filesystem, when the first is more."""
    growth = 0
    with contextlib.suppress(OSError):
        for image in container.lxcpath.glob(f"*/{diskimage.IMAGE}"):
            st = image.stat()
            growth += max(0, st.st_size - st.st_blocks * 512)
    fs = os.statvfs(container.lxcpath)
    free = fs.f_bavail * fs.f_frsize
    return (growth, free) if growth > free else None


def _forwards(container: lxc.Container, net: NetIntent) -> tuple[ForwardView, ...]:
    owner = owner_of(container.name, str(container.lxcpath))
    if not net.bridge or hostnet.load_settings(net.bridge) is None:
        return ()
    try:
        found = [f for f in hostnet.list_forwards(net.bridge)[net.bridge] if f.owner == owner]
        booked = hostnet.address_book(net.bridge).get(owner)
        mac = hostnet.macs(net.bridge).get(owner, "")
    except LxcprovError:
        return ()  # a state file lxcprov cannot read: the bridge's findings say so
    return tuple(ForwardView(f.label(), f.address, str(booked or ""), mac) for f in found)
