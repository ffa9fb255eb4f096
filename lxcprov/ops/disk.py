"""`set NAME disk=SIZE` and `new --disk SIZE`: a container's disk limit made, raised, lowered.

The decision is lxcprov.engine.disklimit (pure), the image lxcprov.system.diskimage.
Adding a limit moves the container's writable files into a new image, in phases a
SIGKILL cannot halve: the image is made and filled beside the files (STAGING), then
the files are moved aside (OLD), and the rename of the image to `disk.img` is the
commit; `doctor --fix` or `destroy --force` end a killed move either way
(diskimage.settle), so no file is ever lost. Under `new` the container is new and
new's own journal covers it (a killed `new` is removed whole).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine import disklimit
from lxcprov.engine.settings_table import Status
from lxcprov.engine.sizes import format_size
from lxcprov.errors import LxcprovError
from lxcprov.ops.recovery import DISK_DETAIL, DISK_RESIZE
from lxcprov.system import containerfs, diskimage, faults, journal, lxc, trees

# Fault points (LXCPROV_FAULT_AT, tests only): inside the move of the files.
PHASE_IMAGE = "disk-image"
PHASE_COPY = "disk-copy"
PHASE_SWAP = "disk-swap"
PHASE_CLEAN = "disk-clean"
PHASE_RESIZE = "disk-resize"  # a stopped container's image resized offline
PHASE_RESIZE2FS = "disk-resize2fs"  # its file grown, its filesystem not yet


@dataclass(frozen=True)
class Done:
    display: str
    status: Status
    detail: str


def current(container: lxc.Container) -> tuple[int | None, int | None]:
    """The limit (None: none) and the bytes used (None: the image is not mounted)."""
    return containerfs.disk_of(container)


def describe(container: lxc.Container) -> str:
    """`64M (12M used)` or `none`, for show and ls."""
    limit, in_use = current(container)
    image = diskimage.image_of(container.lxcpath / container.name)
    return disklimit.describe(limit, in_use, diskimage.fs_bytes(image) if limit else None)


def set_disk(container: lxc.Container, raw: str, *, own_journal: bool) -> Done:
    """Carry out disk=raw on a container whose lock the caller holds. own_journal=False
    under `new`, whose journal already covers the container."""
    wanted = disklimit.parse(raw, diskimage.room(container.lxcpath))
    directory = container.lxcpath / container.name
    running = container.running()
    limit, in_use = current(container)
    if limit is not None and in_use is None:
        containerfs.attach_disk(container)
        limit, in_use = current(container)
    step = disklimit.plan(limit, in_use or 0, wanted, running=running,
                          online_grow=diskimage.online_grow_allowed())  # fmt: skip
    shown = format_size(step.size) if step.size else "none"
    if step.step == "none":
        return Done(shown, "no change", step.why)
    image = diskimage.image_of(directory)
    point = containerfs.writable_dir(container)
    if step.step == "create":
        move_into_image(container, point, step.size, own_journal=own_journal)
    elif step.step == "grow-live":
        diskimage.grow_file(image, step.size)
        diskimage.grow_live(image, point)
    elif step.step == "grow-at-start":
        diskimage.grow_file(image, step.size)  # its filesystem follows at the next attach
        return Done(shown, "needs restart", step.why)
    else:
        _resize(container, point, step.size, grow=step.step == "grow", own_journal=own_journal)
    return Done(shown, "changed", step.why)


def _resize(
    container: lxc.Container, point: Path, size: int, *, grow: bool, own_journal: bool
) -> None:
    """A stopped container's image unmounted, resized offline, mounted again; journaled,
    so that a kill (inside resize2fs too) is ended by doctor --fix: e2fsck, then mounted."""
    image = diskimage.image_of(container.lxcpath / container.name)
    diskimage.wait_not_held(image)  # refused before anything changes
    jr = None
    if own_journal:
        jr = journal.Journal.begin(container.lxcpath, container.name, "set", creating=False)
        jr.update(detail=DISK_DETAIL + DISK_RESIZE + str(point))
        jr.phase(PHASE_RESIZE)
    diskimage.umount(point)
    try:
        if grow:
            diskimage.grow_file(image, size)
        if jr is not None:
            jr.phase(PHASE_RESIZE2FS)  # the file may be longer than its filesystem now
        diskimage.resize_offline(image, None if grow else size)
    except BaseException:
        with contextlib.suppress(LxcprovError):
            containerfs.attach_disk(container)  # as it was, or grown to the longer file
        if jr is not None and diskimage.mounted_at(point, image):
            jr.end()
        raise
    containerfs.attach_disk(container)
    if jr is not None:
        jr.end()


def move_into_image(container: lxc.Container, point: Path, size: int, *, own_journal: bool) -> None:
    """Move the stopped container's files at point into a new image of size bytes (a
    content that does not fit fails with the copy's ENOSPC, the files left as they were).
    own_journal=False: the caller's journal (new, copy) removes the whole container if
    this is killed."""
    directory = container.lxcpath / container.name
    jr = None
    if own_journal:
        jr = journal.Journal.begin(container.lxcpath, container.name, "set", creating=False)
        jr.update(detail=DISK_DETAIL + str(point))  # before the first thing it makes
        jr.phase(PHASE_IMAGE)
    else:
        faults.stop_if(PHASE_IMAGE)

    def phase(name: str) -> None:
        if jr is not None:
            jr.phase(name)
        else:
            faults.stop_if(name)

    new, staging, old = (
        directory / diskimage.NEW,
        directory / diskimage.STAGING,
        directory / diskimage.OLD,
    )
    owner = containerfs.map_root(container) or (0, 0)
    try:
        new.unlink(missing_ok=True)
        diskimage.make(new, size, owner)
        staging.mkdir(exist_ok=True)
        diskimage.mount(new, staging)
        phase(PHASE_COPY)
        trees.copy(point, staging)  # cp -a: owners, modes, xattrs, an upper's whiteouts
        diskimage.umount(staging)
        staging.rmdir()
        phase(PHASE_SWAP)
        stat = point.stat()
        point.rename(old)
        point.mkdir(mode=stat.st_mode & 0o7777)
        new.rename(diskimage.image_of(directory))  # the commit: the files are in the image
        diskimage.mount(diskimage.image_of(directory), point)
        phase(PHASE_CLEAN)
        shutil.rmtree(old)
    except BaseException:
        if jr is not None:  # undone as a killed one would be: nothing lost either way
            diskimage.settle(directory, point)
            jr.end()
        raise
    if jr is not None:
        jr.end()
