"""What a bridge's dnsmasq knows about its containers, beyond its own DHCP leases.

Per bridge, next to the address book (owner -> static IPv4, addresses.py), lxcprov keeps
`macs.json` (owner -> the MAC of its veth). From the two, this module writes:

- `hosts` (dnsmasq --addn-hosts): each container's static IPv4 and, on an IPv6 bridge, the
  IPv6 address SLAAC gives it (the /64 prefix and its MAC's EUI-64: what the kernel,
  ifupdown and systemd-networkd pick by default), so names resolve over both;
- `dhcp-hosts` (dnsmasq --dhcp-hostsfile): MAC -> IPv4 reservations for containers that
  have both (a DHCP container with a published port keeps its address that way).

dnsmasq rereads both on SIGHUP. Owners are "name@lxcpath"; the name is what resolves.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path

from lxcprov.errors import StateFileError
from lxcprov.system import statefile

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
MACS = "macs.json"
DHCP_HOSTS = "dhcp-hosts"


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    """The SLAAC address of mac in a /64: the MAC with its U/L bit flipped, ff:fe inside."""
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    return ipaddress.IPv6Address(prefix.network_address.packed[:8] + iid)


def read_macs(directory: Path) -> dict[str, str]:
    path = directory / MACS
    raw = statefile.read_json(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _MAC.fullmatch(v) for k, v in raw.items()
    ):
        raise StateFileError(
            f"{path} must map owners to MAC addresses",
            hint=f"fix or remove {path} (lxcprov writes it again as containers change)",
        )
    return dict(raw)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """The lock of a bridge's books (the address book takes the same one)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "addresses.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_macs(directory: Path, macs: dict[str, str]) -> None:
    statefile.write_text(directory / MACS, json.dumps(macs, indent=2, sort_keys=True) + "\n")


def hosts_text(
    book: dict[str, str], macs: dict[str, str], prefix: ipaddress.IPv6Network | None
) -> str:
    """An /etc/hosts-style file: static IPv4s and SLAAC IPv6s, by container name."""
    lines = [f"{ip} {owner.split('@', 1)[0]}" for owner, ip in sorted(book.items())]
    if prefix is not None:
        lines += [f"{eui64(prefix, mac)} {owner.split('@', 1)[0]}"
                  for owner, mac in sorted(macs.items())]  # fmt: skip
    return "".join(line + "\n" for line in lines)


def dhcp_hosts_text(book: dict[str, str], macs: dict[str, str]) -> str:
    """dnsmasq dhcp-host lines: a container with a MAC and a static address gets it by DHCP."""
    lines = [f"{macs[o]},{ip},{o.split('@', 1)[0]}" for o, ip in sorted(book.items()) if o in macs]
    return "".join(line + "\n" for line in lines)
