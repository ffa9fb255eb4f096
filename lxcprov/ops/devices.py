"""`lxcprov device add | rm | ls` and `new --device`: host devices inside a container.

The config is the record (lxcprov's devices section, lxcprov.engine.devices); the nodes
in `<lxcpath>/<name>/devices` are made from it (lxcprov.system.devnodes). A running
container gets the device at once: the device cgroup rule (v1: its cgroup and every one
below, top-down; v2: through liblxc, which loads LXC's eBPF program again), then the
node bound at its path inside (lxcprov.system.livedevice); `rm` takes it away the same
way (unmount inside, deny rule, record, node).

No journal: the order of the writes makes every stop safe. `add` makes the node, then
writes the record, then acts live; `rm` acts live, then drops the record, then the node.
A node without a record (a command killed between the two) is removed by the next
device command, start (`prepare`) or destroy (the whole directory goes); a record whose
live part is missing is finished by the same `device add` again, or undone by
`device rm`. Each command holds the container's lock, so two never interleave.

Before every start (`prepare`, called from mounts.ensure_userns): each recorded device
is looked at on the host again. One that is gone, or is now another device, has its node
removed (the `optional` mount entry then skips it): the container starts without it, and
doctor's `device-missing` says which and how to drop it. The others' nodes are made again
from the record (the container's root may have changed their mode).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.engine import devices
from lxcprov.engine.devices import Device
from lxcprov.errors import InvalidArgumentError, LxcprovError
from lxcprov.ops import recovery, targets
from lxcprov.system import (
    cgroups,
    containerfs,
    devnodes,
    faults,
    livedevice,
    livemount,
    locks,
    lxc,
    lxcconf,
)

Status = Literal["changed", "no change", "needs restart", "removed"]


@dataclass(frozen=True)
class Result:
    device: Device
    status: Status
    detail: str = ""
    resolved_from: str = ""  # what the user gave, when it is not the path

    def as_dict(self) -> dict[str, object]:
        extra = {"given": self.resolved_from} if self.resolved_from else {}
        return {**self.device.as_dict(), **extra, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Listed:
    device: Device
    state: devnodes.NodeState  # on the host: that device, none, or another one there now

    @property
    def present(self) -> bool:
        return self.state == "same"

    def as_dict(self) -> dict[str, object]:
        return {**self.device.as_dict(), "on_host": self.present, "host_state": self.state}


def _dir(container: lxc.Container) -> Path:
    return container.lxcpath / container.name


def recorded(container: lxc.Container) -> list[Device]:
    return devices.parse(lxcconf.read(container.config_path))


def listing(container: lxc.Container) -> list[Listed]:
    container.require()
    return [Listed(d, devnodes.node_state(d.path, d.kind, d.major, d.minor))
            for d in recorded(container)]  # fmt: skip


def _v1() -> bool:
    return cgroups.detect().version_of("devices") == 1


def _write(container: lxc.Container, wanted: list[Device]) -> None:
    text = lxcconf.read(container.config_path)
    new = devices.render(text, wanted, _dir(container) / devices.NODES_DIR, _v1())
    if new != text:
        lxcconf.write(container.config_path, new)


def _host_ids(container: lxc.Container, uid: int, gid: int) -> tuple[int, int]:
    """The host ids of the container's uid and gid (0..65535 of its map; as they are for a
    privileged container)."""
    found: dict[str, int] = {}
    for value in container.idmap():
        parts = value.split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
            continue
        kind, inside, outside, count = parts[0], *map(int, parts[1:])
        for which, wanted in (("u", uid), ("g", gid)):
            if kind in (which, "b") and inside <= wanted < inside + count:
                found[which] = outside + wanted - inside
    if not container.idmap():
        return uid, gid
    if "u" not in found or "g" not in found:
        raise InvalidArgumentError(
            f"uid {uid} / gid {gid} is not in {container.name}'s id map",
            hint="give ids the container has (0-65535)",
        )
    return found["u"], found["g"]


def _root_ids(container: lxc.Container) -> tuple[int, int]:
    return containerfs.map_root(container) or (0, 0)


def _make(container: lxc.Container, dirfd: int, d: Device) -> None:
    uid, gid = _host_ids(container, d.uid, d.gid)
    name = devices.node_name(d.path)
    if not devnodes.node_ok(dirfd, name, d.kind, d.major, d.minor, d.mode, uid, gid):
        devnodes.make_node(dirfd, name, d.kind, d.major, d.minor, d.mode, uid, gid)


def _sweep(dirfd: int, wanted: list[Device]) -> list[str]:
    return devnodes.sweep(dirfd, {devices.node_name(d.path) for d in wanted})


def prepare(container: lxc.Container) -> list[str]:
    """Before a start (the caller holds the lock): nodes as the record says, a node of a
    device gone from the host removed (the start goes on without it); what was left out."""
    wanted = recorded(container)
    if not wanted and not (_dir(container) / devices.NODES_DIR).is_dir():
        return []  # nothing given, nothing left: the common case touches nothing
    with devnodes.nodes_dir(_dir(container), create=bool(wanted)) as dirfd:
        if dirfd is None:
            return []
        _write(container, wanted)  # entries from the record (a node name of an older scheme)
        _sweep(dirfd, wanted)
        missing = []
        for d in wanted:
            if devnodes.same_node(d.path, d.kind, d.major, d.minor):
                _make(container, dirfd, d)
            else:
                devnodes.remove_node(dirfd, devices.node_name(d.path))
                missing.append(d.path)
    return missing


# -- live ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _init(container: lxc.Container) -> Iterator[int]:
    pid = int(container.handle.init_pid)
    pidfd = livemount.pin(pid)
    try:
        if int(container.handle.init_pid) != pid:
            raise LxcprovError(f"{container.name} restarted while lxcprov pinned its init",
                               hint="run the command again")  # fmt: skip
        yield pidfd
    finally:
        os.close(pidfd)


def _rule_live(container: lxc.Container, what: str, rule: str) -> None:
    host = cgroups.detect()
    if host.version_of("devices") == 1:
        top = devnodes.v1_cgroup(int(container.handle.init_pid), host.v1_root)
        if top is None:
            raise LxcprovError(f"{container.name}'s device cgroup was not found")
        devnodes.v1_write(top, what, rule)
    elif not container.handle.set_cgroup_item(f"devices.{what}", rule):
        raise LxcprovError(f"LXC did not take the device rule {rule!r} ({what})")


def _allowed_elsewhere(container: lxc.Container, d: Device) -> bool:
    """Whether the container's config allows the device anyway (common.conf's fuse): a
    live deny would take away what its next start gives back."""
    try:
        every = [str(v) for v in container.handle.get_config_item(devices.cgroup_key(_v1()))]
    except (KeyError, TypeError, ValueError):  # liblxc has no such key here
        return False
    return every.count(d.rule) > 1  # ours and another


def _ours(container: lxc.Container, d: Device) -> tuple[int, int]:
    """What a bind of lxcprov's node of d shows inside: the filesystem of the devices
    directory and d's number (livedevice.detach leaves anything else there alone)."""
    where = os.stat(_dir(container) / devices.NODES_DIR, follow_symlinks=False).st_dev
    return where, os.makedev(d.major, d.minor)


def _live_add(container: lxc.Container, d: Device) -> str:
    """The rule and the bind in the running container; "" when done, else why not."""
    node = str(_dir(container) / devices.NODES_DIR / devices.node_name(d.path))
    try:
        _rule_live(container, "allow", d.rule)
        faults.stop_if("device-rule")  # rule written, not yet bound (crash tests)
        with _init(container) as pidfd:
            if livemount.mounted_in(pidfd, d.path):
                livedevice.detach(pidfd, d.path, _ours(container, d))
            livedevice.attach(pidfd, node, d.path, _root_ids(container))
    except (OSError, LxcprovError) as exc:
        return getattr(exc, "message", str(exc))
    return ""


def _live_rm(container: lxc.Container, d: Device) -> str:
    try:
        with _init(container) as pidfd:
            livedevice.detach(pidfd, d.path, _ours(container, d))
        if (
            not _allowed_elsewhere(container, d)
            and not devices.given_by_lxc(d.path)
            and not devices.numbers_of_lxc(d.kind, d.major, d.minor)
        ):
            _rule_live(container, "deny", d.rule)
    except (OSError, LxcprovError) as exc:
        return getattr(exc, "message", str(exc))
    return ""


# -- the commands ---------------------------------------------------------------------------


def resolve(spec: str, *, mode: int, uid: int, gid: int) -> list[tuple[Device, str]]:
    """The devices a name or path stands for, each with what the user gave when a symlink
    or a name led to it ("" when it is the path itself). Never one LXC gives already, as
    given or resolved on the host (/dev/stdin to the admin's own terminal)."""
    found = []
    for path in devices.resolve_spec(spec):
        devices.refuse_lxc_own(path, os.path.realpath(path))
        node = devnodes.host_node(path)
        devices.refuse_lxc_numbers(node.path, node.kind, node.major, node.minor)
        given = spec if spec != node.path else ""
        found.append((Device(node.path, node.kind, node.major, node.minor, mode, uid, gid),
                      given))  # fmt: skip
    return found


def add(
    container: lxc.Container, wanted: list[tuple[Device, str]], keep: frozenset[str] = frozenset()
) -> list[Result]:
    """keep: the options (devices.OPTIONS) not given, whose recorded values stay."""
    lxc.require_root()
    targets.refuse_base(container, "device add")
    with locks.container(container.lxcpath, container.name, "device add"):
        recovery.refuse_incomplete(container)
        container.require()
        _host_ids(container, 0, 0)
        for d, _ in wanted:
            _host_ids(container, d.uid, d.gid)
        current = recorded(container)
        running = container.running()
        results = []
        with devnodes.nodes_dir(_dir(container), create=True) as dirfd:
            assert dirfd is not None
            _sweep(dirfd, current)
            for asked, given in wanted:
                current = recorded(container)
                had = next((c for c in current if c.path == asked.path), None)
                d = devices.keep_recorded(asked, had, keep)
                if d in current and not (running and not _is_live(container, d)):
                    results.append(Result(d, "no change", "already there", given))
                    continue
                _make(container, dirfd, d)
                faults.stop_if("device-node")  # node made, not recorded (crash tests)
                _write(container, [c for c in current if c.path != d.path] + [d])
                if not running:
                    results.append(Result(d, "changed", "there at the next start", given))
                    continue
                why = _live_add(container, d)
                if why:
                    results.append(Result(d, "needs restart", why, given))
                else:
                    results.append(Result(d, "changed", "in the running container", given))
        return results


def unbound(container: lxc.Container) -> list[str]:
    """The recorded devices a running container does not have bound inside (a command
    killed between the record and the bind): `device add` of each finishes it."""
    wanted = recorded(container)
    if not wanted or not container.running():
        return []
    return [d.path for d in wanted if not _is_live(container, d)]


def _is_live(container: lxc.Container, d: Device) -> bool:
    try:
        with _init(container) as pidfd:
            return livemount.mounted_in(pidfd, d.path)
    except LxcprovError:
        return False


def remove(container: lxc.Container, spec: str) -> list[Result]:
    lxc.require_root()
    with locks.container(container.lxcpath, container.name, "device rm"):
        container.require()
        current = recorded(container)
        with devnodes.nodes_dir(_dir(container), create=False) as dirfd:
            if dirfd is not None:
                _sweep(dirfd, current)  # a killed add's node, even when rm finds nothing
        paths = _paths_of(spec, current)
        found = [d for d in current if d.path in paths]
        if not found:
            raise InvalidArgumentError(
                f"{container.name} has no device {spec} of lxcprov's",
                hint=f"lxcprov device ls {container.name}",
            )
        results = []
        for d in found:
            why = _live_rm(container, d) if container.running() else ""
            faults.stop_if("device-unbound")  # out of the container, still recorded
            current = [c for c in current if c.path != d.path]
            _write(container, current)
            with devnodes.nodes_dir(_dir(container), create=False) as dirfd:
                if dirfd is not None:
                    _sweep(dirfd, current)
            if why:
                results.append(Result(d, "needs restart", why))
            elif container.running():
                results.append(Result(d, "removed", "taken out of the running container"))
            else:
                results.append(Result(d, "removed"))
        return results


def _paths_of(spec: str, current: list[Device]) -> set[str]:
    """What rm means: a recorded path as given, else what the name resolves to now (an
    unplugged USB device is removed by its path, which ls shows)."""
    if spec in {d.path for d in current}:
        return {spec}
    try:
        return {devnodes.host_node(p).path for p in devices.resolve_spec(spec)} | set(
            devices.resolve_spec(spec)
        )
    except InvalidArgumentError:
        if spec.startswith("/"):
            return {spec}
        raise


def write_new(container: lxc.Container, specs: list[str]) -> list[Device]:
    """`new --device`: records and nodes (it is not running yet: LXC binds them at start)."""
    wanted: dict[str, Device] = {}
    for spec in specs:
        for d, _ in resolve(spec, mode=devices.DEFAULT_MODE, uid=0, gid=0):
            wanted[d.path] = d
    if not wanted:
        return []
    with devnodes.nodes_dir(_dir(container), create=True) as dirfd:
        assert dirfd is not None
        for d in wanted.values():
            _make(container, dirfd, d)
    _write(container, list(wanted.values()))
    return sorted(wanted.values())


def check_new(specs: list[str]) -> None:
    """For `new --device`, before anything is made: each name or path is a host device."""
    for spec in specs:
        resolve(spec, mode=devices.DEFAULT_MODE, uid=0, gid=0)


def forget(text: str) -> tuple[str, list[str]]:
    """A config without its devices (a copy's: a device is given to a container by name,
    never by a copy), and the paths dropped."""
    dropped = [d.path for d in devices.parse(text)]
    return devices.render(text, [], Path("/"), True), dropped
