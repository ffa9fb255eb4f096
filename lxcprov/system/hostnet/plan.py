"""Pure diff: wanted settings + observed host -> the actions that make them agree.

No I/O here: every input is data, every output is data (actions with a human
description, and notes for the user). :mod:`lxcprov.hostnet.apply` carries them out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lxcprov.errors import NotABridgeError, SubnetOverlapError, UplinkError
from lxcprov.system.hostnet import dnsmasq, guard, names, nat, openings
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.hostnet.observe import HostState
from lxcprov.system.hostnet.settings import NetSettings

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
IPV6_FORWARD = "/proc/sys/net/ipv6/conf/all/forwarding"


def bridge_forwarding_path(bridge: str) -> str:
    return f"/proc/sys/net/ipv4/conf/{bridge}/forwarding"


def accept_ra_path(bridge: str) -> str:
    return f"/proc/sys/net/ipv6/conf/{bridge}/accept_ra"


def autoconf_path(bridge: str) -> str:
    return f"/proc/sys/net/ipv6/conf/{bridge}/autoconf"


@dataclass(frozen=True)
class Action:
    @property
    def description(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateBridge(Action):
    bridge: str
    mac: str | None = None  # set at creation (kept whatever ports join)

    @property
    def description(self) -> str:
        return f"create bridge {self.bridge}" + (f" (MAC {self.mac})" if self.mac else "")


@dataclass(frozen=True)
class FixBridgeMac(Action):
    """Set the bridge's MAC to the one it has: a bridge whose MAC was never set takes the
    lowest of its ports' and changes it as they come and go; the guard owns one MAC."""

    bridge: str
    mac: str

    @property
    def description(self) -> str:
        return f"keep {self.mac} as the MAC of {self.bridge} whatever ports join or leave"


@dataclass(frozen=True)
class AddAddress(Action):
    bridge: str
    ipv4: ipaddress.IPv4Interface

    @property
    def description(self) -> str:
        return f"add address {self.ipv4} to {self.bridge}"


@dataclass(frozen=True)
class RemoveAddress(Action):
    bridge: str
    ipv4: ipaddress.IPv4Interface

    @property
    def description(self) -> str:
        return f"remove address {self.ipv4} from {self.bridge}"


@dataclass(frozen=True)
class AddAddress6(Action):
    bridge: str
    ipv6: ipaddress.IPv6Interface

    @property
    def description(self) -> str:
        return f"add address {self.ipv6} to {self.bridge}"


@dataclass(frozen=True)
class RemoveAddress6(Action):
    bridge: str
    ipv6: ipaddress.IPv6Interface

    @property
    def description(self) -> str:
        return f"remove address {self.ipv6} from {self.bridge}"


@dataclass(frozen=True)
class DisableTxChecksum(Action):
    bridge: str

    @property
    def description(self) -> str:
        return (
            f"turn off tx checksum offload on {self.bridge} "
            "(so DHCP answers carry a valid UDP checksum on the veth)"
        )


@dataclass(frozen=True)
class LinkUp(Action):
    bridge: str

    @property
    def description(self) -> str:
        return f"bring {self.bridge} up"


@dataclass(frozen=True)
class SetSysctl(Action):
    path: str
    value: str

    @property
    def description(self) -> str:
        key = self.path.removeprefix("/proc/sys/").replace("/", ".")
        return f"set {key} = {self.value}"


@dataclass(frozen=True)
class ReplaceNatTable(Action):
    bridge: str
    wanted: nat.Wanted

    @property
    def description(self) -> str:
        w = self.wanted
        parts = []
        if w.uplink:
            parts.append(f"masquerade {w.subnet} out of {w.uplink}, accept forwarding")
        if w.forwards:
            parts.append(", ".join(f.label() for f in w.forwards))
        if w.ipv6:
            parts.append(f"accept ICMPv6/DHCPv6/DNS from {self.bridge}")
        if w.uplink6:
            parts.append(f"masquerade {w.ipv6} out of {w.uplink6}")
        return f"write nftables table {nat.FAMILY} {nat.table_name(self.bridge)}: " + "; ".join(
            parts
        )


@dataclass(frozen=True)
class WriteServedNames(Action):
    """dnsmasq's hosts and dhcp-hosts files as the books say (a command killed between
    its books and these files left them behind)."""

    bridge: str
    hosts: str
    dhcp_hosts: str
    paths: dnsmasq.DnsmasqPaths

    @property
    def description(self) -> str:
        return f"write the names and reservations dnsmasq serves on {self.bridge}"


@dataclass(frozen=True)
class ReplaceGuardTable(Action):
    bridge: str
    wanted: guard.Wanted

    @property
    def description(self) -> str:
        n = len(self.wanted.ports)
        return (
            f"write nftables table {guard.FAMILY} {guard.table_name(self.bridge)}: "
            f"{n} container{'s' * (n != 1)} held to their own MAC and addresses"
        )


@dataclass(frozen=True)
class DeleteGuardTable(Action):
    bridge: str

    @property
    def description(self) -> str:
        return f"delete nftables table {guard.FAMILY} {guard.table_name(self.bridge)}"


@dataclass(frozen=True)
class OpenForeignChain(Action):
    """Our accept rules at the top of another table's drop-policy chain (openings.py)."""

    bridge: str
    chain: openings.ForeignChain
    ipv6: bool

    @property
    def description(self) -> str:
        what = "DHCP, DNS and ICMPv6" if self.ipv6 else "DHCP and DNS"
        if self.chain.hook == "forward":
            what = "forwarding"
        return (
            f"let {self.bridge}'s {what} through nftables chain {self.chain.where()} "
            "(its policy is drop)"
        )


@dataclass(frozen=True)
class CloseForeignChain(Action):
    bridge: str
    chain: openings.ForeignChain

    @property
    def description(self) -> str:
        return f"remove lxcprov's rules for {self.bridge} from nftables chain {self.chain.where()}"


@dataclass(frozen=True)
class DeleteNatTable(Action):
    bridge: str

    @property
    def description(self) -> str:
        return f"delete nftables table {nat.FAMILY} {nat.table_name(self.bridge)}"


@dataclass(frozen=True)
class StopDnsmasq(Action):
    bridge: str
    pid: int | None  # None: only a stale pid file to remove
    pid_file: Path

    @property
    def description(self) -> str:
        if self.pid is None:
            return f"remove stale dnsmasq pid file {self.pid_file}"
        return f"stop dnsmasq for {self.bridge} (pid {self.pid})"


@dataclass(frozen=True)
class StartDnsmasq(Action):
    bridge: str
    args: tuple[str, ...]
    pid_file: Path

    @property
    def description(self) -> str:
        mode = "DHCP only" if "--port=0" in self.args else "DHCP and DNS"
        return f"start dnsmasq on {self.bridge} ({mode})"


@dataclass(frozen=True)
class SaveSettings(Action):
    settings: NetSettings
    make_default: bool

    @property
    def description(self) -> str:
        extra = " (default bridge)" if self.make_default else ""
        return f"save settings of {self.settings.bridge}{extra}"


@dataclass(frozen=True)
class DeleteBridge(Action):
    bridge: str

    @property
    def description(self) -> str:
        return f"delete bridge {self.bridge}"


@dataclass(frozen=True)
class RemoveStateDir(Action):
    path: Path

    @property
    def description(self) -> str:
        return f"remove state directory {self.path}"


@dataclass(frozen=True)
class ForgetSettings(Action):
    bridge: str

    @property
    def description(self) -> str:
        return f"remove {self.bridge} from the saved settings"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    uplink: str | None = None
    dns: bool = True


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
    served: the hosts and dhcp-hosts texts the books give (None: not looked at)."""
    br = host.bridge
    if br is not None and not br.is_bridge:
        raise NotABridgeError(
            f"{wanted.bridge} exists and is not a bridge (it is {br.kind or 'a device'})"
        )
    _check_overlaps(wanted, host, others or {})
    uplink = resolve_uplink(wanted, host)
    actions: list[Action] = []
    notes: list[str] = []

    created = br is None
    current = () if br is None else br.ipv4
    bridge_mac = names.bridge_mac(wanted.bridge) if br is None else br.mac
    if created:
        actions.append(CreateBridge(wanted.bridge, bridge_mac))
    elif br is not None and br.mac and br.mac_fixed is False:
        actions.append(FixBridgeMac(wanted.bridge, br.mac))
    if host.ipv6_conf and (created or host.bridge_accept_ra not in (None, "0")):
        # The host takes no router advertisement on its own bridge: the containers are
        # not its routers (measured without it: a container's advertisement gave the host
        # an address and a route in the container's prefix).
        actions.append(SetSysctl(accept_ra_path(wanted.bridge), "0"))
    if host.ipv6_conf and (created or host.bridge_autoconf not in (None, "0")):
        # Nor makes an address from one's prefix, should accept_ra be turned back on.
        actions.append(SetSysctl(autoconf_path(wanted.bridge), "0"))
    actions += [RemoveAddress(wanted.bridge, a) for a in current if a != wanted.ipv4]
    address_added = wanted.ipv4 not in current
    if address_added:
        actions.append(AddAddress(wanted.bridge, wanted.ipv4))
    if wanted.dhcp and (created or (br is not None and br.tx_checksum_offload)):
        actions.append(DisableTxChecksum(wanted.bridge))
    current6 = () if br is None else br.ipv6
    actions += [RemoveAddress6(wanted.bridge, a) for a in current6 if a != wanted.ipv6]
    if wanted.ipv6 is not None and wanted.ipv6 not in current6:
        actions.append(AddAddress6(wanted.bridge, wanted.ipv6))
        address_added = True
    if created or (br is not None and not br.up):
        actions.append(LinkUp(wanted.bridge))

    uplink6 = uplink if wanted.nat6 and wanted.ipv6 is not None else None
    if wanted.nat6 and uplink6 is None:
        uplink6 = resolve_uplink(replace(wanted, nat=True), host)
    table = nat.Wanted(
        wanted.ipv4.network, uplink, forwards,
        wanted.ipv6.network if wanted.ipv6 else None, uplink6,
    )  # fmt: skip
    if uplink is not None or forwards:
        # Routing between the bridge and the rest: NAT out, published ports in.
        if not host.ip_forward:
            actions.append(SetSysctl(IP_FORWARD, "1"))
        if created or host.bridge_forwarding is False:
            actions.append(SetSysctl(bridge_forwarding_path(wanted.bridge), "1"))
    if uplink6 is not None and not host.ipv6_forward:
        # Keep the host's own SLAAC: accept_ra 2 takes RAs while forwarding.
        actions += [SetSysctl(f"/proc/sys/net/ipv6/conf/{n}/accept_ra", "2")
                    for n in host.accept_ra_1]  # fmt: skip
        actions.append(SetSysctl(IPV6_FORWARD, "1"))
    if not table.empty:
        if host.nft != nat.wanted_contents(wanted.bridge, table):
            actions.append(ReplaceNatTable(wanted.bridge, table))
    elif host.nft is not None:
        actions.append(DeleteNatTable(wanted.bridge))
    gateway6 = wanted.ipv6.ip if wanted.ipv6 is not None else None
    own_ll = guard.bridge_link_locals(bridge_mac, () if br is None else br.link_local)
    actions += plan_guard(wanted.bridge, guard.Wanted(wanted.ipv4.ip, gateway6, ports,
                                                      bridge_mac, own_ll), host.guard)  # fmt: skip
    routed = uplink is not None or bool(forwards)
    for chain in host.foreign_drops:
        serves = wanted.dhcp or wanted.ipv6 is not None  # dnsmasq answers on the bridge
        if (chain.hook == "forward" and not routed) or (chain.hook == "input" and not serves):
            wanted_open = False
        else:
            wanted_open = bool(openings.wanted_rules(chain, wanted.bridge, wanted.ipv6 is not None))
        if wanted_open and not openings.is_open(chain, wanted.bridge, wanted.ipv6 is not None):
            actions.append(OpenForeignChain(wanted.bridge, chain, wanted.ipv6 is not None))
        elif not wanted_open and chain.ours:
            actions.append(CloseForeignChain(wanted.bridge, chain))
    notes += [f"warning: {n}" for n in host.firewall_notes if routed]

    dns = not host.dns_port_holders
    dm = host.dnsmasq
    if wanted.dhcp or wanted.ipv6 is not None:
        if served is not None and host.served != served:
            actions.append(WriteServedNames(wanted.bridge, *served, paths))
        args = dnsmasq.arguments(wanted, paths, dns=dns)
        if not dns:
            notes.append(
                f"port 53 on {wanted.ipv4.ip} is taken ({', '.join(host.dns_port_holders)}): "
                "dnsmasq serves DHCP only, container names are not resolved"
            )
        restart = dm.pid is None or dm.args != args or created or address_added
        if restart:
            if dm.pid is not None or dm.stale_pid_file:
                actions.append(StopDnsmasq(wanted.bridge, dm.pid, paths.pid_file))
            actions.append(StartDnsmasq(wanted.bridge, args, paths.pid_file))
    elif dm.pid is not None or dm.stale_pid_file:
        actions.append(StopDnsmasq(wanted.bridge, dm.pid, paths.pid_file))

    if saved != wanted or (make_default and not is_default):
        # Saved first: a setup killed half-way leaves a bridge lxcprov knows it made, so
        # `net setup` finishes it and `net teardown` removes it.
        actions.insert(0, SaveSettings(wanted, make_default))
    return Plan(tuple(actions), tuple(notes), uplink, dns)


def plan_teardown(
    bridge: str, host: HostState, *, managed: bool, paths: dnsmasq.DnsmasqPaths
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
    return Plan(tuple(actions), tuple(notes))


def plan_guard(
    bridge: str, wanted: guard.Wanted, observed: guard.GuardContents | None
) -> tuple[Action, ...]:
    """The guard table's change, if any: it is rewritten whole (one atomic batch)."""
    if observed == guard.wanted_contents(bridge, wanted):
        return ()
    return (ReplaceGuardTable(bridge, wanted),)
