"""The host limits that many containers meet: each one reported while there is still room
(lxcprov.engine.hostlimits decides what a container costs and how much room is left)."""

from __future__ import annotations

from lxcprov.engine import hostlimits
from lxcprov.engine.hostlimits import BridgeUse, HostUse, Pressure
from lxcprov.ops.doctor.model import Finding, FindingId, Severity

_WHY: dict[hostlimits.LimitId, str] = {
    "inotify-instances-low": (
        "every systemd container charges root's inotify instances (5 idle, more while it "
        "boots); past the limit the next one stops at boot or never shows login: (with "
        "the default 128, the 14th to 17th Debian container here). Debian's lxc package "
        "ships /etc/sysctl.d/30-lxc-inotify.conf with 1024, but only systemd-sysctl applies "
        "it at boot"
    ),
    "keys-low": (
        "the containers' root is one host uid, whose keys quota they share; systemd gives "
        "each service a keyring: past the quota services start without one (nothing failed "
        "here past it: 21 Debian containers booted)"
    ),
    "pids-low": "every process and thread of every container takes a pid: past the limit, "
    "fork fails in the containers and on the host",
    "neighbour-table-small": (
        "the kernel's neighbour table is shared by every network namespace; each container "
        "adds entries for itself and its gateway: past gc_thresh3 a new neighbour fails "
        "('neighbour table overflow') and that container's traffic stops"
    ),
    "bridge-ports-low": "a bridge takes at most 1023 ports (the 1024th veth got "
    "'Exchange full' here): a container past it cannot start",
    "subnet-full": "a container past the last free address gets no DHCP lease (or no "
    "--ip auto address) and boots without a network",
}


def _finding(p: Pressure, subject: str) -> Finding:
    if p.id == "subnet-full":
        message = f"{p.name}: {p.room} left"
    else:
        message = (f"{p.name}: {p.used} of {p.limit} used, room for about {p.room} more "
                   "systemd containers")  # fmt: skip
    fix_id: FindingId = p.id
    # Keys: measured here, nothing failed past the quota (services start without their
    # keyring); a warning would predict a failure that does not come (outside review).
    severity: Severity = "info" if p.id == "keys-low" else "warning"
    return Finding(fix_id, severity, "host", subject, message, _WHY[p.id], p.fix,
                   fix_kind="sysctl" if p.sysctls else "manual")  # fmt: skip


def limit_findings(host: HostUse | None, bridges: tuple[BridgeUse, ...]) -> list[Finding]:
    """One finding per limit with room for fewer than HEADROOM more containers."""
    out = [_finding(p, "host") for p in hostlimits.host_pressures(host)] if host else []
    for b in bridges:
        out += [_finding(p, b.bridge) for p in hostlimits.bridge_pressures(b)]
    return out
