"""What a bridge knows about its containers: their MACs, their ports, their names.

Per bridge, next to the address book (owner -> static IPv4 or DHCP reservation,
addresses.py), lxcprov keeps:

- `macs.json` (owner -> the MAC of its veth);
- `ports.json` (owner -> the host-side name of its veth, `lxc.net.0.veth.pair`): written
  when the container's config carries that name, so the bridge's guard (guard.py) binds
  the port to the container's MAC and addresses before it even exists.

From them, this module writes what dnsmasq serves:

- `hosts` (dnsmasq --addn-hosts): each container's IPv4 from the book and, on an IPv6
  bridge, the IPv6 address SLAAC gives it (the /64 prefix and its MAC's EUI-64: what the
  kernel, ifupdown and systemd-networkd pick by default), so names resolve over both;
- `dhcp-hosts` (dnsmasq --dhcp-hostsfile): a `MAC[,IPv4],NAME` line per container, so
  its DHCP lease carries the name lxcprov gave it, whatever its client sends (dnsmasq
  runs with --dhcp-ignore-names: a name a client claims is never used).

A name two containers share on one bridge (same name, two lxcpaths) is given to neither:
no container can take another's name by being made elsewhere. dnsmasq rereads both files
on SIGHUP. Owners are "name@lxcpath"; the name is what resolves.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from lxcprov.errors import StateFileError
from lxcprov.system import statefile

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
MACS = "macs.json"
PORTS = "ports.json"
PORT_PREFIX = "lxv"
_PORT = re.compile(PORT_PREFIX + r"[0-9a-f]{12}")


def port_name(owner: str) -> str:
    """The host-side name of owner's veth: the same at every start, unique on the host
    (the owner names the lxcpath), 15 characters (the kernel's limit), so the guard can
    bind it before the container starts. LXC's own default is a random name per start."""
    return PORT_PREFIX + hashlib.sha256(owner.encode()).hexdigest()[:12]


def bridge_mac(bridge: str) -> str:
    """The MAC `net setup` gives a bridge it creates: fixed per name (so the guard knows it
    before the bridge exists), locally administered, unicast. A bridge whose MAC is never
    set takes the lowest MAC of its ports, and changes it as containers come and go."""
    digest = hashlib.sha256(f"lxcprov bridge {bridge}".encode()).digest()
    octets = [(digest[0] | 0x02) & 0xFE, *digest[1:6]]
    return ":".join(f"{b:02x}" for b in octets)


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    """The SLAAC address of mac in a /64: the MAC with its U/L bit flipped, ff:fe inside."""
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    return ipaddress.IPv6Address(prefix.network_address.packed[:8] + iid)


LINK_LOCAL = ipaddress.IPv6Network("fe80::/64")


def _read_map(path: Path, value: re.Pattern[str], what: str) -> dict[str, str]:
    raw = statefile.read_json(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and value.fullmatch(v) for k, v in raw.items()
    ):
        raise StateFileError(
            f"{path} must map owners to {what}",
            hint=f"fix or remove {path} (lxcprov writes it again as containers change)",
        )
    return dict(raw)


def read_macs(directory: Path) -> dict[str, str]:
    return _read_map(directory / MACS, _MAC, "MAC addresses")


def read_ports(directory: Path) -> dict[str, str]:
    return _read_map(directory / PORTS, _PORT, f"port names ({PORT_PREFIX} and 12 hex digits)")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """The lock of a bridge's books (the address book takes the same one)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "addresses.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_macs(directory: Path, macs: dict[str, str]) -> None:
    statefile.write_text(directory / MACS, json.dumps(macs, indent=2, sort_keys=True) + "\n")


def write_ports(directory: Path, ports: dict[str, str]) -> None:
    statefile.write_text(directory / PORTS, json.dumps(ports, indent=2, sort_keys=True) + "\n")


def name_of(owner: str) -> str:
    return owner.split("@", 1)[0]


def shared_names(*owners: Iterable[str]) -> frozenset[str]:
    """Names more than one owner has (containers of one name in two lxcpaths)."""
    counts = Counter(name_of(o) for o in set().union(*owners))
    return frozenset(n for n, c in counts.items() if c > 1)


def hosts_text(
    book: dict[str, str], macs: dict[str, str], prefix: ipaddress.IPv6Network | None
) -> str:
    """An /etc/hosts-style file: book IPv4s and SLAAC IPv6s, by container name."""
    shared = shared_names(book, macs)
    lines = [f"{ip} {name_of(o)}" for o, ip in sorted(book.items()) if name_of(o) not in shared]
    if prefix is not None:
        lines += [f"{eui64(prefix, mac)} {name_of(o)}"
                  for o, mac in sorted(macs.items()) if name_of(o) not in shared]  # fmt: skip
    return "".join(line + "\n" for line in lines)


def dhcp_hosts_text(book: dict[str, str], macs: dict[str, str]) -> str:
    """dnsmasq dhcp-host lines: every container with a MAC gets its name by DHCP (and its
    book address, when it has one). One line per MAC: dnsmasq takes a MAC once."""
    shared = shared_names(book, macs)
    seen: set[str] = set()
    lines = []
    for owner, mac in sorted(macs.items()):
        if mac in seen:
            continue
        seen.add(mac)
        fields = [mac]
        if owner in book:
            fields.append(book[owner])
        if name_of(owner) not in shared:
            fields.append(name_of(owner))
        if len(fields) > 1:
            lines.append(",".join(fields))
    return "".join(line + "\n" for line in lines)
