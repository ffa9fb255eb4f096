"""Healthy hosts and containers for doctor's checks, and ways to break exactly one thing."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from lxcprov.engine import recipes
from lxcprov.engine.facts import gather
from lxcprov.ops.doctor import checks
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import (
    BridgeView,
    CgroupView,
    ContainerView,
    HostView,
    read_config,
    view_of,
    without_rootfs,
)
from lxcprov.system.netintent import NetIntent
from lxcprov.system.rootfs import Rootfs
from tests import trees

BRIDGE = "br0"
PASSWORD = "doctor-test-pw"

HEALTHY_BRIDGE = BridgeView(
    BRIDGE,
    exists=True,
    is_bridge=True,
    up=True,
    managed=True,
    dhcp_wanted=True,
    dhcp_server=True,
    nat_wanted=True,
    nat_present=True,
)

HEALTHY_HOST = HostView(
    root=True,
    lxc_version="5.0.2",
    python_lxc="5.0.0",
    namespaces=frozenset({"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}),
    cgroup=CgroupView(
        "hybrid",
        frozenset({"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"}),
        frozenset(),
    ),
    apparmor=None,
    apparmor_parser=False,
    apparmor_profiles=frozenset(),
    ip_forward=True,
    bridges=(HEALTHY_BRIDGE,),
    default_bridge=BRIDGE,
)


def host(**changes: object) -> HostView:
    return dataclasses.replace(HEALTHY_HOST, **changes)  # type: ignore[arg-type]


def bridge(**changes: object) -> BridgeView:
    return dataclasses.replace(HEALTHY_BRIDGE, **changes)  # type: ignore[arg-type]


def host_with_bridge(**changes: object) -> HostView:
    return host(bridges=(bridge(**changes),))


TREES = {
    "debian-systemd": trees.debian_systemd,
    "debian-sysvinit": trees.debian_sysvinit,
    "busybox": trees.busybox,
}

# Unprivileged, as lxcprov makes them: the map, and a rootfs whose / belongs to its root.
HOST_ROOT = 1_100_000_000
BASE_CONFIG = f"""lxc.net.0.type = veth
lxc.net.0.link = {BRIDGE}
lxc.net.0.flags = up
lxc.tty.max = 4
lxc.uts.name = c1
lxc.idmap = u 0 {HOST_ROOT} 65536
lxc.idmap = g 0 {HOST_ROOT} 65536
"""


class Box:
    """One container fixture: a config file and a synthetic rootfs next to it."""

    def __init__(self, tmp: Path, tree: str = "debian-systemd", extra: str = "") -> None:
        self.dir = tmp / "c1"
        self.rootfs = self.dir / "rootfs"
        self.rootfs.mkdir(parents=True)
        TREES[tree](self.rootfs)
        os.chown(self.rootfs, HOST_ROOT, HOST_ROOT)
        self.config_path = self.dir / "config"
        self.config_path.write_text(BASE_CONFIG + f"lxc.rootfs.path = dir:{self.rootfs}\n" + extra)
        self.net = NetIntent("dhcp", BRIDGE)

    def config(self) -> dict[str, str]:
        return dict(read_config(self.config_path))

    def heal(self) -> None:
        """Apply every recipe, as `lxcprov fix --root-password-file` would."""
        with Rootfs(self.rootfs) as rootfs:
            facts = gather("c1", rootfs, self.config(), self.net)
            plan = recipes.plan(
                rootfs, facts, recipes.load_all(), recipes.Secrets(root_password=PASSWORD)
            )
            recipes.apply(rootfs, plan)

    def write(self, path: str, text: str) -> None:
        target = self.rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.write_text(text)

    def append_config(self, text: str) -> None:
        with self.config_path.open("a") as f:
            f.write(text)

    def view(self) -> ContainerView:
        return build_container_view("c1", self.config_path, self.config(), self.rootfs, self.net)

    def findings(self, on: HostView = HEALTHY_HOST) -> list[Finding]:
        return checks.check_container(self.view(), on)


def build_container_view(
    name: str, config_path: Path, config: dict[str, str], rootfs_dir: Path, net: NetIntent
) -> ContainerView:
    """Observe one container from its config and a rootfs directory, as doctor does."""
    if not rootfs_dir.is_dir():
        return without_rootfs(name, config_path, config, False, net, str(rootfs_dir))
    with Rootfs(rootfs_dir) as rootfs:
        return view_of(name, config_path, config, rootfs, str(rootfs_dir), net)


def healthy(tmp: Path, tree: str = "debian-systemd", extra: str = "") -> Box:
    box = Box(tmp, tree, extra)
    box.heal()
    return box


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [(f.id, f.message) for f in findings]
    return findings[0]
