"""The API of lxcprov.system.hostnet (re-exported, lazily, by its __init__)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lxcprov.errors import (
    InvalidNetSettingError,
    LxcprovError,
    NotConfiguredError,
    NotRootError,
)
from lxcprov.system import faults
from lxcprov.system.hostnet import addresses, dnsmasq, forwards, names, nat, openings, settings
from lxcprov.system.hostnet.dnsmasq import Lease
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.hostnet.links import Link
from lxcprov.system.hostnet.links import link as _link
from lxcprov.system.hostnet.nat import Dnat
from lxcprov.system.hostnet.observe import (
    BridgeState,
    HostState,
    legacy_iptables_notes,
    nft_view,
    observe,
    our_dnsmasq,
)
from lxcprov.system.hostnet.observe import bridge_state as _bridge_state
from lxcprov.system.hostnet.settings import DEFAULT_ADDRESS, DEFAULT_BRIDGE, NetSettings
from lxcprov.system.hostnet.subnet import AddressSplit, split

__all__ = [
    "AddressSplit",
    "BridgeHealth",
    "BridgeState",
    "Dnat",
    "Forward",
    "Lease",
    "Link",
    "NetSettings",
    "NetStatus",
    "SetupResult",
    "TeardownResult",
    "address_book",
    "allocate_address",
    "bridge_state",
    "default_bridge",
    "dnsmasq_runs",
    "health",
    "leases",
    "link",
    "load_settings",
    "release_address",
    "reserve_address",
    "serves_dns",
    "setup",
    "split",
    "status",
    "teardown",
]


def load_settings(bridge: str | None = None) -> NetSettings | None:
    """Saved settings of bridge (default: the default bridge); None when not configured."""
    return settings.load(bridge)


def default_bridge() -> str | None:
    return settings.load_config().default


def bridge_state(name: str) -> BridgeState | None:
    """The link named name as the kernel has it (None when there is no such link)."""
    return _bridge_state(name)


def link(name: str) -> Link | None:
    """Whether a link named name exists, is a bridge and is up, from sysfs: what `new`
    needs, without netlink's import (see links.py)."""
    return _link(name)


def allocate_address(bridge: str, owner: str, *, publish: bool = True) -> ipaddress.IPv4Interface:
    """A static address for owner in the lower half of the bridge subnet (stable per owner).
    Without publish, the caller publishes it (register(..., publish=True)) right after."""
    return addresses.allocate(bridge, owner, publish=publish)


def reserve_address(
    bridge: str,
    owner: str,
    address: str | ipaddress.IPv4Address | ipaddress.IPv4Interface,
    *,
    publish: bool = True,
) -> ipaddress.IPv4Interface:
    """Record a user-given static address for owner; AddressPoolError if it cannot be used.
    publish: as for allocate_address."""
    return addresses.reserve(bridge, owner, address, publish=publish)


def pin_address(bridge: str, owner: str, address: ipaddress.IPv4Address) -> None:
    """Reserve a DHCP container's leased address for it (addresses.pin)."""
    addresses.pin(bridge, owner, address)


def macs(bridge: str) -> dict[str, str]:
    """The registered MACs of bridge's containers, by owner."""
    return names.read_macs(settings.bridge_state_dir(bridge))


def release_address(bridge: str, owner: str) -> None:
    addresses.release(bridge, owner)


def register(
    bridge: str,
    owner: str,
    mac: str,
    port: str | None = None,
    *,
    reserve: bool = False,
    publish: bool = False,
) -> ipaddress.IPv4Address | None:
    """Record the MAC of owner's veth on bridge (its name by DHCP, its IPv6 name), the
    port it has (the guard holds that port to the MAC and the addresses), and with reserve
    a DHCP reservation. Returns owner's address in the book (None: none, or no free one)."""
    return addresses.register(bridge, owner, mac, port, reserve=reserve, publish=publish)


def forget(bridge: str, owner: str) -> bool:
    """owner is gone: drop its address, MAC and published ports on bridge (and their
    rules). True when there was something to drop."""
    with forwards.locked():
        mine = forwards.read(bridge) if settings.bridge_state_dir(bridge).is_dir() else []
        kept = [f for f in mine if f.owner != owner]
        if len(kept) != len(mine):
            _unpublish(bridge, kept)
    return addresses.forget(bridge, owner) or len(kept) != len(mine)


def _unpublish(bridge: str, kept: list[Forward]) -> None:
    """Leave only kept published on bridge: the rules first, then the table. Killed
    between the two, a port is listed but no longer forwarded (fail closed: never a port
    forwarded that `forward ls` does not show); the same command again, or `net setup`,
    ends it. The caller holds forwards.locked()."""
    if settings.load(bridge) is not None:
        setup(bridge, published=kept)
    faults.stop_if("unpublish-table")  # rules gone, still listed (crash tests)
    forwards.write(bridge, kept)


def list_forwards(bridge: str | None = None) -> dict[str, list[Forward]]:
    """Published ports by bridge (every managed bridge when bridge is None)."""
    return forwards.read_all(bridge)


def add_forward(bridge: str, fw: Forward) -> SetupResult:
    """Publish a port (replacing the owner's forward of the same host address and port);
    ForwardError when another container has it. The rules are in place on return."""
    with forwards.locked():
        forwards.check_free(fw, list_forwards())
        forwards.check_host_port(fw)
        current = forwards.read(bridge)
        kept = [f for f in current if not (f.owner == fw.owner and f.clashes(fw))]
        # The table first, then the rules (the reverse of _unpublish): killed between
        # the two, the port is listed but not yet forwarded, never the other way round. A
        # forward it replaces is unpublished first, the same way.
        if fw not in current:
            if len(kept) != len(current) and settings.load(bridge) is not None:
                setup(bridge, published=kept)  # the replaced forward's rules go first
            forwards.write(bridge, [*kept, fw])
        faults.stop_if("forward-rules")  # recorded, not yet a rule: `net setup` finishes it
        return setup(bridge)


def remove_forwards(bridge: str, owner: str, host_port: int | None = None,
                    proto: str | None = None) -> list[Forward]:  # fmt: skip
    """Unpublish owner's ports on bridge (one, or all when host_port is None)."""
    with forwards.locked():
        current = forwards.read(bridge)
        gone = [f for f in current if f.owner == owner
                and (host_port is None or f.host_port == host_port)
                and (proto is None or f.proto == proto)]  # fmt: skip
        if gone:
            _unpublish(bridge, [f for f in current if f not in gone])
    return gone


def serves_dns(bridge: str) -> bool:
    """Whether lxcprov's dnsmasq for bridge runs and answers DNS (static containers use it)."""
    state = our_dnsmasq(_paths(bridge).pid_file)
    return state.pid is not None and "--port=0" not in state.args


def dnsmasq_runs(bridge: str) -> bool:
    """Whether lxcprov's dnsmasq for bridge runs (a pid file and /proc: no netlink)."""
    return our_dnsmasq(_paths(bridge).pid_file).pid is not None


def address_book(bridge: str) -> dict[str, ipaddress.IPv4Address]:
    """The static addresses of bridge, by owner (name@lxcpath)."""
    return addresses.book(bridge)


def free_addresses(bridge: str) -> tuple[int, int] | None:
    """(static, DHCP) addresses the bridge can still give; None: not managed."""
    return addresses.free(bridge)


def leases(bridge: str) -> list[Lease]:
    """The DHCP leases dnsmasq recorded for bridge."""
    return dnsmasq.read_leases(_paths(bridge).lease_file)


def _resolve(bridge: str | None, config: settings.NetConfig) -> str:
    """The bridge a command is about: the given one, the default, or lxcbr0 on a fresh host."""
    if bridge:
        return settings.check_bridge_name(bridge)
    if config.default:
        return config.default
    if config.bridges:
        raise NotConfiguredError(
            "no default bridge is set",
            hint="name one with --bridge ("
            + ", ".join(sorted(config.bridges))
            + "), or make one the default with: lxcprov net setup --bridge NAME --default",
        )
    return DEFAULT_BRIDGE


def _paths(bridge: str) -> dnsmasq.DnsmasqPaths:
    return dnsmasq.DnsmasqPaths.under(settings.bridge_state_dir(bridge))


def _require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError("host networking needs root")


@dataclass(frozen=True)
class SetupResult:
    settings: NetSettings
    actions: tuple[str, ...]  # what was done (or would be done, with dry_run)
    notes: tuple[str, ...]
    uplink: str | None
    dns: bool
    dry_run: bool = False
    uplink6: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.actions)


@dataclass(frozen=True)
class TeardownResult:
    bridge: str
    actions: tuple[str, ...]
    notes: tuple[str, ...]


def _others(config: settings.NetConfig, bridge: str) -> dict[str, ipaddress.IPv4Network]:
    return {n: s.ipv4.network for n, s in config.bridges.items() if n != bridge}


def setup(
    bridge: str | None = None,
    *,
    address: str | ipaddress.IPv4Interface | None = None,
    uplink: str | None = None,
    dhcp: bool | None = None,
    nat: bool | None = None,
    ipv6: str | None = None,
    nat6: bool | None = None,
    make_default: bool = False,
    dry_run: bool = False,
    published: Sequence[Forward] | None = None,
) -> SetupResult:
    """Make the host match the saved settings of bridge, changed by the given options.

    uplink "auto" (or "") forgets a saved uplink: NAT goes out of the default route's
    interface. ipv6 "auto" keeps a saved /64 or picks a random ULA one, "none" removes
    IPv6. Unset options keep their saved value, or the lxc-net default. The bridge's
    published ports (forwards.json, or published when given: what the table is about to
    hold, so a removal takes the rules away before the table forgets them) are part of
    what is made to match.
    """
    # The planner and the mutator are imported here, not at the top: `new` imports this
    # module for its address book and saved settings, and would pay 13 ms for them.
    from lxcprov.system.hostnet import apply, plan

    _require_root()
    config = settings.load_config()
    name = _resolve(bridge, config)
    saved = config.bridges.get(name)
    wanted = saved or NetSettings(bridge=name, ipv4=DEFAULT_ADDRESS)
    if address is not None:
        wanted = replace(wanted, ipv4=settings.check_address(address))
    if uplink is not None:
        wanted = replace(wanted, uplink=None if uplink in {"", "auto"} else uplink)
    if dhcp is not None:
        wanted = replace(wanted, dhcp=dhcp)
    if nat is not None:
        wanted = replace(wanted, nat=nat)
    if ipv6 is not None:
        wanted = replace(wanted, ipv6=_ipv6(ipv6, wanted.ipv6))
    if nat6 is not None:
        wanted = replace(wanted, nat6=nat6)
    if nat6 and wanted.ipv6 is None:
        raise InvalidNetSettingError(
            f"--nat6 needs an IPv6 prefix on {name}, and it has none",
            hint="add --ipv6 auto (a random unique-local /64) or --ipv6 PREFIX::1/64",
        )
    if wanted.ipv6 is None:
        wanted = replace(wanted, nat6=False)
    # The forwards read are the forwards applied: without their lock, a `forward rm` that
    # ended meanwhile had its rule put back from the table read before it (bench/chaos.py,
    # seed 2026: a DNAT rule no forward asked for). Taken first, as forward add/rm do.
    with forwards.locked():
        published = tuple(forwards.read(name) if published is None else sorted(published))
        faults.stop_if("setup-forwards-read")  # read, not yet applied (crash tests)
        paths = _paths(name)
        # The books' lock too: the guard is written from them, and a container registered
        # meanwhile must not be written out of it.
        with apply.host_lock(), addresses.locked(name):
            host = observe(name, wanted.ipv4.ip)
            result = plan.plan_setup(
                wanted,
                host,
                saved=saved,
                is_default=config.default == name,
                make_default=make_default or config.default is None,
                paths=paths,
                others=_others(config, name),
                forwards=published,
                ports=addresses.guard_of(name, wanted).ports,
                served=addresses.served_of(name, wanted),  # the AAAA names follow the prefix
            )
            done = tuple(a.description for a in result.actions)
            if not dry_run:
                done = apply.apply(result.actions)
    return SetupResult(
        settings=wanted,
        actions=done,
        notes=result.notes,
        uplink=result.uplink,
        dns=result.dns,
        dry_run=dry_run,
        uplink6=result.uplink6,
    )


def _ipv6(value: str, saved: ipaddress.IPv6Interface | None) -> ipaddress.IPv6Interface | None:
    word = value.strip().lower()
    if word in ("none", "off", ""):
        return None
    if word == "auto":
        return saved or settings.random_ula()
    return settings.check_ipv6(value)


def teardown(bridge: str | None = None) -> TeardownResult:
    """Remove what setup made for bridge (default: the default bridge); safe to repeat."""
    from lxcprov.system.hostnet import apply, plan

    _require_root()
    config = settings.load_config()
    if not bridge and not config.bridges:
        return TeardownResult(DEFAULT_BRIDGE, (), ("no managed bridge: nothing to remove",))
    name = _resolve(bridge, config)
    paths = _paths(name)
    with apply.host_lock():
        host = observe(name)
        saved = config.bridges.get(name)
        result = plan.plan_teardown(name, host, managed=saved is not None, paths=paths,
                                    nat6=saved is not None and saved.nat6)  # fmt: skip
        done = apply.apply(result.actions)
    return TeardownResult(name, done, result.notes)


@dataclass(frozen=True)
class NetStatus:
    bridge: str
    configured: bool
    is_default: bool
    settings: NetSettings | None
    exists: bool
    up: bool
    addresses: tuple[ipaddress.IPv4Interface, ...]
    ip_forward: bool
    bridge_forwarding: bool | None
    nat_table: bool
    uplink: str | None
    dnsmasq_pid: int | None
    dns: bool
    tx_checksum_offload: bool | None
    warnings: tuple[str, ...]
    pending: tuple[str, ...]  # what `net setup` would change (drift), for a configured bridge
    leases: tuple[Lease, ...]
    static_addresses: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)
    state_dir: str = ""
    addresses6: tuple[ipaddress.IPv6Interface, ...] = ()
    ipv6_forward: bool = False
    forwards: tuple[Forward, ...] = ()
    # The DNAT rules the bridge's table has (for doctor: what really is forwarded).
    dnat_rules: tuple[Dnat, ...] = ()

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        sp = split(s.ipv4) if s else None
        return {
            "bridge": self.bridge,
            "configured": self.configured,
            "default": self.is_default,
            "settings": None
            if s is None
            else {
                "address": str(s.ipv4),
                "dhcp": s.dhcp,
                "nat": s.nat,
                "uplink": s.uplink,
                "ipv6": None if s.ipv6 is None else str(s.ipv6),
                "nat6": s.nat6,
            },
            "static_range": None if sp is None else [str(sp.static_first), str(sp.static_last)],
            "dhcp_range": None if sp is None else [str(sp.dhcp_first), str(sp.dhcp_last)],
            "exists": self.exists,
            "up": self.up,
            "addresses": [str(a) for a in self.addresses],
            "addresses6": [str(a) for a in self.addresses6],
            "ipv6_forward": self.ipv6_forward,
            "forwards": [f.as_dict() for f in self.forwards],
            "ip_forward": self.ip_forward,
            "bridge_forwarding": self.bridge_forwarding,
            "nat_table": self.nat_table,
            "uplink": self.uplink,
            "dnsmasq": {
                "pid": self.dnsmasq_pid,
                "alive": self.dnsmasq_pid is not None,
                "dns": self.dns,
            },
            "tx_checksum_offload": self.tx_checksum_offload,
            "warnings": list(self.warnings),
            "pending": list(self.pending),
            "leases": [
                {
                    "hostname": lease.hostname,
                    "mac": lease.mac,
                    "ipv4": str(lease.ipv4),
                    "expiry": None if lease.expiry is None else lease.expiry.isoformat(),
                }
                for lease in self.leases
            ],
            "static_addresses": {k: str(v) for k, v in sorted(self.static_addresses.items())},
            "state_dir": self.state_dir,
        }


def _pending(saved: NetSettings, host: HostState, config: settings.NetConfig) -> tuple[str, ...]:
    from lxcprov.system.hostnet import plan

    try:
        result = plan.plan_setup(
            saved,
            host,
            saved=saved,
            is_default=True,
            make_default=False,
            paths=_paths(saved.bridge),
            others=_others(config, saved.bridge),
            forwards=tuple(forwards.read(saved.bridge)),
            ports=addresses.guard_of(saved.bridge, saved).ports,
            served=addresses.served_of(saved.bridge, saved),
        )
    except LxcprovError as exc:  # a problem setup would report; show it here
        return (exc.message,)
    return tuple(a.description for a in result.actions)


def _warnings(
    bridge: str, foreign: Sequence[openings.ForeignChain], notes: Sequence[str], ipv6: bool
) -> tuple[str, ...]:
    """What may stop the bridge's traffic that lxcprov does not own: other tables' drop
    policies (and whether our openings let the bridge through them), legacy iptables."""
    found = [c.describe() + (" (lxcprov's rules let this bridge through)"
                             if openings.is_open(c, bridge, ipv6) else "")
             for c in foreign]  # fmt: skip
    return (*found, *notes)


@dataclass(frozen=True)
class BridgeHealth:
    """What doctor asks of a configured bridge beyond its link: its NAT table, dnsmasq,
    what may block it, its published ports and their rules."""

    nat_table: bool
    dnsmasq_pid: int | None
    warnings: tuple[str, ...]
    forwards: tuple[Forward, ...]
    dnat_rules: tuple[Dnat, ...]


def health(bridge: str) -> BridgeHealth:
    """status()'s parts that doctor reads, from one nftables listing and dnsmasq's pid file.
    No netlink: `new` asks this while its container boots, on the cores the boot needs, and
    importing pyroute2 alone cost more CPU than the rest of the closing advice."""
    _require_root()
    saved = settings.load(bridge)
    nft, foreign, _guard = nft_view(bridge)
    ipv6 = saved is not None and saved.ipv6 is not None
    return BridgeHealth(
        nat_table=nft is not None,
        dnsmasq_pid=our_dnsmasq(_paths(bridge).pid_file).pid,
        warnings=_warnings(bridge, foreign, legacy_iptables_notes(), ipv6),
        forwards=tuple(forwards.read(bridge)) if saved else (),
        dnat_rules=nat.dnat_rules(nft),
    )


def status(bridge: str | None = None) -> NetStatus:
    _require_root()
    config = settings.load_config()
    name = _resolve(bridge, config)
    saved = config.bridges.get(name)
    host = observe(name, saved.ipv4.ip if saved else None)
    br = host.bridge
    uplink = None
    if saved is not None and saved.nat:
        uplink = saved.uplink or host.default_uplink
    ipv6 = saved is not None and saved.ipv6 is not None
    dns = "--port=0" not in host.dnsmasq.args
    return NetStatus(
        bridge=name,
        configured=saved is not None,
        is_default=config.default == name,
        settings=saved,
        exists=br is not None,
        up=bool(br and br.up),
        addresses=br.ipv4 if br else (),
        ip_forward=host.ip_forward,
        bridge_forwarding=host.bridge_forwarding,
        nat_table=host.nft is not None,
        uplink=uplink,
        dnsmasq_pid=host.dnsmasq.pid,
        dns=dns and host.dnsmasq.pid is not None,
        tx_checksum_offload=br.tx_checksum_offload if br else None,
        warnings=_warnings(name, host.foreign_drops, host.firewall_notes, ipv6),
        pending=_pending(saved, host, config) if saved else (),
        leases=tuple(leases(name)),
        static_addresses=addresses.book(name),
        state_dir=str(settings.bridge_state_dir(name)),
        addresses6=br.ipv6 if br else (),
        ipv6_forward=host.ipv6_forward,
        forwards=tuple(forwards.read(name)) if saved else (),
        dnat_rules=nat.dnat_rules(host.nft),
    )
