"""The host: what every container needs (root, LXC, namespaces, cgroups), what makes
them worse off (controllers, AppArmor's parser, inotify, lxcfs, subordinate ids), what
brings autostart containers back after a reboot, and the host's bridges."""

from __future__ import annotations

import re

from lxcprov.engine import idmap
from lxcprov.ops.doctor.checks.bridge import bridge_findings
from lxcprov.ops.doctor.checks.config import CONTROLLER_USE
from lxcprov.ops.doctor.checks.forwards import table_findings
from lxcprov.ops.doctor.checks.limits import limit_findings
from lxcprov.ops.doctor.model import Finding, FindingId, Severity
from lxcprov.ops.doctor.views import HostView
from lxcprov.system import lxcfs

# LXC needs these namespaces for a system container; user and cgroup ones are optional.
REQUIRED_NAMESPACES = ("mnt", "uts", "ipc", "pid", "net")


_V1_WANTED = ("memory", "cpu", "cpuset", "pids", "devices", "freezer")


_V2_WANTED = ("memory", "cpu", "cpuset", "pids", "io")


def host_essentials(host: HostView, prog: str) -> list[Finding]:
    """What every container needs from the host: root, LXC, namespaces, cgroups."""
    out: list[Finding] = []

    def add(
        id_: FindingId, message: str, why: str, fix: str, *, severity: Severity = "error"
    ) -> None:
        out.append(Finding(id_, severity, "host", "host", message, why, fix, blocks_start=True))

    if not host.root:
        add(
            "not-root",
            "lxcprov is not running as root",
            "creating, starting and fixing system containers and bridges needs root; "
            "what doctor sees without it is incomplete",
            f"sudo {prog} doctor",
        )
    if host.lxc_version is None:
        add(
            "lxc-missing",
            "LXC is not installed (no lxc-create)",
            "lxcprov runs templates and containers through LXC's tools",
            "apt-get install lxc lxc-templates",
        )
    elif _major(host.lxc_version) is not None and (_major(host.lxc_version) or 0) < 3:
        add(
            "lxc-too-old",
            f"LXC {host.lxc_version} is older than 3.0",
            "lxcprov writes LXC 3 configuration keys (lxc.tty.max, lxc.net.N.*), "
            "which older LXC rejects",
            "apt-get install lxc  # from a release that ships LXC 4 or 5",
        )
    if host.python_lxc is None:
        add(
            "python3-lxc-missing",
            "python3-lxc is not importable by this Python",
            "lxcprov reads and starts containers through the python3-lxc bindings",
            "apt-get install python3-lxc  # and a venv made with --system-site-packages",
        )
    missing = [ns for ns in REQUIRED_NAMESPACES if ns not in host.namespaces]
    if missing:
        add(
            "namespace-missing",
            "the kernel lacks the namespaces " + ", ".join(missing),
            "LXC cannot isolate a container without them: lxc-start fails",
            "boot a kernel built with CONFIG_NAMESPACES and "
            + ", ".join(f"CONFIG_{ns.upper()}_NS" for ns in missing),
        )
    if host.cgroup.layout == "none":
        add(
            "cgroup-missing",
            "no cgroup filesystem is mounted",
            "LXC puts every container in a cgroup: lxc-start fails without one",
            "mount -t cgroup2 none /sys/fs/cgroup",
        )
    return out


def _major(version: str) -> int | None:
    m = re.match(r"(\d+)", version)
    return int(m.group(1)) if m else None


def missing_controllers(host: HostView) -> list[str]:
    cg = host.cgroup
    if cg.layout == "none":
        return []
    if cg.layout == "v2":
        return [c for c in _V2_WANTED if c not in cg.v2]
    return [c for c in _V1_WANTED if c not in cg.v1 and c not in cg.v2]


def check_host(host: HostView, prog: str = "lxcprov") -> list[Finding]:
    """The whole host: essentials, cgroup controllers, AppArmor, and its bridges."""
    out = host_essentials(host, prog)
    missing = missing_controllers(host)
    if missing:
        if host.cgroup.layout == "v2":
            fix = "echo '" + " ".join(f"+{c}" for c in missing) + "' > "
            fix += "/sys/fs/cgroup/cgroup.subtree_control"
        else:
            fix = (
                "add cgroup_enable="
                + ",".join(missing)
                + " to GRUB_CMDLINE_LINUX in /etc/default/grub, then: update-grub && reboot"
            )
        out.append(
            Finding(
                "cgroup-controller-unavailable",
                "warning",
                "host",
                "host",
                f"cgroup {host.cgroup.layout} layout without the controllers " + ", ".join(missing),
                "; ".join(f"{c}: {CONTROLLER_USE[c]}" for c in missing),
                fix,
            )
        )
    if host.apparmor and not host.apparmor_parser:
        out.append(
            Finding(
                "apparmor-parser-missing",
                "warning",
                "host",
                "host",
                "AppArmor is enabled but apparmor_parser is not installed",
                "a container with lxc.apparmor.profile = generated (LXC's default) fails to "
                "start: LXC cannot load its profile",
                "apt-get install apparmor",
            )
        )
    out += limit_findings(host.limits, host.bridge_limits)
    out += _lxcfs(host, prog)
    out += stale_addresses(list(host.stale_addresses), prog)
    if host.subids_problem:
        out.append(
            Finding(
                "subuid-missing",
                "warning",
                "host",
                "host",
                host.subids_problem,
                "unprivileged containers (the default) need a range of root's subordinate ids: "
                "LXC maps their ids with newuidmap, which refuses ranges root is not given",
                f"{prog} new ...  # registers root:{idmap.DEFAULT_START}:{idmap.DEFAULT_COUNT} "
                "in both files the first time, when no other range is in the way",
            )
        )
    out += _boot(host, prog)
    for bridge in host.bridges:
        # The default bridge is what `new` uses without --network none: DHCP by default.
        need_dhcp = bridge.dhcp_wanted or not bridge.managed
        out += bridge_findings(bridge, host, prog, need_dhcp=need_dhcp, subject=None)
        out += table_findings(bridge, prog)
    return out


def _lxcfs(host: HostView, prog: str) -> list[Finding]:
    """lxcfs shows a container its own memory and CPUs in /proc; Debian's unit starts it
    only where systemd boots the host (lxcprov starts it before a container otherwise)."""
    why = (
        "inside a container free, top and /proc/meminfo show the host's memory and CPUs, "
        "not its limits (memory=, cpus=)"
    )
    if host.lxcfs == "absent":
        return [Finding("lxcfs-missing", "info", "host", "host",
                        "lxcfs is not installed", why, "apt-get install lxcfs")]  # fmt: skip
    if host.lxcfs == "stopped":
        return [Finding("lxcfs-not-running", "warning", "host", "host",
                        "lxcfs is installed but not running (nothing started it at boot)",
                        why + "; lxcprov starts it before it starts a container",
                        f"{prog} doctor --fix", "service")]  # fmt: skip
    if host.lxcfs == "dead":
        return [Finding("lxcfs-dead", "error", "host", "host",
                        f"lxcfs's mount at {lxcfs.MOUNT} is there but lxcfs is gone "
                        "(killed or crashed)",
                        "a container started since reads errors instead of /proc/meminfo "
                        "and /proc/uptime (free, top and uptime fail); lxcprov restarts it "
                        "before it starts a container, and containers running now need a "
                        "restart to see it again",
                        f"{prog} doctor --fix", "service")]  # fmt: skip
    return []


def _boot(host: HostView, prog: str) -> list[Finding]:
    """Autostart containers come back after a reboot only if something runs
    `lxcprov start --all` at boot: lxcprov.service where systemd boots the host."""
    if not host.autostart or (host.boot_unit == "enabled" and prog == "lxcprov"):
        return []
    names = ", ".join(host.autostart)
    why = ("after a reboot they stay stopped, and lxcprov's bridges and published ports are "
           "not restored (plain lxc-autostart does not restore them)")  # fmt: skip
    if host.boot_unit == "no-systemd":
        message = f"autostart containers ({names}), and this host does not boot with systemd"
        fix = f"run `{prog} start --all` from the host's boot scripts (e.g. /etc/rc.local)"
    elif host.boot_unit == "disabled":
        message = f"autostart containers ({names}), but lxcprov.service is not enabled"
        fix = "systemctl enable lxcprov.service  # the lxcprov package installs it"
    else:  # enabled, for the default lxcpath only
        message = (f"autostart containers ({names}) in {host.lxcpath}: lxcprov.service "
                   "starts those of LXC's default lxcpath")  # fmt: skip
        fix = ("systemctl edit lxcprov.service  # [Service] "
               f"Environment=LXCPROV_LXCPATH={host.lxcpath}")  # fmt: skip
    return [Finding("autostart-not-at-boot", "warning", "host", "host", message, why, fix)]


def stale_addresses(host_stale: list[tuple[str, str, str]], prog: str) -> list[Finding]:
    """Static addresses whose container is gone (a killed `new`, a failed destroy)."""
    return [
        Finding(
            "address-stale",
            "warning",
            "host",
            bridge,
            f"{address} on {bridge} is still reserved for {owner}, which does not exist",
            "the address book holds it: no new container can get it, and its name still "
            "resolves through the bridge's DNS",
            f"{prog} doctor --fix  # gives it back",
            "release",
            bridge=bridge,
            owner=owner,
        )
        for bridge, owner, address in host_stale
    ]
