"""A container's published ports: whether each still leads to it."""

from __future__ import annotations

from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView


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
