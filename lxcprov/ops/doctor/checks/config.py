"""A container's LXC config against the host: cgroup keys the host cannot apply, an
AppArmor profile it cannot load or does not enforce."""

from __future__ import annotations

import re

from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView, HostView

# What stops working without a controller, in the words a user would notice.
CONTROLLER_USE = {
    "memory": "memory limits (lxc.cgroup*.memory.*) are refused and memory use is not accounted",
    "cpu": "CPU shares and quotas cannot be set",
    "cpuset": "containers cannot be pinned to CPUs",
    "pids": "the number of processes cannot be limited (a fork bomb reaches the host)",
    "devices": "device rules are not enforced: the container may open any host device",
    "freezer": "lxc-freeze does not work and stops are less reliable",
    "io": "disk I/O cannot be limited",
}

# lxc.cgroup.* keys that are settings of LXC itself, not controller files.
_NOT_CONTROLLERS = {"dir", "relative", "keep", "pattern"}


def cgroup_keys(view: ContainerView, host: HostView) -> list[Finding]:
    out: list[Finding] = []
    layout = host.cgroup.layout
    for key, _value in view.raw:
        parts = key.split(".")
        if len(parts) < 4 or parts[0] != "lxc" or parts[1] not in ("cgroup", "cgroup2"):
            continue
        controller = parts[2]
        if controller in _NOT_CONTROLLERS:
            continue
        drop = f"sed -i '/^{re.escape(key)}[[:space:]]*=/d' {_q(view.config_path)}"
        if parts[1] == "cgroup" and layout == "v2":
            out.append(
                Finding(
                    "cgroup-legacy-key",
                    "warning",
                    "container",
                    view.name,
                    f"{key} is a cgroup v1 key on a cgroup v2 host",
                    "LXC ignores lxc.cgroup.* on a pure cgroup v2 host: the limit is not applied",
                    f"{drop}  # and set it again as lxc.cgroup2.{controller}.*",
                )
            )
            continue
        if parts[1] == "cgroup":
            present = controller in host.cgroup.v1
        else:
            # Device rules under cgroup2 are a BPF program, not a controller.
            present = controller == "devices" or (
                layout in ("v2", "hybrid") and controller in host.cgroup.v2
            )
        if present or layout == "none":
            continue
        use = CONTROLLER_USE.get(controller, f"{controller} settings cannot be applied")
        out.append(
            Finding(
                "cgroup-controller-missing",
                "error",
                "container",
                view.name,
                f"{key} is set, but the host has no {controller} controller"
                + (" in its cgroup v2 hierarchy" if parts[1] == "cgroup2" else ""),
                f"lxc-start fails while setting it ({use})",
                f"{drop}  # or enable the {controller} controller on the host",
                blocks_start=True,
            )
        )
    return out


def apparmor(view: ContainerView, host: HostView) -> list[Finding]:
    profile = next((v for k, v in reversed(view.raw) if k == "lxc.apparmor.profile"), "")
    if not profile or profile == "unconfined":
        return []
    set_generated = (
        f"sed -i 's/^lxc.apparmor.profile.*/lxc.apparmor.profile = generated/' "
        f"{_q(view.config_path)}"
    )
    if host.apparmor and profile == "generated" and not host.apparmor_parser:
        return [
            Finding(
                "apparmor-parser-missing",
                "error",
                "container",
                view.name,
                "lxc.apparmor.profile = generated, but apparmor_parser is not installed",
                "LXC cannot load the profile it generates: lxc-start fails",
                "apt-get install apparmor",
                blocks_start=True,
            )
        ]
    if host.apparmor and profile != "generated" and profile not in host.apparmor_profiles:
        return [
            Finding(
                "apparmor-profile-missing",
                "error",
                "container",
                view.name,
                f"AppArmor profile {profile} is not loaded",
                "lxc-start fails when it cannot switch to the profile the config names",
                f"apparmor_parser -r /etc/apparmor.d/{profile}  # or: {set_generated}",
                blocks_start=True,
            )
        ]
    if not host.apparmor and profile != "generated":
        return [
            Finding(
                "apparmor-not-enforced",
                "info",
                "container",
                view.name,
                f"lxc.apparmor.profile = {profile}, but this host has no AppArmor",
                "LXC starts the container unconfined: the profile protects nothing here",
                "apt-get install apparmor  # and enable it on the kernel command line "
                "(apparmor=1 security=apparmor)",
            )
        ]
    return []
