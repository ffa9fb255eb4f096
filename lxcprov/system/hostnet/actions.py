"""What `net setup` and `net teardown` can do to the host: one frozen dataclass per
action, each with the line that tells the user what it does. Data only: plan.py chooses
them, apply.py carries them out."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from lxcprov.system.hostnet import dnsmasq, guard, nat, openings
from lxcprov.system.hostnet.settings import NetSettings

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
IPV6_FORWARD = "/proc/sys/net/ipv6/conf/all/forwarding"


def bridge_forwarding_path(bridge: str) -> str:
    return f"/proc/sys/net/ipv4/conf/{bridge}/forwarding"


def accept_ra_path(link: str) -> str:
    return f"/proc/sys/net/ipv6/conf/{link}/accept_ra"


def sysctl_key(path: str) -> str:
    """The key sysctl(8) takes for a /proc/sys path: a dot in a link's name (br.x) is a
    slash there, as dots separate the key's parts."""
    parts = path.removeprefix("/proc/sys/").split("/")
    return ".".join(part.replace(".", "/") for part in parts)


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
        return f"set {sysctl_key(self.path)} = {self.value}"


@dataclass(frozen=True)
class KeepRouterAdverts(Action):
    """accept_ra 2 on one of the host's links before IPv6 forwarding goes on: a forwarding
    host ignores router advertisements on a link with accept_ra 1, and would lose its own
    autoconfiguration there. The link may be gone by the time this runs (a container's
    veth leaves when it stops): then there is nothing to keep, and it is no error; one
    renamed meanwhile is found again by its index."""

    link: str
    index: int  # the link's ifindex: a link renamed in between is followed by it

    @property
    def description(self) -> str:
        return (
            f"set {sysctl_key(accept_ra_path(self.link))} = 2 "
            "(it keeps taking router advertisements once the host forwards IPv6)"
        )


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
