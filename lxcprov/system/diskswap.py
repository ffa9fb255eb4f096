"""Replace a container's disk image by a new one filled beside it, so that a kill at any
instant leaves either the old image or the new one, and the files alone say which.

This is how `restore` puts a snapshot back into a dir container that has a disk limit
(its rootfs is the image's mount point, which the renames of lxcprov.system.staged cannot
move), and how `convert` flattens an overlay clone that has one (its merged files go into
a new image, mounted at its rootfs from then on; there the config's switch to the
directory is the commit, and the rename follows it).

The new image (`disk.img.new`, the same size) is made and mounted at the staging point
(`.lxcprov-disk`), filled, unmounted and flushed; its rename over `disk.img` is the
commit for a restore (the old image lives on, deleted, only through the loop device
still mounted); then the old one is unmounted (its loop frees itself) and the new one
mounted. After a kill `settle()` finds one of:

    disk.img.new (mounted or not), disk.img      -> new removed: the old image is kept
    no disk.img.new, a deleted image mounted      -> that unmounted: the new one is kept
"""

from __future__ import annotations

import os
from pathlib import Path

from lxcprov.system import diskimage


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def building(directory: Path, point: Path, owner: tuple[int, int]) -> Path:
    """A new empty image of the current one's size, mounted at the staging point, which
    is returned (a killed attempt's half image removed first)."""
    image = diskimage.image_of(directory)
    settle(directory, point)  # nothing of a killed attempt stays in the way
    new, staging = directory / diskimage.NEW, directory / diskimage.STAGING
    diskimage.make(new, image.stat().st_size, owner)
    staging.mkdir(exist_ok=True)
    diskimage.mount(new, staging)
    return staging


def seal(directory: Path) -> None:
    """The filled image unmounted and on disk: complete, though not yet in place."""
    new, staging = directory / diskimage.NEW, directory / diskimage.STAGING
    if diskimage.mounted_at(staging, new):
        diskimage.umount(staging)
    staging.rmdir()
    _fsync(new)  # its blocks on disk before anything says it is complete


def commit(directory: Path) -> None:
    """The sealed image renamed over the old one: from here on the container's files
    are the new ones (the old image lives on, deleted, while it is mounted)."""
    (directory / diskimage.NEW).rename(diskimage.image_of(directory))
    _fsync(directory, os.O_RDONLY | os.O_DIRECTORY)


def settle(directory: Path, point: Path) -> list[str]:
    """End whatever a replacement of the image mounted at point left, then make sure the
    image in place is the one mounted there; returns what it did (for the user)."""
    image = diskimage.image_of(directory)
    done: list[str] = []
    if (directory / diskimage.NEW).exists():
        # Not committed: diskimage.settle unmounts and removes the half image (no OLD
        # tree exists here, so it moves no files).
        done += diskimage.settle(directory, point)
    for m in diskimage.mounts():
        if (
            m.backing == f"{diskimage.real(image)} (deleted)"
        ):  # the replaced image (its loop frees itself)
            diskimage.umount(m.point)
            done.append(f"unmounted the replaced disk image from {m.point}")
    if image.is_file() and point.is_dir() and not diskimage.mounted_at(point, image):
        diskimage.mount(image, point)
        done.append(f"mounted its disk image at {point}")
    return done


def remount(directory: Path, point: Path) -> None:
    """After the commit: the replaced image unmounted, the new one mounted at point."""
    settle(directory, point)
