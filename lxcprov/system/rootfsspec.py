"""Where a container's root filesystem lives, as its config's lxc.rootfs.path says: pure,
so that lxc.py (a running namesake's files compared with this container's) and
containerfs (which opens them) read it one way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Storage = Literal["dir", "overlay", "other"]


@dataclass(frozen=True)
class Layout:
    """Where a container's root filesystem lives, as its config says."""

    storage: Storage
    path: str  # the dir, or the spec of an "other" backend (lvm, zfs, ...)
    lower: str = ""  # overlay only
    upper: str = ""


def layout(config: dict[str, str]) -> Layout:
    """The layout of lxc.rootfs.path as liblxc reports it ("LOWER:UPPER" for an overlay)."""
    spec = config.get("lxc.rootfs.path", "")
    bare = spec.removeprefix("overlayfs:").removeprefix("overlay:")
    parts = bare.split(":")
    if len(parts) == 2 and all(p.startswith("/") for p in parts):
        return Layout("overlay", bare, parts[0], parts[1])
    plain = spec.removeprefix("dir:")
    if plain.startswith("/") and ":" not in plain:
        return Layout("dir", plain)
    return Layout("other", spec)
