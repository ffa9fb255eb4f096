"""Published ports: whether a bridge's DNAT rules are what its forwards.json lists, and
whether each of a container's published ports still leads to it."""

from __future__ import annotations

from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import BridgeView, ContainerView
from lxcprov.system.hostnet.nat import DNAT_CHAINS, Dnat


def table_findings(b: BridgeView, prog: str) -> list[Finding]:
    """A managed bridge's DNAT rules against its table of published ports.

    A rule no entry lists is an open port nobody sees in `forward ls` (an error: the
    admin believes it closed); a listed port without its rules leads nowhere (a warning:
    closed, as a killed `forward add` or `forward rm` leaves it). `net setup` writes the
    rules from the table again."""
    if not b.managed or not b.exists or b.dnat_rules is None:
        return []
    rules, out = b.dnat_rules, []
    setup = f"{prog} net setup --bridge {_q(b.name)}"
    unlisted = sorted({r for r in rules if r not in b.listed})
    if unlisted:
        out.append(Finding(
            "forwards-out-of-step", "error", "host", b.name,
            f"bridge {b.name}'s rules forward {_labels(unlisted)}, which its forward table "
            "does not list",
            "the port is open, but `forward ls` does not show it: the rules or the table "
            "were changed by other hands (lxcprov takes a port's rules away before its entry)",
            setup, "net-setup", bridge=b.name,
        ))  # fmt: skip
    unruled = _unruled(b, rules)
    if unruled:
        out.append(Finding(
            "forwards-out-of-step", "warning", "host", b.name,
            f"bridge {b.name} lists {_labels(unruled)}, but its rules do not forward it",
            "connections to the port reach nothing (a `forward add` or `forward rm` killed "
            "half-way, or the rules flushed); net setup forwards it as listed, or "
            "`forward rm` takes it off the list",
            setup, "net-setup", bridge=b.name,
        ))  # fmt: skip
    return out


def _unruled(b: BridgeView, rules: tuple[Dnat, ...]) -> list[Dnat]:
    """The listed ports without a rule in each DNAT chain."""
    return [d for d in b.listed if {r.chain for r in rules if r == d} != set(DNAT_CHAINS)]


def own_ports_unruled(b: BridgeView, view: ContainerView, prog: str) -> list[Finding]:
    """The container's own published ports whose rules are gone: the host's doctor says
    it of the bridge, and `doctor NAME` is where the container's owner looks. Its own by
    owner (name@lxcpath): a namesake in another lxcpath on the bridge is another one."""
    if not b.managed or not b.exists or b.dnat_rules is None or not view.net.owner:
        return []
    name = view.name
    mine = [d for d in _unruled(b, b.dnat_rules) if d.owner == view.net.owner]
    if not mine:
        return []
    return [Finding(
        "forwards-out-of-step", "warning", "container", name,
        f"{name}'s published {_labels(mine)} is not forwarded as listed: bridge {b.name} "
        "lacks its rules, or some of them",
        "connections to the port reach nothing (a `forward add` or `forward rm` killed "
        "half-way, or the rules flushed); net setup forwards it as listed",
        f"{prog} net setup --bridge {_q(b.name)}", "net-setup", bridge=b.name,
    )]  # fmt: skip


def _labels(found: list[Dnat]) -> str:
    return ", ".join(d.label() for d in found)


def forward_findings(view: ContainerView, prog: str) -> list[Finding]:
    """Each published port's rule, the container's reservation or static address, and the
    address it really has must agree, or the port leads nowhere."""
    out: list[Finding] = []
    mac = view.config.get("lxc.net.0.hwaddr", "").lower()
    static = view.net.address.split("/")[0] if view.net.mode == "static" else ""
    for fw in view.forwards:
        wrong = ""
        if view.net.mode == "none":
            wrong = "the container has no network"
        elif static and fw.address != static:
            wrong = f"the container's address is {static}"
        elif not static and fw.booked != fw.address:
            wrong = f"its DHCP reservation is {fw.booked or 'gone'}"
        elif not static and fw.mac != mac:
            wrong = f"the reservation is for MAC {fw.mac or '(none)'}, its veth has {mac}"
        if wrong:
            fix = f"{prog} forward add {_q(view.name)} {_port_args(fw.label)}  # again"
            message = f"published {fw.label} goes to {fw.address}, but {wrong}"
            why = "connections to the host port reach no container (or another one)"
            out.append(Finding("forward-mismatch", "error", "container", view.name, message,
                               why, fix))  # fmt: skip
        elif view.running_ipv4 is not None and fw.address not in view.running_ipv4:
            has = ", ".join(view.running_ipv4) or "no address"
            message = f"published {fw.label} goes to {fw.address}, the container has {has} now"
            why = ("it gets its reserved address at its next DHCP renewal or restart; until "
                   "then the port leads nowhere")  # fmt: skip
            fix = f"{prog} stop {_q(view.name)} && {prog} start {_q(view.name)}"
            out.append(Finding("forward-waiting", "warning", "container", view.name, message,
                               why, fix))  # fmt: skip
    return out


def _port_args(label: str) -> str:
    """`forward add` arguments from a label "[ADDR:]PORT/PROTO -> NAME:CPORT"."""
    host, _, rest = label.partition(" -> ")
    port, _, proto = host.partition("/")
    inside = rest.rpartition(":")[2]
    return f"{port} {inside}" + (" --udp" if proto == "udp" else "")
