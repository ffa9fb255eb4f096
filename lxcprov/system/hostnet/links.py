"""A link's existence, kind and state as /sys/class/net shows them.

Why not netlink here: `new` only needs to know that its bridge exists, is a bridge and is
up, and importing pyroute2 takes 0.15 s (its package imports every protocol it has) — a
quarter of a cached `new`. sysfs is the kernel's own view of the same netdevices, in
the network namespace that mounted it (the host's, as for netlink). Addresses, routes
and everything `net setup` changes still go through netlink (observe.py, apply.py).
"""

from __future__ import annotations

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
