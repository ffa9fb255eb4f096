"""`lxcprov forward add | rm | ls` and `new --publish`: a container's port on a host port.

A forward is a DNAT rule in the bridge's nftables table (lxcprov.system.hostnet.nat) to
an address that must not move under it:

- a static container: its own address;
- a DHCP container: a reservation of its MAC in dnsmasq (the address book entry of a DHCP
  container is one): the address it has leased when it runs, else a free static one it
  gets at its next start. The network recipes make DHCP clients identify by MAC, so the
  reservation holds across reboots and machine-id changes.

Host ports are the host's: one container per host address and port (a clear error
otherwise), and never a port a host service listens on. The rules are part of
`net setup` (restored by it and by `start --all`) and go away with the container.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Literal

from lxcprov.engine.network import owner_of

# Parsed in lxcprov.engine.publish (so `apply` documents read them the same way).
from lxcprov.engine.publish import Proto as Proto
from lxcprov.engine.publish import Publish as Publish
from lxcprov.engine.publish import parse_host as parse_host
from lxcprov.engine.publish import parse_publish as parse_publish
from lxcprov.errors import ForwardError, InvalidArgumentError
from lxcprov.ops import recovery, targets
from lxcprov.ops.network import current_of
from lxcprov.system import hostnet, locks, lxc
from lxcprov.system.hostnet import forwards as store
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.netintent import NetIntent

Status = Literal["changed", "no change", "removed", "needs restart"]


@dataclass(frozen=True)
class Result:
    bridge: str
    forward: Forward
    status: Status
    detail: str = ""
    host: tuple[str, ...] = ()  # what was changed on the host for it (rules, sysctls)

    def as_dict(self) -> dict[str, object]:
        return {**self.forward.as_dict(), "bridge": self.bridge, "status": self.status,
                "detail": self.detail, "host_changes": list(self.host)}  # fmt: skip


def _network(container: lxc.Container) -> tuple[NetIntent, str, str]:
    """The container's managed bridge, its owner name and its MAC (or one clear line)."""
    current = current_of(container)
    intent = current.intent
    if intent.mode == "none" or not intent.bridge:
        raise ForwardError(
            f"{container.name} has no network: nothing can reach its ports",
            hint=f"lxcprov set {container.name} bridge=BRIDGE",
        )
    if hostnet.load_settings(intent.bridge) is None:
        raise ForwardError(
            f"{container.name} is on {intent.bridge}, which lxcprov does not manage: published "
            "ports are rules of a bridge lxcprov set up",
            hint=f"lxcprov set {container.name} bridge=BRIDGE (one made by lxcprov net setup)",
        )
    if not current.mac:
        raise ForwardError(f"{container.name} has no MAC address in its config",
                           hint=f"lxcprov fix {container.name}")  # fmt: skip
    return intent, owner_of(container.name, str(container.lxcpath)), current.mac


def _running_ipv4(container: lxc.Container, bridge: str) -> ipaddress.IPv4Address | None:
    if not container.running():
        return None
    net = hostnet.load_settings(bridge)
    for text in container.ipv4():
        ip = ipaddress.IPv4Address(text)
        if net is not None and ip in net.ipv4.network:
            return ip
    return None


def stable_address(container: lxc.Container, intent: NetIntent, owner: str,
                   mac: str) -> tuple[ipaddress.IPv4Address, str]:  # fmt: skip
    """The address a forward to this container goes to, and why it may wait for a restart
    ("" when the container has it already, or is stopped and gets it at its start)."""
    bridge = intent.bridge
    hostnet.register(bridge, owner, mac)  # its reservation is by this MAC
    running = _running_ipv4(container, bridge)
    if intent.mode == "static":
        address = ipaddress.IPv4Interface(intent.address).ip
    else:
        booked = hostnet.address_book(bridge).get(owner)
        if booked is not None:
            address = booked
        elif running is not None:
            hostnet.pin_address(bridge, owner, running)
            address = running
        else:
            address = hostnet.allocate_address(bridge, owner).ip
    if container.running() and running != address:
        return address, (
            f"{container.name} has {running or 'no address'} now and gets {address} at its "
            "next DHCP renewal or restart"
        )
    return address, ""


def add(container: lxc.Container, p: Publish) -> Result:
    lxc.require_root()
    targets.refuse_base(container, "forward add")
    with locks.container(container.lxcpath, container.name, "forward add"):
        recovery.refuse_incomplete(container)
        container.require()
        return _add(container, p)


def _add(container: lxc.Container, p: Publish) -> Result:
    check_host_addr(p)
    intent, owner, mac = _network(container)
    address, wait = stable_address(container, intent, owner, mac)
    fw = Forward(owner, p.proto, p.host_port, p.container_port, str(address), p.host_addr)
    before = hostnet.list_forwards(intent.bridge)[intent.bridge]
    done = hostnet.add_forward(intent.bridge, fw).actions  # said: every change to the host
    if wait:
        return Result(intent.bridge, fw, "needs restart", wait, done)
    if fw in before:
        return Result(intent.bridge, fw, "no change", "already published", done)
    return Result(intent.bridge, fw, "changed", host=done)


def _local_ipv4() -> set[ipaddress.IPv4Address]:
    """This host's own IPv4 addresses (its network namespace's local table)."""
    found = lxc.netns_addresses(os.getpid())
    return {ipaddress.IPv4Address(a) for a in (found[0] if found else [])}


def check_host_addr(p: Publish) -> None:
    """A host address given for a published port is one of this host's (a loopback
    address included): a rule for another machine's address would never match, silently."""
    if not p.host_addr:
        return
    addr = ipaddress.IPv4Address(p.host_addr)
    if addr.is_loopback or addr in _local_ipv4():
        return
    mine = ", ".join(sorted(str(a) for a in _local_ipv4())) or "none"
    raise InvalidArgumentError(
        f"{addr} is not an address of this host: nothing would ever arrive there",
        hint=f"this host's addresses: {mine} (or give only the port: every address)",
    )


def add_new(container: lxc.Container, wanted: list[Publish]) -> None:
    """`new --publish`: the container exists, its lock is held, it has not started."""
    for p in wanted:
        _add(container, p)


def check_new(name: str, lxcpath_: str, wanted: list[Publish]) -> None:
    """Before `new` makes anything: the host ports are free (one clear line if not)."""
    seen: set[tuple[str, int, str]] = set()
    everywhere = hostnet.list_forwards()
    owner = owner_of(name, lxcpath_)
    for p in wanted:
        key = (p.proto, p.host_port, p.host_addr)
        if key in seen:
            raise InvalidArgumentError(f"--publish {p.host_port}/{p.proto} is given twice")
        seen.add(key)
        # The address is not known yet; the checks look at host ports only.
        fw = Forward(owner, p.proto, p.host_port, p.container_port, "", p.host_addr)
        check_host_addr(p)
        store.check_free(fw, everywhere)
        store.check_host_port(fw)


def remove(container: lxc.Container, host: str | None, proto: Proto | None) -> list[Result]:
    """Unpublish one host port of the container ([HOST_ADDR:]PORT), or all (host None)."""
    lxc.require_root()
    with locks.container(container.lxcpath, container.name, "forward rm"):
        owner = owner_of(container.name, str(container.lxcpath))
        port = None if host is None else parse_host(host)[1]
        gone: list[Result] = []
        for bridge, found in hostnet.list_forwards().items():
            if any(f.owner == owner for f in found):
                removed = hostnet.remove_forwards(bridge, owner, port, proto)
                gone += [Result(bridge, f, "removed") for f in removed]
        if not gone:
            what = "no published ports" if host is None else f"nothing published on {host}"
            raise ForwardError(f"{container.name} has {what}",
                               hint=f"lxcprov forward ls {container.name}")  # fmt: skip
        return gone


def listing(container: lxc.Container | None = None) -> list[tuple[str, Forward]]:
    """(bridge, forward) for one container, or for every container of every bridge."""
    owner = None if container is None else owner_of(container.name, str(container.lxcpath))
    return [
        (bridge, f)
        for bridge, found in store.read_all().items()  # no hostnet API: `ls`, `show` read this
        for f in found
        if owner is None or f.owner == owner
    ]


def follow(container: lxc.Container, before: NetIntent, after: NetIntent) -> list[str]:
    """After `set` changed the network: published ports follow the container's address on
    the same bridge; moved to another bridge (or none), they are taken down (said)."""
    owner = owner_of(container.name, str(container.lxcpath))
    mine = [(b, f) for b, f in listing(container)]
    if not mine:
        return []
    notes: list[str] = []
    for bridge, f in mine:
        hostnet.remove_forwards(bridge, owner, f.host_port, f.proto)
        if after.mode == "none" or after.bridge != bridge:
            notes.append(f"unpublished {f.label()} (the container left {bridge})")
            continue
        again = _add(container, Publish(f.host_port, f.container_port, f.proto, f.host_addr))
        if again.forward.address != f.address:
            notes.append(f"{f.label()} now goes to {again.forward.address}")
    return notes
