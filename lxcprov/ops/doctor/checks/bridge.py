"""One bridge: whether it is there, is a bridge, is up, serves DHCP, routes (NAT,
forwarding, another firewall's drop policy); for the host or for a container on it."""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding, FindingId, Scope, Severity
from lxcprov.ops.doctor.views import BridgeView, HostView


def bridge_findings(
    b: BridgeView, host: HostView, prog: str, *, need_dhcp: bool, subject: str | None
) -> list[Finding]:
    """Findings about one bridge, for the host (subject None) or for a container on it.

    A bridge that is missing or is no bridge has that one problem (and a container that
    asks for DHCP has none either); a bridge has each of the others independently."""
    on = _On(b, subject, f"{prog} net setup --bridge {_q(b.name)}")
    if not b.exists:
        return _missing(on, need_dhcp=need_dhcp)
    if not b.is_bridge:
        return [_not_a_bridge(on)]
    return [*_down(on), *_no_dhcp(on, need_dhcp=need_dhcp), *_routing(on, host, prog)]


@dataclass(frozen=True)
class _On:
    """The bridge a finding is about, and whom it is told to: the host (subject None) or
    the container on it (its problems are errors then, and may stop its start)."""

    b: BridgeView
    subject: str | None
    setup: str  # the `net setup` command that repairs it

    @property
    def on_it(self) -> str:
        return f"{self.subject}" if self.subject else "containers on it"

    @property
    def strong(self) -> Severity:
        """How bad a missing, foreign or down bridge is: bad for a container on it or a
        bridge lxcprov manages; another one's is the admin's business."""
        return "error" if self.subject is not None or self.b.managed else "warning"

    def finding(
        self,
        id_: FindingId,
        severity: Severity,
        message: str,
        why: str,
        fix: str,
        *,
        net: bool = True,
        dhcp: bool = False,
        blocks: bool = False,
    ) -> Finding:
        scope: Scope = "host" if self.subject is None else "container"
        return Finding(id_, severity, scope, self.subject or self.b.name, message, why, fix,
                       "net-setup" if net else "manual", bridge=self.b.name, dhcp=dhcp,
                       blocks_start=blocks and self.subject is not None)  # fmt: skip


def _missing(on: _On, *, need_dhcp: bool) -> list[Finding]:
    b, subject = on.b, on.subject
    out = [
        on.finding(
            "bridge-missing",
            on.strong,
            f"bridge {b.name} does not exist",
            f"lxc-start fails for {on.on_it}: LXC cannot attach a veth to a missing bridge"
            if subject
            else "`lxcprov new` puts containers on it by default; without it only "
            "--network none works",
            on.setup,
            dhcp=need_dhcp,
            blocks=True,
        )
    ]
    if subject is not None and need_dhcp:
        out.append(
            on.finding(
                "no-dhcp-server",
                "error",
                f"no DHCP server serves bridge {b.name}, and {subject} asks for an address by DHCP",
                "its boot waits for a DHCP answer nobody gives (minutes, or for ever), and "
                "it has no IPv4 address",
                f"{on.setup} --dhcp",
                dhcp=True,
            )
        )
    return out


def _not_a_bridge(on: _On) -> Finding:
    b = on.b
    return on.finding(
        "not-a-bridge",
        on.strong,
        f"{b.name} exists but is not a bridge",
        f"LXC cannot attach {on.on_it} to it",
        f"{on.setup}  # or name another bridge in lxc.net.0.link"
        if not b.managed
        else f"ip link del {_q(b.name)} && {on.setup}",
        net=False,
        blocks=True,
    )


def _down(on: _On) -> list[Finding]:
    b = on.b
    if b.up:
        return []
    return [
        on.finding(
            "bridge-down",
            on.strong,
            f"bridge {b.name} is down",
            f"{on.on_it} get no network traffic through it",
            on.setup if b.managed else f"ip link set dev {_q(b.name)} up",
            net=b.managed,
        )
    ]


def _no_dhcp(on: _On, *, need_dhcp: bool) -> list[Finding]:
    b, subject = on.b, on.subject
    if not need_dhcp or b.dhcp_server:
        return []
    severity: Severity = "error" if subject is not None or b.dhcp_wanted else "warning"
    return [
        on.finding(
            "no-dhcp-server",
            severity,
            f"no DHCP server serves bridge {b.name}"
            + (f", and {subject} asks for an address by DHCP" if subject else ""),
            "a container that asks for an address by DHCP waits for an answer nobody gives: "
            "its boot hangs and it has no IPv4 address",
            f"{on.setup} --dhcp",
            dhcp=True,
        )
    ]


def _routing(on: _On, host: HostView, prog: str) -> list[Finding]:
    """What keeps containers on the bridge from reaching beyond the host."""
    b = on.b
    out: list[Finding] = []
    if b.managed and b.nat_wanted and not b.nat_present:
        out.append(on.finding("nat-missing", "warning",
                              f"the NAT rule for bridge {b.name} is missing",
                              f"{on.on_it} cannot reach anything beyond this host",
                              on.setup))  # fmt: skip
    if b.managed and b.nat_wanted and not host.ip_forward:
        out.append(on.finding("ip-forward-off", "warning",
                              "IPv4 forwarding is off (net.ipv4.ip_forward = 0)",
                              f"the host does not route for {on.on_it}: nothing beyond the "
                              "host is reachable",
                              on.setup))  # fmt: skip
    for warning in b.forward_blocked:
        out.append(on.finding("forward-blocked", "warning", warning,
                              f"a firewall drops forwarded packets: {on.on_it} cannot reach "
                              "beyond the host",
                              f"{prog} net status --bridge {_q(b.name)}  # then accept "
                              f"forwarding for {b.name} in that firewall",
                              net=False))  # fmt: skip
    return out
