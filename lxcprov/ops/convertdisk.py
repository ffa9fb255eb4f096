"""What `convert` does with a container's disk image (docs/disk.md).

A dir container's files are shifted where they are, in its image (mounted first: after a
reboot the rootfs is the bare mount point, and shifting that would shift nothing); the
shift of the rootfs itself moves the image's root owner with the files.

An overlay clone with a limit is flattened into a NEW image of the same size (its merged
files would not fit beside its upper layer in the old one, and they must all count
against the limit once it is a dir container): filled at the staging point, sealed, then
the config's switch to `dir:rootfs` is the commit; `put_in_place` then renames the new
image over the old one and mounts it at the rootfs. A killed convert is finished by
`convert` again (its journal says so): before the switch the half image is made again,
after it `put_in_place` ends the swap. destroy --force unmounts all of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lxcprov.engine.sizes import format_size
from lxcprov.errors import CommandFailedError, DiskFullError
from lxcprov.system import containerfs, diskimage, diskswap, journal, lxc, run

PHASE_COPY = "disk-copy"  # the new image made and mounted at the staging point
PHASE_SEALED = "disk-sealed"  # filled and sealed; the config not yet switched
PHASE_IMAGE = "disk-place"  # the switched config's image put in place (or re-mounted)
PHASE_MOUNT = "disk-mount"  # the new image renamed over the old one, not yet mounted


def limited(container: lxc.Container) -> bool:
    return diskimage.limit_of(container.lxcpath / container.name) is not None


def building(container: lxc.Container, jr: journal.Journal) -> Path:
    """A new empty image of the limit's size, mounted at the staging point (returned)."""
    directory = container.lxcpath / container.name
    owner = containerfs.map_root(container) or (0, 0)
    staging = diskswap.building(directory, containerfs.writable_dir(container), owner)
    jr.phase(PHASE_COPY)
    return staging


def copy(container: lxc.Container, merged: str, staging: Path, jr: journal.Journal) -> None:
    """The merged files into the new image; ones that do not fit leave the clone as it
    was (the half image removed, the conversion not begun)."""
    try:
        run.run(["cp", "-a", "--reflink=auto", merged, str(staging)])
    except CommandFailedError as exc:
        if "No space left on device" not in exc.message:
            raise
        directory = container.lxcpath / container.name
        diskswap.settle(directory, containerfs.writable_dir(container))
        jr.end()  # nothing was shifted yet: a flatten comes first
        limit = diskimage.limit_of(directory) or 0
        raise DiskFullError(
            f"{container.name}'s files with its base's do not fit in its disk limit "
            f"({format_size(limit)}): a dir container's limit holds all of its files",
            hint=f"raise it first (lxcprov set {container.name} disk=SIZE), then convert",
        ) from exc


def seal(container: lxc.Container, target: Path) -> None:
    """The filled image complete on disk, and the rootfs mount point made for it."""
    diskswap.seal(container.lxcpath / container.name)
    target.mkdir(mode=0o755)


def put_in_place(container: lxc.Container, jr: journal.Journal) -> list[str]:
    """After the config's switch: a flattened clone's new image renamed over the old one
    (the old unmounted, its empty `overlay/` removed); then, for every container with a
    limit, its image mounted at the rootfs before anything is shifted. What it did."""
    directory = container.lxcpath / container.name
    if not limited(container):
        return []
    done: list[str] = []
    if (directory / diskimage.NEW).exists():  # sealed before the switch: the commit's end
        diskswap.commit(directory)
        jr.phase(PHASE_MOUNT)
        done.append(f"moved {container.name}'s disk image to its flattened files")
    point = containerfs.rootfs_dir(container)
    done += diskswap.settle(directory, point)  # the replaced image unmounted, this one mounted
    containerfs.attach_disk(container)  # grown to its file if a raise waits for a start
    overlay = directory / "overlay"
    if overlay.is_dir() and not containerfs.mounts_under(overlay):
        shutil.rmtree(overlay)
    return done
