"""The static address book of a bridge (its split in halves is lxcprov.system.hostnet.subnet).

The book is ``<state>/net/<bridge>/addresses.json`` (owner -> address), changed only
under an exclusive ``fcntl`` lock on ``addresses.lock`` so concurrent callers, even in
different processes, never get the same address.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

from lxcprov.errors import AddressPoolError, MacInUseError, NotConfiguredError, StateFileError
from lxcprov.system import faults, statefile
from lxcprov.system.hostnet import dnsmasq, guard, links, names
from lxcprov.system.hostnet.settings import NetSettings, bridge_state_dir, load, load_config
from lxcprov.system.hostnet.subnet import split

IPv4 = ipaddress.IPv4Address


def _dir(bridge: str) -> Path:
    return bridge_state_dir(bridge)


@contextlib.contextmanager
def _book(bridge: str, *, publish: bool = True) -> Iterator[dict[str, str]]:
    """Yield the book under the lock; write it back (atomically) when the block ends, and
    publish it (unless the caller publishes it itself right after: see allocate)."""
    directory = _dir(bridge)
    path = directory / "addresses.json"
    with names.locked(directory):
        book = _read(path)  # raises before anything is written: an unreadable book is kept
        before = dict(book)
        yield book
        if book != before:
            statefile.write_text(path, json.dumps(book, indent=2, sort_keys=True) + "\n")
            if publish:
                _publish(bridge, book, names.read_macs(directory))


def _publish(bridge: str, book: dict[str, str], macs: dict[str, str]) -> None:
    """Write what dnsmasq serves from the books (names, reservations) and make it reread;
    bring the bridge's guard (who may send as whom) in line with them."""
    directory = _dir(bridge)
    settings = load(bridge)
    prefix = settings.ipv6.network if settings is not None and settings.ipv6 else None
    paths = dnsmasq.DnsmasqPaths.under(directory)
    # 0644: dnsmasq reads them as its unprivileged user.
    statefile.write_text(paths.hosts_file, names.hosts_text(book, macs, prefix), mode=0o644)
    statefile.write_text(paths.dhcp_hosts_file, names.dhcp_hosts_text(book, macs), mode=0o644)
    dnsmasq.reload(paths.pid_file)
    # The guard goes with the bridge: one that is not there (after a reboot) gets its
    # guard from the `net setup` that makes it again.
    if settings is not None and links.link(bridge) is not None:
        faults.stop_if("guard-rules")  # books written, rules not yet: `net setup` finishes it
        own_mac = links.mac(bridge)
        own_ll = guard.bridge_link_locals(own_mac, links.link_locals(bridge))
        _sync_guard(bridge, wanted_guard(settings, book, macs, names.read_ports(directory),
                                         own_mac, own_ll))  # fmt: skip


def wanted_guard(
    settings: NetSettings,
    book: dict[str, str],
    macs: dict[str, str],
    ports: dict[str, str],
    bridge_mac: str | None = None,
    link_local: tuple[ipaddress.IPv6Address, ...] = (),
) -> guard.Wanted:
    """The guard the books ask for, with the bridge's own MAC and link-local addresses
    (pure; `net setup` and a registration both read those from the kernel)."""
    prefix = settings.ipv6.network if settings.ipv6 else None
    return guard.Wanted(
        gateway=settings.ipv4.ip,
        gateway6=settings.ipv6.ip if settings.ipv6 else None,
        ports=guard.ports_of(ports, macs, book, prefix),
        mac=bridge_mac,
        link_local=link_local,
    )


def guard_of(bridge: str, settings: NetSettings) -> guard.Wanted:
    """The guard of bridge as its books stand (read without the lock: each is written
    atomically; a caller that writes the guard holds the lock, see locked())."""
    directory = _dir(bridge)
    return wanted_guard(
        settings,
        _read(directory / "addresses.json"),
        names.read_macs(directory),
        names.read_ports(directory),
    )


def served_of(bridge: str, settings: NetSettings) -> tuple[str, str]:
    """The hosts and dhcp-hosts files the books ask for under settings (as guard_of)."""
    directory = _dir(bridge)
    book, macs = _read(directory / "addresses.json"), names.read_macs(directory)
    prefix = settings.ipv6.network if settings.ipv6 else None
    return names.hosts_text(book, macs, prefix), names.dhcp_hosts_text(book, macs)


def _sync_guard(bridge: str, wanted: guard.Wanted) -> None:
    # Loaded here: `ls` and `show` import this module and need none of it.
    from lxcprov.system.hostnet import apply, observe, plan

    apply.apply(plan.plan_guard(bridge, wanted, observe.guard_table(bridge)))


@contextlib.contextmanager
def locked(bridge: str) -> Iterator[None]:
    """The books' lock, for `net setup`: it reads them and writes the guard under it, so
    a registration between the two cannot be lost. A bridge without a state directory has
    empty books and nothing to lock (a dry run creates nothing)."""
    directory = _dir(bridge)
    if not directory.is_dir():
        yield
        return
    with names.locked(directory):
        yield


def register(
    bridge: str,
    owner: str,
    mac: str,
    port: str | None = None,
    *,
    reserve: bool = False,
    publish: bool = False,
) -> ipaddress.IPv4Address | None:
    """Record owner's MAC on bridge (its name by DHCP, its SLAAC name), its port (the guard
    binds them), and with reserve an IPv4 reservation when it has no address in the book
    yet: its current lease if free, else the lowest free address of the DHCP range that no
    other client leases. Returns owner's address in the book (None: the range is full).
    publish: publish the books even when nothing changed here (an address claimed just
    before without publishing it, see allocate)."""
    directory = _dir(bridge)
    mac = mac.lower()
    with names.locked(directory):
        book = _read(directory / "addresses.json")
        macs = names.read_macs(directory)
        ports = names.read_ports(directory)
        _refuse_taken_mac(bridge, owner, mac, macs)
        changed = False
        if macs.get(owner) != mac:
            macs[owner] = mac
            names.write_macs(directory, macs)
            changed = True
        if port is not None and ports.get(owner) != port:
            ports[owner] = port
            names.write_ports(directory, ports)
            changed = True
        if reserve and owner not in book:
            found = _free_dhcp(bridge, book, mac)
            if found is not None:
                book[owner] = str(found)
                statefile.write_text(
                    directory / "addresses.json", json.dumps(book, indent=2, sort_keys=True) + "\n"
                )
                changed = True
        if changed or publish:
            _publish(bridge, book, macs)
        held = book.get(owner)
        return _parse_ip(held) if held else None


def _refuse_taken_mac(bridge: str, owner: str, mac: str, macs: dict[str, str]) -> None:
    """A MAC is one container's: on its bridge (under the books' lock: two owners of one
    MAC share a lease, a name and the guard's port binding, and the newcomer takes the
    other's traffic) and on every other managed bridge (the guards' rules about owned MACs
    see every bridge's frames, so each container would be cut off by the other's guard).
    Nor is it ever the bridge's own."""
    managed = sorted(load_config().bridges)
    for each in [bridge, *managed]:  # every guard owns its bridge's MAC
        if mac == links.mac(each):
            raise MacInUseError(f"{mac} is the MAC of the bridge {each} itself")
    holders = [(bridge, o) for o, m in macs.items() if m == mac and o != owner]
    for other in managed:
        if other != bridge and not holders:
            found: dict[str, str] = {}
            with contextlib.suppress(StateFileError):  # `net setup` of that bridge says so
                found = names.read_macs(_dir(other))
            holders += [(other, o) for o, m in found.items() if m == mac and o != owner]
    if holders:
        where, holder = holders[0]
        name, _, lxcpath = holder.partition("@")
        raise MacInUseError(f"{mac} is already the MAC of {name} (in {lxcpath}) on {where}")


def _free_dhcp(bridge: str, book: dict[str, str], mac: str) -> IPv4 | None:
    """An address of the DHCP range for a reservation: the one mac leases now, if nobody
    holds it, else the lowest one neither booked nor leased to another client (dnsmasq
    would not give a reserved address it has leased to someone else)."""
    settings = load(bridge)
    if settings is None:
        return None
    sp = split(settings.ipv4)
    taken = {ip for v in book.values() if (ip := _parse_ip(v))}
    now = dt.datetime.now(dt.UTC)
    leases = [
        lease
        for lease in dnsmasq.read_leases(dnsmasq.DnsmasqPaths.under(_dir(bridge)).lease_file)
        if lease.expiry is None or lease.expiry > now
    ]
    for lease in leases:
        if lease.mac == mac and sp.in_dhcp(lease.ipv4) and lease.ipv4 not in taken:
            return lease.ipv4
    taken |= {lease.ipv4 for lease in leases if lease.mac != mac}
    ip = sp.dhcp_first
    while ip <= sp.dhcp_last:
        if ip != sp.gateway and ip not in taken:
            return ip
        ip += 1
    return None


def forget(bridge: str, owner: str) -> bool:
    """Drop everything bridge's books hold for owner (its container is gone)."""
    directory = _dir(bridge)
    if not directory.is_dir():
        return False
    with names.locked(directory):
        book = _read(directory / "addresses.json")
        macs = names.read_macs(directory)
        ports = names.read_ports(directory)
        if owner not in book and owner not in macs and owner not in ports:
            return False
        # Its port first: a guarded port is one with a port and a MAC, so a forget killed
        # half-way never leaves a guard for half a container (the next forget finishes).
        if ports.pop(owner, None) is not None:
            names.write_ports(directory, ports)
        book.pop(owner, None)
        macs.pop(owner, None)
        statefile.write_text(
            directory / "addresses.json", json.dumps(book, indent=2, sort_keys=True) + "\n"
        )
        names.write_macs(directory, macs)
        _publish(bridge, book, macs)
        return True


def _read(path: Path) -> dict[str, str]:
    """The book, strictly: a JSON object of owner -> IPv4 address, nothing else."""
    try:
        raw = statefile.read_json(path)
    except StateFileError as exc:
        raise AddressPoolError(exc.message, hint=exc.hint) from None
    if raw is None:
        return {}
    hint = f"fix or remove {path} (removing it forgets every static address on the bridge)"
    if not isinstance(raw, dict):
        raise AddressPoolError(
            f"{path} must hold a JSON object (owner -> address), not {type(raw).__name__}",
            hint=hint,
        )
    for owner, value in raw.items():
        if not isinstance(value, str) or _parse_ip(value) is None:
            raise AddressPoolError(f"{path}: {owner!r} -> {value!r} is not an IPv4 address",
                                   hint=hint)  # fmt: skip
    return dict(raw)


def _subnet(bridge: str) -> ipaddress.IPv4Interface:
    settings = load(bridge)
    if settings is None:
        raise NotConfiguredError(f"bridge {bridge} is not managed by lxcprov")
    return settings.ipv4


def _parse_ip(value: str) -> IPv4 | None:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        return None


def allocate(bridge: str, owner: str, *, publish: bool = True) -> ipaddress.IPv4Interface:
    """The owner's static address: the one it already has, else the lowest free one.
    Without publish the book is written but dnsmasq and the guard are not told: for a
    caller that registers the owner's MAC next, which publishes both at once (`new`: one
    guard rewrite and one dnsmasq reload instead of two)."""
    ipv4 = _subnet(bridge)
    sp = split(ipv4)
    with _book(bridge, publish=publish) as book:
        current = _parse_ip(book.get(owner, ""))
        if current is not None and sp.is_static(current):
            return ipaddress.IPv4Interface(f"{current}/{ipv4.network.prefixlen}")
        taken = {ip for k, v in book.items() if k != owner and (ip := _parse_ip(v))}
        ip = sp.static_first
        while ip <= sp.static_last:
            if ip != sp.gateway and ip not in taken:
                book[owner] = str(ip)
                return ipaddress.IPv4Interface(f"{ip}/{ipv4.network.prefixlen}")
            ip += 1
    raise AddressPoolError(
        f"no free static address left on {bridge} ({sp.static_first}-{sp.static_last})",
        hint="release addresses of removed containers, or use a larger subnet",
    )


def reserve(
    bridge: str,
    owner: str,
    address: str | IPv4 | ipaddress.IPv4Interface,
    *,
    publish: bool = True,
) -> ipaddress.IPv4Interface:
    """Record a user-given static address for owner; refuse one that cannot be used.
    publish: as for allocate."""
    ipv4 = _subnet(bridge)
    sp = split(ipv4)
    net = ipv4.network
    try:
        ip = ipaddress.IPv4Interface(str(address)).ip
    except ValueError:
        raise AddressPoolError(f"invalid IPv4 address {address!s}") from None
    static_hint = f"pick one in the static part {sp.static_first}-{sp.static_last}"
    if ip not in net:
        raise AddressPoolError(f"{ip} is outside the subnet {net} of {bridge}", hint=static_hint)
    if ip == sp.gateway:
        raise AddressPoolError(f"{ip} is the bridge's own address (the gateway)", hint=static_hint)
    if ip in (net.network_address, net.broadcast_address):
        raise AddressPoolError(
            f"{ip} is the network or broadcast address of {net}", hint=static_hint
        )
    if sp.in_dhcp(ip):
        raise AddressPoolError(
            f"{ip} is in the DHCP range {sp.dhcp_first}-{sp.dhcp_last} of {bridge}",
            hint=static_hint,
        )
    with _book(bridge, publish=publish) as book:
        for other, value in book.items():
            if other != owner and _parse_ip(value) == ip:
                raise AddressPoolError(
                    f"{ip} is already taken by {other}",
                    hint=static_hint + ", or release it first",
                )
        book[owner] = str(ip)
    return ipaddress.IPv4Interface(f"{ip}/{net.prefixlen}")


def pin(bridge: str, owner: str, address: IPv4) -> ipaddress.IPv4Interface:
    """Keep a DHCP container on the address it has leased (in the DHCP range): with its MAC
    registered, the entry is a dnsmasq reservation, so its published ports stay right."""
    ipv4 = _subnet(bridge)
    if address not in ipv4.network or not split(ipv4).in_dhcp(address):
        return reserve(bridge, owner, address)
    with _book(bridge) as book:
        for other, value in book.items():
            if other != owner and _parse_ip(value) == address:
                raise AddressPoolError(f"{address} is already taken by {other}")
        book[owner] = str(address)
    return ipaddress.IPv4Interface(f"{address}/{ipv4.network.prefixlen}")


def release(bridge: str, owner: str) -> None:
    if not _dir(bridge).is_dir():
        return
    with _book(bridge) as book:
        book.pop(owner, None)


def free(bridge: str) -> tuple[int, int] | None:
    """How many addresses the bridge can still give: (static ones for `--ip auto`, DHCP
    reservations), from its book and dnsmasq's live leases; None: not managed."""
    settings = load(bridge)
    if settings is None:
        return None
    sp = split(settings.ipv4)
    taken = {ip for v in _read(_dir(bridge) / "addresses.json").values() if (ip := _parse_ip(v))}
    now = dt.datetime.now(dt.UTC)
    taken |= {
        lease.ipv4
        for lease in dnsmasq.read_leases(dnsmasq.DnsmasqPaths.under(_dir(bridge)).lease_file)
        if lease.expiry is None or lease.expiry > now
    }
    static = int(sp.static_last) - int(sp.static_first) + 1
    static -= sum(1 for ip in taken if sp.is_static(ip)) + (1 if sp.is_static(sp.gateway) else 0)
    dhcp = int(sp.dhcp_last) - int(sp.dhcp_first) + 1
    dhcp -= sum(1 for ip in taken if sp.in_dhcp(ip))
    return max(0, static), max(0, dhcp)


def book(bridge: str) -> dict[str, ipaddress.IPv4Address]:
    raw = _read(_dir(bridge) / "addresses.json")
    return {k: ipaddress.IPv4Address(v) for k, v in raw.items()}
