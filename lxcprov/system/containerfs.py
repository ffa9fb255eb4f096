"""The one way lxcprov opens a container's files, whatever its storage and state.

- a `dir` rootfs: the directory itself;
- a stopped overlayfs snapshot clone: its overlay (the base's rootfs below, the clone's
  delta above), mounted once for the block at `<container>/.lxcprov-rootfs`, the way LXC
  mounts it at start, so writes land in the delta with overlayfs' own copy-up;
- a running container (dir or clone): the root its init sees, under its own mounts (a
  share, its /dev; the rootfs directory beneath them is not what it sees), and for a clone
  because a second mount of the same upper and work directories is undefined behaviour
  (the kernel warns). It is pinned once (a
  pidfd and a descriptor of `/proc/<init>/root`): if the init exits and its pid is
  reused, lxcprov fails cleanly instead of reading or writing the new process's files.

Callers get a jailed Rootfs (lxcprov.system.rootfs) and open it once per command.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from lxcprov.errors import RootfsError
from lxcprov.system import diskimage, locks, lxc, run
from lxcprov.system.rootfs import Rootfs
from lxcprov.system.rootfsspec import Layout as Layout
from lxcprov.system.rootfsspec import layout as layout

MOUNT_DIR = ".lxcprov-rootfs"


def rootfs_dir(container: lxc.Container) -> Path:
    """The rootfs directory of a dir-backed container (opened() handles every kind)."""
    found = layout(container.config())
    if found.storage != "dir":
        raise RootfsError(
            f"{container.name}: rootfs {found.path!r} is not a plain directory",
            hint="lxcprov works on dir-backed and overlayfs-snapshot containers",
        )
    return Path(found.path)


def writable_dir(container: lxc.Container) -> Path:
    """Where a container's writable files live, and so where its disk image is mounted
    (lxcprov.system.diskimage): a dir container's rootfs, the directory holding an overlay
    clone's upper and work directories. Refused outside its own directory."""
    found = layout(container.config())
    directory = container.lxcpath / container.name
    point = Path("/")
    if found.storage == "dir":
        point = Path(found.path)
    elif found.storage == "overlay":
        point = Path(found.upper).parent
    # Judged as the kernel names them (a symlinked lxcpath resolved; the last part never
    # followed: a symlink there is refused), returned as the config spells it: what the
    # caller compares it with (the overlay's upper, a snapshot's target) is spelled so.
    seen = diskimage.real(point.parent) / point.name if point.name else point
    inside = diskimage.real(directory)
    if seen == inside or not seen.is_relative_to(inside) or point.is_symlink():
        raise RootfsError(
            f"{container.name}: a disk limit needs its writable files in a directory of "
            f"its own below {directory} (found {found.path!r})",
            hint="disk limits work on dir containers and overlay clones that lxcprov made",
        )
    return point


def attach_disk(container: lxc.Container) -> bool:
    """Mount the container's disk image again if a reboot unmounted it (nothing to do
    for a container without one): before anything reads or starts it. Under its lock."""
    directory = container.lxcpath / container.name
    if not diskimage.image_of(directory).is_file():
        return False
    return diskimage.ensure_attached(directory, writable_dir(container),
                                     running=container.running())  # fmt: skip


def disk_of(container: lxc.Container) -> tuple[int | None, int | None]:
    """Its disk limit (None: none) and the bytes used on it (None: not mounted now)."""
    directory = container.lxcpath / container.name
    limit = diskimage.limit_of(directory)
    if limit is None:
        return None, None
    with contextlib.suppress(RootfsError, OSError):
        point = writable_dir(container)
        if diskimage.mounted_at(point, diskimage.image_of(directory)):
            return limit, diskimage.used(point)
    return limit, None


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    return bytes(field, "ascii").decode("unicode_escape")


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below directory in this mount namespace, deepest first (as the
    kernel names them: a symlinked lxcpath's resolved)."""
    prefix = os.path.realpath(directory).rstrip("/")
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split()
            if len(parts) > 4:
                point = _unescape(parts[4])
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_stale(container: lxc.Container) -> list[Path]:
    """Unmount what a killed lxcprov command left mounted in the container's directory
    (its `.lxcprov-*` mount points only: anything else mounted there is not ours).

    Call it with the container's lock held: then nothing of ours is using those mounts.
    """
    directory = diskimage.real(container.lxcpath / container.name)  # as mountinfo names it
    gone: list[Path] = []
    for point in mounts_under(directory):
        rel = point.relative_to(directory).parts
        if not rel or not rel[0].startswith(".lxcprov-"):
            continue
        if not run.run(["umount", str(point)], check=False).ok:
            run.run(["umount", "--lazy", str(point)], check=False)
        gone.append(point)
    return gone


@contextlib.contextmanager
def opened(container: lxc.Container) -> Iterator[Rootfs]:
    """The container's root filesystem as a jailed Rootfs, while in the block.

    Taken under the container's lock (lxcprov.system.locks): two commands never mount
    one overlay twice.
    """
    with (
        locks.container(container.lxcpath, container.name, "open its files"),
        _opened(container) as rootfs,
    ):
        yield rootfs


@contextlib.contextmanager
def _opened(container: lxc.Container) -> Iterator[Rootfs]:
    found = layout(container.config())
    if found.storage == "other":
        raise RootfsError(
            f"{container.name}: lxcprov cannot look inside the rootfs {found.path!r}",
            hint="lxcprov works on dir-backed and overlayfs-snapshot containers",
        )
    owner = map_root(container)
    attach_disk(container)  # after a reboot: its files are in its image
    pid = _init_pid(container)
    if pid > 0:
        # Running (dir or clone): its files as it sees them, under its own mounts (a share,
        # its /dev, a read-only share stays read-only), never the directory beneath them.
        with _init_root(container, pid) as rootfs:
            rootfs.label = container.name
            if owner is not None:
                # Its overlay and its shares (idmapped mounts) belong to its user namespace:
                # host root cannot create files there (their owner would have no id in it,
                # EOVERFLOW); writes go through it, where the container's ids are its own
                # (owner stays 0, 0).
                rootfs.userns_pid = pid
            yield rootfs
        return
    if found.storage == "dir":
        with Rootfs(Path(found.path), owner=owner or (0, 0)) as rootfs:
            yield rootfs
        return
    work = str(Path(found.upper).parent / "work")
    mnt = container.lxcpath / container.name / MOUNT_DIR
    unmount_stale(container)  # left by a command that was killed while it had it mounted
    mnt.mkdir(exist_ok=True)
    opts = f"lowerdir={found.lower},upperdir={found.upper},workdir={work}"
    # An unprivileged clone's overlay is mounted by liblxc inside the container's user
    # namespace with `userxattr` (it cannot set trusted.* there): ours must use the same,
    # or what the container deleted from the lower comes back here.
    extra = [o for o in container.config().get("lxc.rootfs.options", "").split(",")
             if o.strip() == "userxattr"]  # fmt: skip
    if extra:
        opts += ",userxattr"
    run.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(mnt)])
    try:
        # Closed before the umount below, which an open descriptor would make fail.
        with Rootfs(mnt, owner=owner or (0, 0)) as rootfs:
            yield rootfs
    finally:
        run.run(["umount", str(mnt)], check=False)
        with contextlib.suppress(OSError):
            mnt.rmdir()
        if owner is not None:
            _give_workdir(Path(work), owner)


def _give_workdir(work: Path, owner: tuple[int, int]) -> None:
    """Hand overlayfs' scratch directories our mount made (work/work, owned by host root)
    to the container's root: liblxc mounts the overlay inside the container's user
    namespace, where a work/work it cannot replace makes the whole rootfs read-only."""
    for dirpath, dirnames, filenames in os.walk(work):
        for name in [*dirnames, *filenames]:
            with contextlib.suppress(FileNotFoundError):
                os.chown(Path(dirpath) / name, *owner, follow_symlinks=False)


def map_root(container: lxc.Container) -> tuple[int, int] | None:
    """Where the container's uid and gid 0 are on the host (None: privileged)."""
    uid = gid = None
    for value in container.idmap():
        parts = value.split()
        if len(parts) == 4 and parts[1] == "0" and parts[2].isdigit():
            if parts[0] in ("u", "b"):
                uid = int(parts[2])
            if parts[0] in ("g", "b"):
                gid = int(parts[2])
    return (uid, gid) if uid is not None and gid is not None else None


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
