"""Pure diff: wanted settings + observed host -> the actions that make them agree.

No I/O here: every input is data, every output is data (actions with a human
description, and notes for the user): the actions are lxcprov.system.hostnet.actions,
carried out by lxcprov.system.hostnet.apply.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lxcprov.errors import NotABridgeError, SubnetOverlapError, UplinkError
from lxcprov.system.hostnet import dnsmasq, guard, names, nat, openings
from lxcprov.system.hostnet.actions import (
    IP_FORWARD,
    IPV6_FORWARD,
    Action,
    AddAddress,
    AddAddress6,
    CloseForeignChain,
    CreateBridge,
    DeleteBridge,
    DeleteGuardTable,
    DeleteNatTable,
    DisableTxChecksum,
    FixBridgeMac,
    ForgetSettings,
    KeepRouterAdverts,
    LinkUp,
    OpenForeignChain,
    RemoveAddress,
    RemoveAddress6,
    RemoveStateDir,
    ReplaceGuardTable,
    ReplaceNatTable,
    SaveSettings,
    SetSysctl,
    StartDnsmasq,
    StopDnsmasq,
    WriteServedNames,
    accept_ra_path,
    autoconf_path,
    bridge_forwarding_path,
)
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.hostnet.observe import BridgeState, HostState
from lxcprov.system.hostnet.settings import NetSettings


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    uplink: str | None = None
    dns: bool = True
    uplink6: str | None = None  # where the IPv6 prefix is masqueraded out (NAT66)


def resolve_uplink(wanted: NetSettings, host: HostState) -> str | None:
    """The interface to masquerade out of (None when NAT is off)."""
    if not wanted.nat:
        return None
    uplink = wanted.uplink or host.default_uplink
    if uplink is None:
        raise UplinkError("NAT is on but this host has no default route to find the uplink by")
    if uplink == wanted.bridge:
        raise UplinkError(f"the uplink cannot be the bridge {wanted.bridge} itself")
    if uplink not in host.links:
        raise UplinkError(f"uplink interface {uplink} does not exist")
    return uplink


def _check_overlaps(
    wanted: NetSettings, host: HostState, others: Mapping[str, ipaddress.IPv4Network]
) -> None:
    subnet = wanted.ipv4.network
    for route in host.routes:
        if route.dev != wanted.bridge and route.network.overlaps(subnet):
            raise SubnetOverlapError(
                f"{subnet} overlaps the route {route.network} via {route.dev or '?'}"
            )
    for name, other in sorted(others.items()):
        if name != wanted.bridge and other.overlaps(subnet):
            raise SubnetOverlapError(f"{subnet} overlaps {other} of managed bridge {name}")


@dataclass(frozen=True)
class _Link:
    """What the bridge phase decided that later phases build on."""

    actions: tuple[Action, ...]
    created: bool  # the bridge does not exist yet
    mac: str | None  # the bridge's MAC (the one it is made with when created)
    address_added: bool  # an address dnsmasq binds to is new: it must restart


def plan_setup(
    wanted: NetSettings,
    host: HostState,
    *,
    saved: NetSettings | None,
    is_default: bool,
    make_default: bool,
    paths: dnsmasq.DnsmasqPaths,
    others: Mapping[str, ipaddress.IPv4Network] | None = None,
    forwards: tuple[Forward, ...] = (),
    ports: tuple[guard.Port, ...] = (),
    served: tuple[str, str] | None = None,
) -> Plan:
    """Actions that turn host into wanted; an empty tuple when they already agree.

    ports: the guarded containers of the bridge, from its books (the guard table);
    served: the hosts and dhcp-hosts texts the books give (None: not looked at).

    Each phase below is pure and decides one thing, in the order the actions run: the
    bridge itself, routing sysctls, the NAT table, the guard, other tables' drop chains,
    dnsmasq; the settings are saved before all of them."""
    _refuse(wanted, host, others or {})
    uplink = resolve_uplink(wanted, host)
    uplink6 = _uplink6(wanted, host, uplink)
    table = nat.Wanted(
        wanted.ipv4.network, uplink, forwards,
        wanted.ipv6.network if wanted.ipv6 else None, uplink6,
    )  # fmt: skip
    routed = uplink is not None or bool(forwards)
    link = _plan_link(wanted, host)
    dns = not host.dns_port_holders
    actions = [
        *link.actions,
        *_plan_forwarding(wanted, host, link.created, routed=routed, ipv6=uplink6 is not None),
        *_plan_nat(wanted.bridge, host, table),
        *_plan_bridge_guard(wanted, host, link.mac, ports),
        *_plan_openings(wanted, host, routed=routed),
        *_plan_dnsmasq(wanted, host, link, paths, served, dns=dns),
    ]
    notes = [f"warning: {n}" for n in host.firewall_notes if routed]
    notes += _dns_notes(wanted, host, dns=dns)
    if saved != wanted or (make_default and not is_default):
        # Saved first: a setup killed half-way leaves a bridge lxcprov knows it made, so
        # `net setup` finishes it and `net teardown` removes it.
        actions.insert(0, SaveSettings(wanted, make_default))
    return Plan(tuple(actions), tuple(notes), uplink, dns, uplink6)


def _refuse(
    wanted: NetSettings, host: HostState, others: Mapping[str, ipaddress.IPv4Network]
) -> None:
    """Raise when no plan can make host into wanted: a device of that name that is not a
    bridge, or a subnet another route or managed bridge has."""
    br = host.bridge
    if br is not None and not br.is_bridge:
        raise NotABridgeError(
            f"{wanted.bridge} exists and is not a bridge (it is {br.kind or 'a device'})"
        )
    _check_overlaps(wanted, host, others)


def _uplink6(wanted: NetSettings, host: HostState, uplink: str | None) -> str | None:
    """The interface to masquerade IPv6 out of (None when NAT66 is off or there is no
    IPv6 subnet); found as the IPv4 one would be when IPv4 NAT is off."""
    uplink6 = uplink if wanted.nat6 and wanted.ipv6 is not None else None
    if wanted.nat6 and uplink6 is None:
        uplink6 = resolve_uplink(replace(wanted, nat=True), host)
    return uplink6


def _plan_link(wanted: NetSettings, host: HostState) -> _Link:
    """The bridge: made or its MAC kept, IPv6 autoconfiguration off, addresses, checksum
    offload, up."""
    br = host.bridge
    created = br is None
    mac = names.bridge_mac(wanted.bridge) if br is None else br.mac
    actions: list[Action] = []
    if br is None:
        actions.append(CreateBridge(wanted.bridge, mac))
    elif br.mac and br.mac_fixed is False:
        actions.append(FixBridgeMac(wanted.bridge, br.mac))
    actions += _plan_autoconf(wanted.bridge, host, created)
    addresses, address_added = _plan_addresses(wanted, br)
    actions += addresses
    if br is None or not br.up:
        actions.append(LinkUp(wanted.bridge))
    return _Link(tuple(actions), created, mac, address_added)


def _plan_addresses(wanted: NetSettings, br: BridgeState | None) -> tuple[list[Action], bool]:
    """The bridge's addresses as wanted (and checksum offload off where DHCP answers, a
    step of the IPv4 address's own); True when one it binds to is new."""
    current = () if br is None else br.ipv4
    actions: list[Action] = [RemoveAddress(wanted.bridge, a) for a in current if a != wanted.ipv4]
    added = wanted.ipv4 not in current
    if added:
        actions.append(AddAddress(wanted.bridge, wanted.ipv4))
    if wanted.dhcp and (br is None or br.tx_checksum_offload):
        actions.append(DisableTxChecksum(wanted.bridge))
    current6 = () if br is None else br.ipv6
    actions += [RemoveAddress6(wanted.bridge, a) for a in current6 if a != wanted.ipv6]
    if wanted.ipv6 is not None and wanted.ipv6 not in current6:
        actions.append(AddAddress6(wanted.bridge, wanted.ipv6))
        added = True
    return actions, added


def _plan_autoconf(bridge: str, host: HostState, created: bool) -> list[Action]:
    """The host takes no router advertisement on its own bridge: the containers are not
    its routers (measured without it: a container's advertisement gave the host an
    address and a route in the container's prefix); nor makes an address from one's
    prefix, should accept_ra be turned back on."""
    if not host.ipv6_conf:
        return []
    actions: list[Action] = []
    if created or host.bridge_accept_ra not in (None, "0"):
        actions.append(SetSysctl(accept_ra_path(bridge), "0"))
    if created or host.bridge_autoconf not in (None, "0"):
        actions.append(SetSysctl(autoconf_path(bridge), "0"))
    return actions


def _plan_forwarding(
    wanted: NetSettings, host: HostState, created: bool, *, routed: bool, ipv6: bool
) -> list[Action]:
    """Routing between the bridge and the rest (NAT out, published ports in), and IPv6
    forwarding for NAT66."""
    actions: list[Action] = []
    if routed:
        if not host.ip_forward:
            actions.append(SetSysctl(IP_FORWARD, "1"))
        if created or host.bridge_forwarding is False:
            actions.append(SetSysctl(bridge_forwarding_path(wanted.bridge), "1"))
    if ipv6 and not host.ipv6_forward:
        actions += [KeepRouterAdverts(n, i) for n, i in host.accept_ra_1]
        actions.append(SetSysctl(IPV6_FORWARD, "1"))
    return actions


def _plan_nat(bridge: str, host: HostState, table: nat.Wanted) -> list[Action]:
    """The NAT table written whole when it differs; no table when nothing needs one."""
    if not table.empty:
        if host.nft != nat.wanted_contents(bridge, table):
            return [ReplaceNatTable(bridge, table)]
        return []
    return [DeleteNatTable(bridge)] if host.nft is not None else []


def _plan_bridge_guard(
    wanted: NetSettings, host: HostState, mac: str | None, ports: tuple[guard.Port, ...]
) -> tuple[Action, ...]:
    """The guard of the bridge: its own addresses and MAC, and each port held to its own."""
    gateway6 = wanted.ipv6.ip if wanted.ipv6 is not None else None
    seen = () if host.bridge is None else host.bridge.link_local
    own_ll = guard.bridge_link_locals(mac, seen)
    table = guard.Wanted(wanted.ipv4.ip, gateway6, ports, mac, own_ll)
    return plan_guard(wanted.bridge, table, host.guard)


def _plan_openings(wanted: NetSettings, host: HostState, *, routed: bool) -> list[Action]:
    """Our accept rules in other tables' drop-policy chains: open where the bridge needs
    the traffic (forwarding when routed; input when dnsmasq answers), closed elsewhere."""
    v6 = wanted.ipv6 is not None
    serves = wanted.dhcp or v6  # dnsmasq answers on the bridge
    actions: list[Action] = []
    for chain in host.foreign_drops:
        if (chain.hook == "forward" and not routed) or (chain.hook == "input" and not serves):
            wanted_open = False
        else:
            wanted_open = bool(openings.wanted_rules(chain, wanted.bridge, v6))
        if wanted_open and not openings.is_open(chain, wanted.bridge, v6):
            actions.append(OpenForeignChain(wanted.bridge, chain, v6))
        elif not wanted_open and chain.ours:
            actions.append(CloseForeignChain(wanted.bridge, chain))
    return actions


def _plan_dnsmasq(
    wanted: NetSettings,
    host: HostState,
    link: _Link,
    paths: dnsmasq.DnsmasqPaths,
    served: tuple[str, str] | None,
    *,
    dns: bool,
) -> list[Action]:
    """dnsmasq: the files it serves, then (re)started when its arguments, the bridge or
    its addresses changed; stopped when nothing on the bridge needs it."""
    dm = host.dnsmasq
    stop = StopDnsmasq(wanted.bridge, dm.pid, paths.pid_file)
    running = dm.pid is not None or dm.stale_pid_file
    if not (wanted.dhcp or wanted.ipv6 is not None):
        return [stop] if running else []
    actions: list[Action] = []
    if served is not None and host.served != served:
        actions.append(WriteServedNames(wanted.bridge, *served, paths))
    args = dnsmasq.arguments(wanted, paths, dns=dns)
    if dm.pid is None or dm.args != args or link.created or link.address_added:
        if running:
            actions.append(stop)
        actions.append(StartDnsmasq(wanted.bridge, args, paths.pid_file))
    return actions


def _dns_notes(wanted: NetSettings, host: HostState, *, dns: bool) -> list[str]:
    """Why containers' names are not resolved, when dnsmasq cannot serve DNS."""
    if dns or not (wanted.dhcp or wanted.ipv6 is not None):
        return []
    return [
        f"port 53 on {wanted.ipv4.ip} is taken ({', '.join(host.dns_port_holders)}): "
        "dnsmasq serves DHCP only, container names are not resolved"
    ]


def plan_teardown(
    bridge: str,
    host: HostState,
    *,
    managed: bool,
    paths: dnsmasq.DnsmasqPaths,
    nat6: bool = False,
) -> Plan:
    """Actions that remove what setup made for bridge, and nothing else."""
    actions: list[Action] = []
    notes: list[str] = []
    dm = host.dnsmasq
    if dm.pid is not None or dm.stale_pid_file:
        actions.append(StopDnsmasq(bridge, dm.pid, paths.pid_file))
    if host.nft is not None:
        actions.append(DeleteNatTable(bridge))
    if host.guard is not None:
        actions.append(DeleteGuardTable(bridge))
    actions += [CloseForeignChain(bridge, c) for c in host.foreign_drops if c.ours]
    br = host.bridge
    if br is not None:
        if managed and br.is_bridge:
            actions.append(DeleteBridge(bridge))
        else:
            notes.append(f"{bridge} is not a bridge managed by lxcprov: left alone")
    if host.state_dir_exists:
        actions.append(RemoveStateDir(paths.pid_file.parent))
    if managed:
        actions.append(ForgetSettings(bridge))
    notes.append("net.ipv4.ip_forward is left as it is (other things may rely on it)")
    if nat6 and host.ipv6_forward:  # this bridge's NAT66 turned it on (or found it on)
        notes.append(
            "net.ipv6.conf.all.forwarding is left on, and accept_ra 2 on the host's links "
            "(other bridges or things may rely on it)"
        )
    return Plan(tuple(actions), tuple(notes))


def plan_guard(
    bridge: str, wanted: guard.Wanted, observed: guard.GuardContents | None
) -> tuple[Action, ...]:
    """The guard table's change, if any: it is rewritten whole (one atomic batch)."""
    if observed == guard.wanted_contents(bridge, wanted):
        return ()
    return (ReplaceGuardTable(bridge, wanted),)
