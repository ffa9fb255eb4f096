"""Replace a directory (a rootfs, an overlay's upper layer) so that a kill at any instant
leaves either the old tree or the new one, and the files alone say which.

The new tree is built next to the target as `.NAME.lxcprov-new`; once complete it is
renamed `.NAME.lxcprov-ready`; then the target goes to `.NAME.lxcprov-old`, the ready
tree takes its name, and the old one is removed. Every step is one rename, so after a
kill `settle()` finds exactly one of these states and ends it:

    new (partial)            -> removed: the target was never touched
    ready, target            -> swapped (the copy was complete)
    ready, old, no target    -> swapped (killed between the two renames)
    old, target              -> old removed (killed while removing it)
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

NEW, READY, OLD = ".lxcprov-new", ".lxcprov-ready", ".lxcprov-old"


def _sibling(target: Path, suffix: str) -> Path:
    return target.with_name(f".{target.name}{suffix}")


def _fsync_dir(directory: Path, *, whole_fs: bool = False) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if whole_fs:  # every file of the copy, on this filesystem only
            ctypes.CDLL(None, use_errno=True).syncfs(fd)
        os.fsync(fd)
    finally:
        os.close(fd)


def building(target: Path) -> Path:
    """Where to build the new tree (emptied of a killed attempt's partial copy)."""
    new = _sibling(target, NEW)
    if new.exists():
        shutil.rmtree(new)
    return new


def ready(target: Path) -> None:
    """The new tree is complete: from here on, settle() finishes the swap."""
    _fsync_dir(target.parent, whole_fs=True)  # the copy on disk before its name says so
    _sibling(target, NEW).rename(_sibling(target, READY))
    _fsync_dir(target.parent)


def swap(target: Path) -> None:
    """Put the ready tree in place of target and remove the old one (the same steps a
    recovery takes, so there is one code path to trust)."""
    settle(target)


def settle(target: Path) -> list[str]:
    """End whatever a replacement of target left; returns what it did (for the user)."""
    new, rdy, old = (_sibling(target, s) for s in (NEW, READY, OLD))
    done: list[str] = []
    if new.exists():
        shutil.rmtree(new)
        done.append(f"removed the partial copy {new}")
    if rdy.exists():
        if target.exists() and not old.exists():
            target.rename(old)
        rdy.rename(target)
        _fsync_dir(target.parent)
        done.append(f"put the complete copy in place of {target}")
    if old.exists() and target.exists():
        shutil.rmtree(old)
        done.append(f"removed the replaced tree {old}")
    return done


def pending(target: Path) -> bool:
    """Whether a replacement of target is under way or was left."""
    return any(_sibling(target, s).exists() for s in (NEW, READY, OLD))
