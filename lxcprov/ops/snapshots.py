"""`lxcprov snapshot`, `snapshots`, `snapshot rm` and `restore`.

A snapshot of an overlay clone is a copy of its upper layer (what it changed over its
base); of a dir-backed container, a copy of its whole rootfs; always with every attribute
(lxcprov.system.trees). Why a copy and not a new overlay layer, with the numbers that
decided it: docs/snapshots.md. A running container is frozen while it is copied, so the
snapshot is one instant of it.

`restore` copies the snapshot into a staged tree next to the container's own, shifts its
owners if the container's id map changed since (convert), and swaps it in with renames
(lxcprov.system.staged); then the container's current hostname and network are applied
again (they are its identity on this host, not part of its past). Every command holds the
container's lock and writes a journal: a killed one is ended by `doctor --fix`, by
`destroy --force`, or by running it again (lxcprov.ops.settle).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import idmap
from lxcprov.engine.sizes import format_size
from lxcprov.errors import CommandFailedError, LxcprovError, SnapshotError, StartFailedError
from lxcprov.ops import identity, idmaps, lifecycle, recovery, settle, targets
from lxcprov.ops.defaults import START_LOGIN_TIMEOUT
from lxcprov.ops.progress import Progress
from lxcprov.ops.settle import DISK_COPY, DISK_MOUNT
from lxcprov.system import (
    containerfs,
    diskimage,
    diskswap,
    freezer,
    journal,
    locks,
    lxc,
    mountns,
    shift,
    snapstore,
    staged,
    trees,
)


def _dir(container: lxc.Container) -> Path:
    return container.lxcpath / container.name


def ids_label(ids: idmap.IdMap | None) -> str:
    return ids.label() if ids is not None else "privileged"


@contextlib.contextmanager
def _held(
    container: lxc.Container, command: str, progress: Progress
) -> Iterator[journal.Entry | None]:
    """The container's lock, with what a killed snapshot command left ended first (a
    killed new or convert is refused: only its own command or destroy ends that); yields
    the journal of the command that was ended, if any."""
    if container.name.startswith(lxc.BASE_PREFIX):
        raise SnapshotError(
            f"{container.name} is a cached base: its clones' files lie on its rootfs",
            hint="snapshot the containers cloned from it instead (lxcprov bases lists them)",
        )
    with locks.container(container.lxcpath, container.name, command, on_wait=progress.phase):
        left = recovery.leftover(container.lxcpath, container.name)
        if left is not None and left.command in settle.COMMANDS:
            progress.phase(f"ending what {left.describe()} left")
            for line in recovery.undo(container, left).done:
                progress.phase(line)
        else:
            left = None
        recovery.refuse_incomplete(container)
        container.require()
        yield left


def _meta(container: lxc.Container, snap: str) -> snapstore.Meta:
    snapstore.check_name(snap)
    where = snapstore.path(_dir(container), snap)
    if not where.is_dir():
        raise SnapshotError(f"{container.name} has no snapshot {snap!r}")
    return snapstore.read_meta(where)


# -- snapshot ---------------------------------------------------------------------------


def _free_name(directory: Path) -> str:
    now = datetime.datetime.now(datetime.UTC)
    name = snapstore.default_name(now)
    taken = set(snapstore.names(directory))
    n = 1
    while name in taken:
        n += 1
        name = f"{snapstore.default_name(now)}-{n}"
    return name


def snapshot(
    container: lxc.Container, snap: str | None = None, progress: Progress | None = None
) -> snapstore.Meta:
    """Take a snapshot (named snap, or by the time); a running container is frozen while
    its files are copied."""
    lxc.require_root()
    progress = progress or Progress()
    if snap is not None:
        snapstore.check_name(snap)
    with _held(container, "snapshot", progress):
        directory = _dir(container)
        snap = snap or _free_name(directory)
        if snapstore.path(directory, snap).exists():
            raise SnapshotError(
                f"{container.name} already has a snapshot {snap!r}",
                hint=f"pick another name, or: lxcprov snapshot rm {container.name} {snap}",
            )
        found = containerfs.layout(container.config())
        if found.storage == "other":
            raise SnapshotError(
                f"{container.name}: lxcprov cannot snapshot the rootfs {found.path!r}"
            )
        kind: snapstore.Kind = "upper" if found.storage == "overlay" else "rootfs"
        source = Path(found.upper if kind == "upper" else found.path)
        jr = journal.Journal.begin(container.lxcpath, container.name, "snapshot",
                                   creating=False, phase="start")  # fmt: skip
        jr.update(detail=snap)
        snapstore.ensure_directory(directory)
        stage = snapstore.staging(directory, snap)
        stage.mkdir(mode=0o700)
        if container.running():
            progress.phase(f"copying {container.name}'s files (frozen meanwhile)")
            jr.phase("freeze")  # a kill from here on may leave it frozen: settle thaws it
            with freezer.frozen(container):
                jr.phase(settle.FROZEN_PHASE)
                trees.copy(source, stage / kind)
        else:
            progress.phase(f"copying {container.name}'s files")
            jr.phase("copy")
            trees.copy(source, stage / kind)
        jr.phase("commit")
        lower = Path(found.lower) if kind == "upper" else None
        meta = snapstore.Meta(
            name=snap,
            created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            kind=kind,
            ids=ids_label(idmaps.map_of(container)),
            bytes=trees.disk_usage(stage / kind),
            base=lower.parent.name if lower is not None else "",
            lower=str(lower) if lower is not None else "",
        )
        snapstore.write_meta(stage, meta)
        stage.rename(snapstore.path(directory, snap))
        jr.end()
        return meta


def listing(container: lxc.Container) -> list[snapstore.Meta]:
    lxc.require_root()
    container.require()
    return snapstore.listing(_dir(container))


# -- snapshot rm ------------------------------------------------------------------------


def remove(container: lxc.Container, snap: str, progress: Progress | None = None) -> None:
    """Remove a snapshot: renamed out of sight first, so a kill never leaves half of one."""
    lxc.require_root()
    progress = progress or Progress()
    snapstore.check_name(snap)
    with _held(container, "snapshot rm", progress) as ended:
        directory = _dir(container)
        gone = not snapstore.path(directory, snap).exists()
        if ended and ended.command == "snapshot rm" and ended.detail == snap and gone:
            return  # the killed removal of this very snapshot is what was just ended
        _meta(container, snap)
        jr = journal.Journal.begin(container.lxcpath, container.name, "snapshot rm",
                                   creating=False, phase="start")  # fmt: skip
        jr.update(detail=snap)
        retired = snapstore.retired(directory, snap)
        snapstore.path(directory, snap).rename(retired)
        jr.phase("remove")
        settle.settle(container, jr.entry)
        jr.end()


# -- restore ----------------------------------------------------------------------------


@dataclass
class Restored:
    name: str
    snapshot: str
    stopped: bool = False  # restore stopped it (--stop)
    restarted: bool = False  # ... and started it again afterwards
    notes: list[str] = field(default_factory=list)
    shifted: bool = False  # the snapshot's owners were moved into the container's map
    fixups: int = 0  # hostname and network changes made after (0: they had not changed)
    done: list[str] = field(default_factory=list)


def split_words(lxcpath: Path, words: list[str]) -> tuple[list[str], str | None]:
    """`snapshot NAME... [SNAP]`: the containers and the snapshot's name. The last of
    several words is SNAP when it is neither a container of lxcpath nor a pattern."""
    if len(words) >= 2:
        last = words[-1]
        if not targets.is_pattern(last) and not lxc.Container(last, lxcpath).config_path.exists():
            snapstore.check_name(last)
            return words[:-1], last
    return words, None


def restore(
    container: lxc.Container, snap: str, *, stop: bool = False, progress: Progress | None = None
) -> Restored:
    """Put the container's files back as they were in snap (stopped, or --stop: then
    it runs again afterwards, as it did before)."""
    lxc.require_root()
    progress = progress or Progress()
    snapstore.check_name(snap)
    result = _restore(container, snap, stop, progress)
    if result.stopped:
        progress.phase(f"starting {container.name} again")
        try:
            started = lifecycle.start(container, login_timeout=START_LOGIN_TIMEOUT)
        except LxcprovError as exc:
            result.notes.append(f"restored, but it did not start again: {exc.message}")
        else:
            result.restarted = started.state == "RUNNING"
            result.notes += started.notes
    return result


def _restore(container: lxc.Container, snap: str, stop: bool, progress: Progress) -> Restored:
    with _held(container, "restore", progress):
        meta = _meta(container, snap)
        result = Restored(container.name, snap)
        if container.running():
            if not stop:
                raise StartFailedError(
                    f"{container.name} is running: a restore replaces its files",
                    hint=f"stop it first, or: lxcprov restore {container.name} {snap} --stop",
                )
            progress.phase(f"stopping {container.name}")
            container.stop()
            result.stopped = True
        found = containerfs.layout(container.config())
        target = settle.restore_target(container)
        if target is None:
            raise SnapshotError(f"{container.name}: lxcprov cannot restore into {found.path!r}")
        if found.storage == "overlay" and (meta.kind != "upper" or meta.lower != found.lower):
            raise SnapshotError(
                f"snapshot {snap} was not taken over {container.name}'s base",
                hint=f"copy it to a new container instead: lxcprov copy {container.name} NEW "
                f"--snapshot {snap}",
            )
        # A container with a disk limit: a dir container's rootfs is the image's mount
        # point, which the swap's renames cannot move, and a clone's snapshot beside its
        # upper layer may not fit the image both share. A new image of the same size is
        # filled and replaces the old one instead (lxcprov.system.diskswap).
        imaged = diskimage.limit_of(_dir(container)) is not None
        jr = journal.Journal.begin(container.lxcpath, container.name, "restore",
                                   creating=False, phase="copy")  # fmt: skip
        jr.update(detail=snap)
        try:
            stage = _stage(container, target, imaged)
            if imaged:
                jr.phase(DISK_COPY)  # the new image made and mounted, not yet filled
            progress.phase(f"copying snapshot {snap}")
            try:
                with _source(container, meta) as source:
                    trees.copy(source, stage)
            except CommandFailedError as exc:
                if imaged and "No space left on device" in exc.message:
                    raise _too_big(container, snap) from exc
                raise
            current = idmaps.map_of(container)
            if meta.ids != ids_label(current):
                jr.phase("shift")
                progress.phase(f"shifting its owners ({meta.ids} -> {ids_label(current)})")
                for move in idmaps.moves(idmap.parse_label(meta.ids), current):
                    shift.shift(stage, move)
                result.shifted = True
        except (LxcprovError, OSError):
            # A restore that failed (not killed) undoes itself: the container as it was.
            _undo_stage(container, target, imaged)
            jr.end()
            raise
        jr.phase("swap")
        if imaged:
            diskswap.seal(_dir(container))
            diskswap.commit(_dir(container))  # the commit: the rename of the new image
            jr.phase(DISK_MOUNT)
            diskswap.remount(_dir(container), containerfs.writable_dir(container))
        else:
            staged.ready(target)
            staged.swap(target)
        jr.phase("fixups")
        result.fixups = identity.apply(container, renew=False).changes
        jr.end()
        return result


def _stage(container: lxc.Container, target: Path, imaged: bool) -> Path:
    """Where the snapshot's files are copied: beside the target (staged), or into a new
    image mounted at the staging point: there a clone's upper layer gets its siblings
    (overlayfs's work directory) empty, with their owners and modes."""
    if not imaged:
        return staged.building(target)
    owner = containerfs.map_root(container) or (0, 0)
    point = containerfs.writable_dir(container)
    staging = diskswap.building(_dir(container), point, owner)
    if target == point:
        return staging
    for entry in point.iterdir():
        st = entry.lstat()
        made = staging / entry.name  # lost+found is each image's own
        if entry != target and stat.S_ISDIR(st.st_mode) and not made.exists():
            made.mkdir(mode=stat.S_IMODE(st.st_mode))
            os.chown(made, st.st_uid, st.st_gid)
    return staging / target.relative_to(point)


def _undo_stage(container: lxc.Container, target: Path, imaged: bool) -> None:
    if imaged:
        diskswap.settle(_dir(container), containerfs.writable_dir(container))
    else:
        staged.settle(target)


def _too_big(container: lxc.Container, snap: str) -> SnapshotError:
    """The snapshot does not fit in the limit (lowered since): the half image goes (the
    caller's undo), the container stays as it was."""
    limit = diskimage.limit_of(_dir(container)) or 0
    return SnapshotError(
        f"snapshot {snap} does not fit in {container.name}'s disk limit ({format_size(limit)})",
        hint=f"raise it first (lxcprov set {container.name} disk=SIZE), then restore again",
    )


@contextlib.contextmanager
def _source(container: lxc.Container, meta: snapstore.Meta) -> Iterator[Path]:
    """The tree to copy from: the snapshot's own, or for a clone's snapshot restored into
    a container that is a directory now (converted since), its merged view."""
    tree = snapstore.tree(_dir(container), meta)
    found = containerfs.layout(container.config())
    if meta.kind == "rootfs" or found.storage == "overlay":
        yield tree
        return
    yield from _merged(container, meta, tree)


def _merged(container: lxc.Container, meta: snapstore.Meta, tree: Path) -> Iterator[Path]:
    if not Path(meta.lower).is_dir():
        raise SnapshotError(
            f"snapshot {meta.name} lies on {meta.base}, which is gone", hint="it cannot be used"
        )
    lxcpath = container.lxcpath
    point = mountns.scratch(locks.state_dir(lxcpath), lxcpath / container.name) / (
        f"snapshot-{meta.name}"
    )
    point.mkdir(exist_ok=True)
    mountns.mount_overlay_ro([tree, Path(meta.lower)], point, userxattr=meta.ids != "privileged")
    try:
        yield point
    finally:
        mountns.unmount(point)
