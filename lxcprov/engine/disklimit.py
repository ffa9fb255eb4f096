"""What `disk=SIZE` asks of a container's image, decided before anything is touched.

A container's disk limit is a sparse ext4 image of that size (lxcprov.system.diskimage);
the image's apparent size IS the limit, so there is nothing else to keep in step. Pure:
the current limit, what is used, whether the container runs and whether this host lets
a mounted ext4 grow (online resize needs CAP_SYS_RESOURCE) come in; the step comes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxcprov.engine.sizes import format_size, parse_size
from lxcprov.errors import InvalidArgumentError

MiB = 1024**2
# Below this mkfs.ext4 leaves too little room for even busybox (its journal alone is 4M).
MIN_DISK = 32 * MiB
# A shrink keeps this much room beside what is used: ext4's own metadata grows with
# the files, and resize2fs refuses a size that only just holds the data.
SHRINK_MARGIN = 16 * MiB

Step = Literal["none", "create", "grow-live", "grow-at-start", "grow", "shrink"]


@dataclass(frozen=True)
class Plan:
    step: Step
    size: int  # bytes the image will have
    why: str  # for the user: what happens, or why nothing does


def parse(raw: str, room: int | None = None) -> int | None:
    """The limit in bytes (a multiple of 1M: the image is made of whole MiB), or None
    for `none`. Refuses sizes below MIN_DISK, and above room (the size of the filesystem
    that holds the lxcpath, when the caller knows it: `new --check`, `new`, `set`, apply
    and import all pass it, so an absurd size is refused before anything is made)."""
    size = parse_size("disk", raw)
    if size is None:
        return None
    size = -(-size // MiB) * MiB  # rounded up to whole MiB
    if size < MIN_DISK:
        raise InvalidArgumentError(
            f"disk={raw}: below the smallest disk limit, {format_size(MIN_DISK)}",
            hint=f"use at least disk={format_size(MIN_DISK)}",
        )
    if room is not None and (why := too_big(size, room)):
        raise InvalidArgumentError(f"disk={raw}: {why}", hint=room_hint(room))
    return size


def too_big(size: int, room: int) -> str:
    """Why a limit of size bytes cannot be (empty when it can): the image lives on the
    filesystem of the lxcpath, so it can never hold more than that filesystem (and a
    file past the host filesystem's own largest file, e.g. ext4's 16T, fails to be made:
    a filesystem smaller than that is refused first)."""
    if size <= room:
        return ""
    return f"bigger than the filesystem that holds the containers ({human(room)})"


def room_hint(room: int) -> str:
    return f"a disk limit is at most that filesystem's size: use disk={_round_down(room)} or less"


def _round_down(size: int) -> str:
    gib = 1024**3
    return format_size(size // gib * gib) if size >= gib else format_size(size // MiB * MiB)


def plan(
    current: int | None, used: int, wanted: int | None, *, running: bool, online_grow: bool
) -> Plan:
    """The step from the current limit (None: no image) to wanted (None: no limit).

    Raises InvalidArgumentError for what lxcprov refuses: removing a limit (the data would
    have to be copied out of the image: raising it costs nothing, the image is sparse),
    adding one or shrinking one while it runs, shrinking below what is used."""
    if wanted is None:
        if current is None:
            return Plan("none", 0, "it has no disk limit")
        raise InvalidArgumentError(
            f"disk=none: lxcprov does not remove a disk limit ({format_size(current)})",
            hint="raise it instead, e.g. disk=100G: the image is sparse, it takes on the "
            "host what is written plus its ext4 metadata (about 5M for 100G)",
        )
    shown = format_size(wanted)
    if current is None:
        if running:
            raise InvalidArgumentError(
                f"disk={shown}: a limit is added only to a stopped container",
                hint="its files are copied into the new image: stop it first (lxcprov stop NAME)",
            )
        return Plan("create", wanted, f"its files moved into an image of {shown}")
    if wanted == current:
        return Plan("none", wanted, f"the limit is already {shown}")
    if wanted > current:
        if not running:
            return Plan("grow", wanted, f"raised to {shown}")
        if online_grow:
            return Plan("grow-live", wanted, f"raised to {shown} while it runs")
        why = "this host withholds CAP_SYS_RESOURCE, which a live resize needs"
        return Plan("grow-at-start", wanted, f"raised to {shown} at its next start ({why})")
    if running:
        raise InvalidArgumentError(
            f"disk={shown}: a limit is lowered only while the container is stopped",
            hint="stop it first (lxcprov stop NAME); raising it works while it runs",
        )
    if wanted < used + SHRINK_MARGIN:
        raise InvalidArgumentError(
            f"disk={shown}: {format_size(used)} of it is in use",
            hint=f"the smallest limit it can have now is about {_round_up(used + SHRINK_MARGIN)}",
        )
    return Plan("shrink", wanted, f"lowered to {shown}")


def _round_up(size: int) -> str:
    return format_size(-(-size // MiB) * MiB)


def describe(limit: int | None, used: int | None, fs: int | None = None) -> str:
    """How show and ls say it: `64M (12M used)`, or `none`; fs, the size of the image's
    filesystem, when it is smaller than the image (a raise this host could not make
    live): `64M now, 128M at the next start (12M used)`."""
    if limit is None:
        return "none"
    shown = format_size(limit)
    if fs is not None and fs < limit:
        shown = f"{format_size(fs)} now, {shown} at the next start"
    if used is None:
        return f"{shown} (not mounted)"
    return f"{shown} ({human(used)} used)"


def human(size: int) -> str:
    """A size rounded for reading: 12M, 1.5G, 300K."""
    for unit, scale in (("G", 1024**3), ("M", MiB), ("K", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f}{unit}".replace(".0", "") if value < 10 else f"{value:.0f}{unit}"
    return f"{size}B"
