"""The one way lxcprov opens a container's files, whatever its storage and state.

- a `dir` rootfs: the directory itself;
- a stopped overlayfs snapshot clone: its overlay (the base's rootfs below, the clone's
  delta above), mounted once for the block at `<container>/.lxcprov-rootfs`, the way LXC
  mounts it at start, so writes land in the delta with overlayfs' own copy-up;
- a running container: the root its init sees, because a second mount of the same upper
  and work directories is undefined behaviour (the kernel warns). It is pinned once (a
  pidfd and a descriptor of `/proc/<init>/root`): if the init exits and its pid is
  reused, lxcprov fails cleanly instead of reading or writing the new process's files.

Callers get a jailed Rootfs (lxcprov.system.rootfs) and open it once per command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.errors import RootfsError
from lxcprov.system import lxc, run
from lxcprov.system.rootfs import Rootfs

MOUNT_DIR = ".lxcprov-rootfs"
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


def rootfs_dir(container: lxc.Container) -> Path:
    """The rootfs directory of a dir-backed container (opened() handles every kind)."""
    found = layout(container.config())
    if found.storage != "dir":
        raise RootfsError(
            f"{container.name}: rootfs {found.path!r} is not a plain directory",
            hint="lxcprov works on dir-backed and overlayfs-snapshot containers",
        )
    return Path(found.path)


@contextlib.contextmanager
def opened(container: lxc.Container) -> Iterator[Rootfs]:
    """The container's root filesystem as a jailed Rootfs, while in the block."""
    found = layout(container.config())
    if found.storage == "other":
        raise RootfsError(
            f"{container.name}: lxcprov cannot look inside the rootfs {found.path!r}",
            hint="lxcprov works on dir-backed and overlayfs-snapshot containers",
        )
    if found.storage == "dir":
        with Rootfs(Path(found.path)) as rootfs:
            yield rootfs
        return
    pid = _init_pid(container)
    if pid > 0:
        with _init_root(container, pid) as rootfs:
            yield rootfs
        return
    work = str(Path(found.upper).parent / "work")
    mnt = container.lxcpath / container.name / MOUNT_DIR
    mnt.mkdir(exist_ok=True)
    opts = f"lowerdir={found.lower},upperdir={found.upper},workdir={work}"
    run.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(mnt)])
    try:
        # Closed before the umount below, which an open descriptor would make fail.
        with Rootfs(mnt) as rootfs:
            yield rootfs
    finally:
        run.run(["umount", str(mnt)], check=False)
        with contextlib.suppress(OSError):
            mnt.rmdir()


def _init_pid(container: lxc.Container) -> int:
    return int(container.handle.init_pid) if container.running() else -1


def _init_root(container: lxc.Container, pid: int) -> Rootfs:
    """The running container's root, pinned through its init's pidfd."""
    rootfs = Rootfs.of_process(pid)
    # liblxc named the pid before the pidfd pinned it: had the init exited and the number
    # been taken in between, the pidfd would hold a stranger. Once pinned, ask again.
    if _init_pid(container) != pid:
        rootfs.close()
        raise RootfsError(
            f"{container.name} stopped or restarted while lxcprov opened its files",
            hint="run the command again",
        )
    return rootfs
