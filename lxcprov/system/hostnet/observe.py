"""Read-only snapshot of what the host has for one bridge (netlink, sysctls, nft, dnsmasq).

Nothing here changes the host; :mod:`lxcprov.system.hostnet.plan` compares the snapshot with
the wanted settings.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxcprov.errors import NftablesError
from lxcprov.system.hostnet import dnsmasq, guard, links, nat, netlink, openings
from lxcprov.system.hostnet.settings import bridge_state_dir

TX_CSUM_FEATURE = "tx-checksum-ip-generic"


@dataclass(frozen=True)
class BridgeState:
    name: str
    index: int
    kind: str | None  # "bridge" for a bridge; None for a plain device
    up: bool
    ipv4: tuple[ipaddress.IPv4Interface, ...]
    tx_checksum_offload: bool | None = None  # None: not known
    ipv6: tuple[ipaddress.IPv6Interface, ...] = ()  # global (not link-local) addresses
    mac: str | None = None
    mac_fixed: bool | None = None  # its MAC was set (None: not known); see links.mac_fixed
    link_local: tuple[ipaddress.IPv6Address, ...] = ()

    @property
    def exists(self) -> bool:
        return True

    @property
    def is_bridge(self) -> bool:
        return self.kind == "bridge"


@dataclass(frozen=True)
class DnsmasqState:
    pid: int | None  # our live dnsmasq, if any
    args: tuple[str, ...] = ()  # its options (argv without the program)
    stale_pid_file: bool = False  # a pid file naming a dead or foreign process


@dataclass(frozen=True)
class Route:
    network: ipaddress.IPv4Network
    dev: str | None


@dataclass(frozen=True)
class HostState:
    bridge: BridgeState | None
    ip_forward: bool
    ipv6_forward: bool
    bridge_forwarding: bool | None
    nft: nat.TableContents | None  # None: our table does not exist
    dnsmasq: DnsmasqState
    dns_port_holders: tuple[str, ...]
    foreign_drops: tuple[openings.ForeignChain, ...]  # other tables' drop-policy chains
    firewall_notes: tuple[str, ...]  # what nftables cannot show (legacy iptables)
    default_uplink: str | None
    links: frozenset[str]
    routes: tuple[Route, ...]
    state_dir_exists: bool
    # Interfaces taking router advertisements only while the host does not forward IPv6
    # (accept_ra 1): turning IPv6 forwarding on would silently stop their autoconfiguration.
    accept_ra_1: tuple[tuple[str, int], ...] = ()  # (name, ifindex)
    guard: guard.GuardContents | None = None  # None: the bridge's guard table does not exist
    # The bridge's net.ipv6.conf.<bridge>.accept_ra (None: no such file, no bridge or no
    # IPv6 in this kernel); ipv6_conf: the kernel has per-interface IPv6 settings at all.
    bridge_accept_ra: str | None = None
    bridge_autoconf: str | None = None  # net.ipv6.conf.<bridge>.autoconf, the same way
    ipv6_conf: bool = False
    served: tuple[str | None, str | None] = (None, None)  # dnsmasq's hosts, dhcp-hosts files


def _kind(link: Any) -> str | None:
    info = link.get("IFLA_LINKINFO")
    return str(info.get("IFLA_INFO_KIND")) if info and info.get("IFLA_INFO_KIND") else None


def tx_checksum_offload(name: str) -> bool | None:
    """The bridge's tx checksum offload, or None when ethtool cannot say (shown as unknown;
    nothing is decided on it)."""
    try:
        ethtool = netlink.ethtool()
    except Exception:
        return None
    try:
        feature = ethtool.get_features(name).features.get(TX_CSUM_FEATURE)
        return None if feature is None else bool(feature.enable)
    except Exception:
        return None
    finally:
        ethtool.close()


def _bridge(ip: Any, name: str) -> BridgeState | None:
    indexes = ip.link_lookup(ifname=name)
    if not indexes:
        return None
    index = int(indexes[0])
    link = ip.get_links(index)[0]
    addrs = tuple(
        ipaddress.IPv4Interface(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}")
        for a in ip.get_addr(family=socket.AF_INET, index=index)
    )
    addrs6 = tuple(
        ipaddress.IPv6Interface(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}")
        for a in ip.get_addr(family=socket.AF_INET6, index=index)
    )
    return BridgeState(
        name=name,
        index=index,
        kind=_kind(link),
        up=bool(link["flags"] & 1),  # IFF_UP
        ipv4=addrs,
        tx_checksum_offload=tx_checksum_offload(name),
        ipv6=tuple(a for a in addrs6 if not a.ip.is_link_local),
        mac=str(link.get("IFLA_ADDRESS") or "").lower() or None,
        mac_fixed=links.mac_fixed(name),
        link_local=tuple(sorted(a.ip for a in addrs6 if a.ip.is_link_local)),
    )


def bridge_state(name: str) -> BridgeState | None:
    with netlink.route(f"reading link {name}") as ip:
        return _bridge(ip, name)


def _sysctl(path: str) -> bool | None:
    try:
        return Path(path).read_text(encoding="ascii").strip() == "1"
    except FileNotFoundError:
        return None


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _sysctl_value(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except OSError:
        return None


def _routes(ip: Any, names: dict[int, str]) -> tuple[tuple[Route, ...], str | None]:
    routes = []
    default = None
    for r in ip.get_routes(family=socket.AF_INET, table=254):
        dev = names.get(int(r.get("RTA_OIF") or 0))
        if r["dst_len"] == 0:
            default = default or dev
            continue
        dst = r.get("RTA_DST")
        if dst:
            routes.append(Route(ipaddress.IPv4Network(f"{dst}/{r['dst_len']}", strict=False), dev))
    return tuple(routes), default


def our_dnsmasq(pid_file: Path) -> DnsmasqState:
    """Our dnsmasq for a bridge: the pid file's process if it is ours, else found by its
    command line (a garbled pid file must never lead to a second dnsmasq)."""
    pid = dnsmasq.read_pid(pid_file)
    argv = dnsmasq.process_argv(pid) if pid is not None else None
    if pid is not None and argv is not None and dnsmasq.is_ours(argv, pid_file):
        return DnsmasqState(pid=pid, args=argv[1:])
    found = dnsmasq.find_ours(pid_file)
    if found is not None:
        argv = dnsmasq.process_argv(found)
        if argv is not None:
            return DnsmasqState(pid=found, args=argv[1:], stale_pid_file=True)
    return DnsmasqState(pid=None, stale_pid_file=pid_file.exists())


def legacy_iptables_notes() -> list[str]:
    try:
        names = Path("/proc/net/ip_tables_names").read_text(encoding="ascii").split()
    except FileNotFoundError:
        return []
    if "filter" in names:
        return [
            "legacy iptables (x_tables) has a filter table loaded; nftables cannot show its "
            "FORWARD policy: check it with iptables-legacy -S FORWARD"
        ]
    return []


def _objects_of(ruleset: list[Any], family: str, name: str) -> list[Any] | None:
    """The objects of one table in a listing (None: no such table)."""

    def ours(body: object) -> bool:
        return (
            isinstance(body, dict)
            and body.get("family") == family
            and (body.get("table") == name or ("table" not in body and body.get("name") == name))
        )

    mine = [o for o in ruleset if any(ours(b) for b in o.values())]
    return mine if any(ours(o.get("table")) for o in mine) else None


def nft_view(
    bridge: str,
) -> tuple[nat.TableContents | None, tuple[openings.ForeignChain, ...], guard.GuardContents | None]:
    """Our NAT table's contents (None: no table), the foreign drop chains and the guard
    table's contents, from one listing."""
    ruleset = nat.run([{"list": {"ruleset": None}}], "listing the nftables ruleset")
    mine = _objects_of(ruleset, nat.FAMILY, nat.table_name(bridge))
    guarded = _objects_of(ruleset, guard.FAMILY, guard.table_name(bridge))
    return (
        nat.contents(mine) if mine is not None else None,
        tuple(openings.drop_chains(ruleset, bridge)),
        guard.contents(guarded) if guarded is not None else None,
    )


def guard_table(bridge: str) -> guard.GuardContents | None:
    """The guard table alone (after a registration: no need to list the whole ruleset)."""
    table = {"family": guard.FAMILY, "name": guard.table_name(bridge)}
    try:
        listed = nat.run([{"list": {"table": table}}], "listing the guard table")
    except NftablesError:
        return None  # no such table (any other trouble shows when it is written)
    return guard.contents(listed)


def observe(bridge: str, gateway: ipaddress.IPv4Address | None = None) -> HostState:
    """Snapshot the host for bridge; gateway is the address dnsmasq would bind port 53 on."""
    paths = dnsmasq.DnsmasqPaths.under(bridge_state_dir(bridge))
    with netlink.route("reading links and routes") as ip:
        names = {int(link["index"]): str(link.get("IFLA_IFNAME")) for link in ip.get_links()}
        br = _bridge(ip, bridge)
        routes, default = _routes(ip, names)
    dm = our_dnsmasq(paths.pid_file)
    nft, foreign, guarded = nft_view(bridge)
    if gateway is None and br is not None and br.ipv4:
        gateway = br.ipv4[0].ip
    holders: tuple[str, ...] = ()
    if gateway is not None:
        holders = tuple(dnsmasq.dns_port_holders(gateway, dm.pid))
    return HostState(
        bridge=br,
        ip_forward=bool(_sysctl("/proc/sys/net/ipv4/ip_forward")),
        ipv6_forward=bool(_sysctl("/proc/sys/net/ipv6/conf/all/forwarding")),
        bridge_forwarding=(
            _sysctl(f"/proc/sys/net/ipv4/conf/{bridge}/forwarding") if br is not None else None
        ),
        nft=nft,
        guard=guarded,
        dnsmasq=dm,
        dns_port_holders=holders,
        foreign_drops=foreign,
        firewall_notes=tuple(legacy_iptables_notes()),
        default_uplink=default,
        links=frozenset(names.values()),
        routes=routes,
        state_dir_exists=paths.pid_file.parent.is_dir(),
        served=(_text(paths.hosts_file), _text(paths.dhcp_hosts_file)),
        bridge_accept_ra=_sysctl_value(f"/proc/sys/net/ipv6/conf/{bridge}/accept_ra"),
        bridge_autoconf=_sysctl_value(f"/proc/sys/net/ipv6/conf/{bridge}/autoconf"),
        ipv6_conf=Path("/proc/sys/net/ipv6/conf").is_dir(),
        accept_ra_1=tuple(
            (n, i)
            for n, i in sorted((n, i) for i, n in names.items())
            if n not in ("lo", bridge)
            and _sysctl_value(f"/proc/sys/net/ipv6/conf/{n}/accept_ra") == "1"
        ),
    )
