"""One bridge: whether it is there, is a bridge, is up, serves DHCP, routes (NAT,
forwarding, another firewall's drop policy); for the host or for a container on it."""

from __future__ import annotations

from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding, FindingId, Scope, Severity
from lxcprov.ops.doctor.views import BridgeView, HostView


def bridge_findings(
    b: BridgeView, host: HostView, prog: str, *, need_dhcp: bool, subject: str | None
) -> list[Finding]:
    """Findings about one bridge, for the host (subject None) or for a container on it."""
    scope: Scope = "host" if subject is None else "container"
    who = subject or b.name
    on_it = f"{subject}" if subject else "containers on it"
    strong: Severity = "error" if subject is not None or b.managed else "warning"
    setup = f"{prog} net setup --bridge {_q(b.name)}"
    out: list[Finding] = []

    def add(
        id_: FindingId,
        severity: Severity,
        message: str,
        why: str,
        fix: str,
        *,
        net: bool = True,
        dhcp: bool = False,
        blocks: bool = False,
    ) -> None:
        out.append(
            Finding(
                id_,
                severity,
                scope,
                who,
                message,
                why,
                fix,
                "net-setup" if net else "manual",
                bridge=b.name,
                dhcp=dhcp,
                blocks_start=blocks and subject is not None,
            )
        )

    if not b.exists:
        add(
            "bridge-missing",
            strong,
            f"bridge {b.name} does not exist",
            f"lxc-start fails for {on_it}: LXC cannot attach a veth to a missing bridge"
            if subject
            else "`lxcprov new` puts containers on it by default; without it only "
            "--network none works",
            setup,
            dhcp=need_dhcp,
            blocks=True,
        )
        if subject is not None and need_dhcp:
            add(
                "no-dhcp-server",
                "error",
                f"no DHCP server serves bridge {b.name}, and {subject} asks for an address by DHCP",
                "its boot waits for a DHCP answer nobody gives (minutes, or for ever), and "
                "it has no IPv4 address",
                f"{setup} --dhcp",
                dhcp=True,
            )
        return out
    if not b.is_bridge:
        add(
            "not-a-bridge",
            strong,
            f"{b.name} exists but is not a bridge",
            f"LXC cannot attach {on_it} to it",
            f"{setup}  # or name another bridge in lxc.net.0.link"
            if not b.managed
            else f"ip link del {_q(b.name)} && {setup}",
            net=False,
            blocks=True,
        )
        return out
    if not b.up:
        add(
            "bridge-down",
            strong,
            f"bridge {b.name} is down",
            f"{on_it} get no network traffic through it",
            setup if b.managed else f"ip link set dev {_q(b.name)} up",
            net=b.managed,
        )
    if need_dhcp and not b.dhcp_server:
        severity: Severity = "error" if subject is not None or b.dhcp_wanted else "warning"
        add(
            "no-dhcp-server",
            severity,
            f"no DHCP server serves bridge {b.name}"
            + (f", and {subject} asks for an address by DHCP" if subject else ""),
            "a container that asks for an address by DHCP waits for an answer nobody gives: "
            "its boot hangs and it has no IPv4 address",
            f"{setup} --dhcp",
            dhcp=True,
        )
    if b.managed and b.nat_wanted and not b.nat_present:
        add(
            "nat-missing",
            "warning",
            f"the NAT rule for bridge {b.name} is missing",
            f"{on_it} cannot reach anything beyond this host",
            setup,
        )
    if b.managed and b.nat_wanted and not host.ip_forward:
        add(
            "ip-forward-off",
            "warning",
            "IPv4 forwarding is off (net.ipv4.ip_forward = 0)",
            f"the host does not route for {on_it}: nothing beyond the host is reachable",
            setup,
        )
    for warning in b.forward_blocked:
        add(
            "forward-blocked",
            "warning",
            warning,
            f"a firewall drops forwarded packets: {on_it} cannot reach beyond the host",
            f"{prog} net status --bridge {_q(b.name)}  # then accept forwarding for "
            f"{b.name} in that firewall",
            net=False,
        )
    return out
