"""End what a killed `snapshot`, `snapshot rm` or `restore` left, from the files alone.

Those commands never leave a container half-made: a snapshot appears by one rename and
disappears by another (lxcprov.system.snapstore), a restore replaces the tree by renames
(lxcprov.system.staged), and a running container is frozen only while its files are
copied. After a kill, what is left is a hidden directory, a staged tree, or a frozen
container; `settle` ends each (a complete restore copy is put in place, a partial one
removed; a dir container's new disk image removed before its commit, mounted after it:
lxcprov.system.diskswap), and is what `doctor --fix`, `destroy --force` and the same
command again run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lxcprov.errors import LxcprovError
from lxcprov.system import (
    containerfs,
    diskimage,
    diskswap,
    freezer,
    journal,
    lxc,
    snapstore,
    staged,
)

COMMANDS = ("snapshot", "snapshot rm", "restore")
FROZEN_PHASE = "frozen-copy"  # a running container's files are being copied, frozen
DISK_COPY = "disk-copy"  # a restore's new disk image being filled
DISK_MOUNT = "disk-mount"  # a restore's new disk image committed, not yet mounted
_MAY_BE_FROZEN = ("freeze", FROZEN_PHASE)


def restore_target(container: lxc.Container) -> Path | None:
    """The tree a restore replaces: a clone's upper layer, or a directory rootfs."""
    try:
        found = containerfs.layout(container.config())
    except LxcprovError:
        return None
    if found.storage == "overlay":
        return Path(found.upper)
    if found.storage == "dir":
        return Path(found.path)
    return None


def settle(container: lxc.Container, entry: journal.Entry) -> list[str]:
    """Finish or undo the work of a killed snapshot command (entry: its journal)."""
    done: list[str] = []
    if entry.phase in _MAY_BE_FROZEN:
        freezer.thaw(container)
        done.append(f"thawed {container.name} (frozen for a copy when the command was killed)")
    directory = container.lxcpath / container.name
    for left in snapstore.leftovers(directory):
        shutil.rmtree(left)
        done.append(f"removed {left.name} (a snapshot being made or removed)")
    target = restore_target(container)
    if target is not None:
        done += staged.settle(target)
    if target is not None and entry.command == "restore" and diskimage.limit_of(directory):
        # Its image being replaced (lxcprov.system.diskswap): the new one removed (not
        # committed) or mounted in place of the old one (committed), where the image
        # lives (a dir container's rootfs, a clone's overlay/).
        done += diskswap.settle(directory, containerfs.writable_dir(container))
    return done
