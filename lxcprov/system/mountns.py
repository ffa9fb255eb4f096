"""A mount namespace of this process's own, for commands that only read through mounts.

`export` mounts a clone's layers read-only to read its merged tree. Made in a private
mount namespace, those mounts are seen by nobody else and disappear with the process,
however it ends (SIGKILL included): a killed export leaves nothing mounted, and needs no
journal to be cleaned up after.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path

from lxcprov.errors import LxcprovError
from lxcprov.system import diskimage, run

_CLONE_NEWNS = 0x00020000
_MNT_DETACH = 2
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_entered = False
_scratch: Path | None = None


def enter_private(keep: Path | None = None) -> None:
    """Move this process (and the children it starts) into a private mount namespace.
    Every container's disk image mounted on the host is let go in it, but those under
    keep (the directory of the container the command works on): a copy held here would
    keep another container's image mounted after its own command unmounts it, and that
    command must then wait for this one, or refuse (measured: an export of one container
    held every other's image for its whole run)."""
    global _entered
    if _entered:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise LxcprovError(
            f"cannot make a private mount namespace: {os.strerror(err)}",
            hint="lxcprov needs root (CAP_SYS_ADMIN) for this",
        )
    if not _cut_off(libc):
        err = ctypes.get_errno()
        raise LxcprovError(f"cannot make this mount namespace private: {os.strerror(err)}")
    _entered = True
    let_go_of_images(keep)


def _cut_off(libc: ctypes.CDLL) -> bool:
    """Make every mount of this (new) namespace private. Without it, where the host's
    mounts are shared (systemd's default), what is mounted and unmounted here would
    reach the host, the images let go here among them. Private, not a slave: a slave
    still receives what the host mounts later, and on such a host another container's
    image mounted after this namespace was made was held here again (measured: a raise,
    then a second raise of a stopped container refused, naming the template run)."""
    return bool(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) == 0)


def let_go_in_child(keep: Path | None) -> None:
    """In a forked child before it execs a long run (a template run through lxc-create):
    a private mount namespace in which every other container's disk image is let go.
    lxc-create runs its template in a copy of its own namespace; made from the host's, a
    debian template's copy held every image mounted when it began, for minutes (measured:
    a raise of a stopped container's disk refused after 15 s, naming the template).

    No subprocess here (a fork's child runs only this, then exec). Best effort: where
    the namespace cannot be made, the run holds its copies as any other process would,
    and a command that must change an image waits for it or refuses, naming it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0 or not _cut_off(libc):
        return  # not cut off: an unmount here could reach the host's copy
    let_go_of_images(keep)


def let_go_of_images(keep: Path | None) -> None:
    inside = str(diskimage.real(keep)).rstrip("/") + "/" if keep is not None else None
    libc = ctypes.CDLL(None, use_errno=True)
    for m in sorted(diskimage.mounts(), key=lambda m: len(m.point.parts), reverse=True):
        backing = m.backing.removesuffix(" (deleted)")
        if not diskimage.is_image(backing) or (inside and backing.startswith(inside)):
            continue
        libc.umount2(bytes(m.point), _MNT_DETACH)  # this namespace's copy only


def scratch(state_dir: Path, keep: Path | None = None) -> Path:
    """A directory for this process's mount points, in its private mount namespace.

    A tmpfs over `<state_dir>/mnt`, seen only here: mount points made inside it vanish
    with the process, so even a SIGKILL leaves no empty directory behind.
    """
    enter_private(keep)
    global _scratch
    if _scratch is None:
        where = state_dir / "mnt"
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        run.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=1m", "lxcprov-scratch", str(where)])
        _scratch = where
    return _scratch


def mount_overlay_ro(lowers: list[Path], target: Path, *, userxattr: bool) -> None:
    """A read-only overlay of lowers (top first): no upper or work directory, so nothing
    is ever written to them, and a clone's own overlay is not disturbed."""
    opts = "lowerdir=" + ":".join(str(p) for p in lowers)
    if userxattr:  # the layers were written with user.overlay.* markers (unprivileged)
        opts += ",userxattr"
    run.run(["mount", "-t", "overlay", "overlay", "-o", f"ro,{opts}", str(target)])


def bind_ro(source: Path, target: Path) -> None:
    run.run(["mount", "--bind", "-o", "ro", str(source), str(target)])


def unmount(target: Path) -> None:
    run.run(["umount", str(target)], check=False)
    with contextlib.suppress(OSError):
        target.rmdir()
