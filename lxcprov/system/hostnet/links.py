"""A link's existence, kind and state as /sys/class/net shows them.

Why not netlink here: `new` only needs to know that its bridge exists, is a bridge and is
up, and importing pyroute2 takes 0.15 s (its package imports every protocol it has) — a
quarter of a cached `new`. sysfs is the kernel's own view of the same netdevices, in
the network namespace that mounted it (the host's, as for netlink). Addresses, routes
and everything `net setup` changes still go through netlink (observe.py, apply.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

SYS_CLASS_NET = Path("/sys/class/net")
IFF_UP = 0x1


@dataclass(frozen=True)
class Link:
    name: str
    is_bridge: bool
    up: bool


def kernel_name(name: str) -> bool:
    """Whether the kernel could have a link of this name (its dev_valid_name()): what
    makes the name safe as one path component, whatever config file it came from."""
    return (
        0 < len(name.encode()) < 16
        and name not in (".", "..")
        and not any(c == "/" or c == ":" or c.isspace() or c == "\0" for c in name)
    )


def link(name: str, root: Path = SYS_CLASS_NET) -> Link | None:
    """The link named name (None: no such link, or a name no link can have)."""
    if not kernel_name(name):
        return None
    entry = root / name
    try:
        flags = int((entry / "flags").read_text(encoding="ascii").strip(), 16)
    except FileNotFoundError:
        return None
    # A bridge's netdevice has the bridge/ attribute directory (the kernel's br_sysfs).
    return Link(name, is_bridge=(entry / "bridge").is_dir(), up=bool(flags & IFF_UP))


IF_INET6 = Path("/proc/net/if_inet6")
NET_ADDR_SET = 3  # addr_assign_type: the MAC was set, the bridge keeps it (see observe.py)


def mac(name: str, root: Path = SYS_CLASS_NET) -> str | None:
    """The link's MAC (None: no such link)."""
    if not kernel_name(name):
        return None
    try:
        return (root / name / "address").read_text(encoding="ascii").strip().lower() or None
    except OSError:
        return None


def mac_fixed(name: str, root: Path = SYS_CLASS_NET) -> bool | None:
    """Whether the link's MAC was set (None: not known). A bridge whose MAC was never set
    takes the lowest MAC of its ports, and changes it as ports come and go."""
    if not kernel_name(name):
        return None
    try:
        kind = int((root / name / "addr_assign_type").read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return kind == NET_ADDR_SET


def link_locals(name: str, table: Path = IF_INET6) -> tuple[ipaddress.IPv6Address, ...]:
    """The link's IPv6 link-local addresses, from the kernel's address table (no netlink:
    a registration reads them on the way of `new`)."""
    try:
        text = table.read_text(encoding="ascii")
    except OSError:
        return ()
    found = []
    for line in text.splitlines():
        words = line.split()
        # address, ifindex, prefix length, scope, flags, name (scope 0x20: link)
        if len(words) == 6 and words[5] == name and words[3] == "20":
            found.append(ipaddress.IPv6Address(int(words[0], 16)))
    return tuple(sorted(found))
