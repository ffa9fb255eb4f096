"""The static address book of a bridge (its split in halves is lxcprov.system.hostnet.subnet).

The book is ``<state>/net/<bridge>/addresses.json`` (owner -> address), changed only
under an exclusive ``fcntl`` lock on ``addresses.lock`` so concurrent callers, even in
different processes, never get the same address.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path

from lxcprov.errors import AddressPoolError, NotConfiguredError
from lxcprov.system.hostnet import dnsmasq
from lxcprov.system.hostnet.settings import bridge_state_dir, load
from lxcprov.system.hostnet.subnet import split

IPv4 = ipaddress.IPv4Address


def _dir(bridge: str) -> Path:
    return bridge_state_dir(bridge)


@contextlib.contextmanager
def _book(bridge: str) -> Iterator[dict[str, str]]:
    """Yield the book under the lock; write it back (atomically) when the block ends."""
    directory = _dir(bridge)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "addresses.json"
    with (directory / "addresses.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raw = {}
        except ValueError:
            raise AddressPoolError(
                f"{path} is not valid JSON", hint="fix or remove the file"
            ) from None
        book = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        before = dict(book)
        yield book
        if book != before:
            tmp = path.with_name(f".addresses.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(book, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            tmp.replace(path)
            paths = dnsmasq.DnsmasqPaths.under(directory)
            tmp = directory / f".hosts.{os.getpid()}.tmp"
            tmp.write_text(dnsmasq.hosts_text(book), encoding="utf-8")
            tmp.chmod(0o644)  # dnsmasq reads it as its unprivileged user
            tmp.replace(paths.hosts_file)
            dnsmasq.reload(paths.pid_file)


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


def allocate(bridge: str, owner: str) -> ipaddress.IPv4Interface:
    """The owner's static address: the one it already has, else the lowest free one."""
    ipv4 = _subnet(bridge)
    sp = split(ipv4)
    with _book(bridge) as book:
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
    bridge: str, owner: str, address: str | IPv4 | ipaddress.IPv4Interface
) -> ipaddress.IPv4Interface:
    """Record a user-given static address for owner; refuse one that cannot be used."""
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
    with _book(bridge) as book:
        for other, value in book.items():
            if other != owner and _parse_ip(value) == ip:
                raise AddressPoolError(
                    f"{ip} is already taken by {other}",
                    hint=static_hint + ", or release it first",
                )
        book[owner] = str(ip)
    return ipaddress.IPv4Interface(f"{ip}/{net.prefixlen}")


def release(bridge: str, owner: str) -> None:
    if not _dir(bridge).is_dir():
        return
    with _book(bridge) as book:
        book.pop(owner, None)


def book(bridge: str) -> dict[str, ipaddress.IPv4Address]:
    path = _dir(bridge) / "addresses.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): ip for k, v in raw.items() if (ip := _parse_ip(str(v)))}
