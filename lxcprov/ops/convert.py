"""`lxcprov convert NAME --unprivileged | --privileged`: shift a stopped container's files
into (or out of) an id map, and record the map in its config.

A dir-backed container (one made by plain lxc-create, or with --no-base) is shifted in
place. A snapshot clone is flattened first: its merged view is copied (`cp -a`: owners,
modes, hard links, xattrs, ACLs) into a plain directory next to it, shifted, and only then
does its config point there (with the new map), so until that last write the container is
the old one, whole. A journal says a conversion is under way: a killed one shows as
INCOMPLETE, start refuses it, and `convert` again finishes it (same direction) or rolls it
back (the other direction) — the shift is idempotent, so neither is ever applied twice.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import idmap
from lxcprov.errors import IncompleteContainerError, InvalidArgumentError, StartFailedError
from lxcprov.ops import convertdisk, idmaps, mounts, recovery, targets
from lxcprov.ops.convertdisk import PHASE_IMAGE
from lxcprov.ops.progress import Progress
from lxcprov.system import containerfs, journal, locks, lxc, lxcconf, run

FLAT = "rootfs.lxcprov-flat"


@dataclass
class Converted:
    name: str
    privileged: bool
    ids: str  # the map's label, or "privileged"
    done: list[str] = field(default_factory=list)


def _target(unprivileged: bool, isolated: bool, name: str, lxcpath: Path,
            progress: Progress) -> idmap.IdMap | None:  # fmt: skip
    if not unprivileged:
        if isolated:
            raise InvalidArgumentError("--isolated goes with --unprivileged", hint="drop it")
        return None
    return idmaps.choose_and_register(name, lxcpath, isolated=isolated, say=progress.phase).own


def convert(
    container: lxc.Container,
    *,
    unprivileged: bool,
    isolated: bool = False,
    progress: Progress | None = None,
) -> Converted:
    lxc.require_root()
    targets.refuse_base(container, "convert")
    progress = progress or Progress()
    with locks.container(container.lxcpath, container.name, "convert", on_wait=progress.phase):
        left = journal.read(container.lxcpath, container.name)
        if left is not None and not left.running and left.command != "convert":
            recovery.refuse_incomplete(container)
        container.require()
        if container.running():
            raise StartFailedError(
                f"{container.name} is running: its files cannot be shifted under it",
                hint=f"lxcprov stop {container.name}, then convert it",
            )
        current = idmap.from_config(container.idmap())
        target = _target(unprivileged, isolated, container.name, container.lxcpath, progress)
        # A conversion that was killed: its files may be half in the target's range.
        source = current
        if left is not None and left.command == "convert" and left.detail:
            was_going_to = idmap.parse_label(left.detail)
            if was_going_to == target:
                progress.phase(f"finishing the conversion {left.describe()} began")
            else:
                progress.phase(f"rolling back the conversion {left.describe()} began")
                source = was_going_to
        label = target.label() if target else "privileged"
        result = Converted(container.name, target is None, label)
        if source == target and left is None:
            result.done.append(f"{container.name} is already {_kind(target)}: nothing to do")
            return result
        jr = left_or_new(container, left, label)
        found = containerfs.layout(container.config())
        if found.storage == "overlay":
            jr.phase("flatten")
            _flatten(container, found, result, progress, jr)
        jr.phase(PHASE_IMAGE)
        result.done += convertdisk.put_in_place(container, jr)
        if target is not None:
            root = (target.host_uid, target.host_gid)
            result.done += mounts.before_unprivileged(container, root)
        jr.phase("shift")
        progress.phase(f"shifting {container.name}'s files ({_kind(source)} -> {_kind(target)})")
        idmaps.shift_in_place(container, idmaps.move(source, target), target)
        if target is None:
            _drop_unprivileged_options(container)
            mounts.after_privileged(container)
        result.done.append(f"{container.name} is {_kind(target)} now ({label})")
        jr.end()
        return result


def left_or_new(
    container: lxc.Container, left: journal.Entry | None, label: str
) -> journal.Journal:
    if left is not None:
        left.path.unlink(missing_ok=True)
    jr = journal.Journal.begin(container.lxcpath, container.name, "convert", creating=False,
                               phase="start")  # fmt: skip
    jr.update(detail=label)
    return jr


def _kind(ids: idmap.IdMap | None) -> str:
    return "privileged" if ids is None else "unprivileged"


def _flatten(
    container: lxc.Container,
    found: containerfs.Layout,
    result: Converted,
    progress: Progress,
    jr: journal.Journal,
) -> None:
    """Make a snapshot clone a plain directory (the config switches only at the end).
    One with a disk limit gets its merged files in a new image of that size instead
    (lxcprov.ops.convertdisk), which is put in place after the switch."""
    directory = container.lxcpath / container.name
    flat = directory / FLAT
    if flat.exists():
        shutil.rmtree(flat)  # a flatten that was killed: start it again
    target = directory / "rootfs"
    imaged = convertdisk.limited(container)
    progress.phase(f"copying {container.name}'s merged files into a directory of its own")
    with containerfs.opened(container) as rootfs:
        if imaged:  # once opened: opening unmounts what a killed command left
            flat = convertdisk.building(container, jr)
        # The root's descriptor, as cp (another process) can reach it: the very same tree.
        merged = f"/proc/{os.getpid()}/fd/{rootfs.fd}/."
        flat.mkdir(mode=0o755, exist_ok=imaged)
        convertdisk.copy(container, merged, flat, jr) if imaged else (
            run.run(["cp", "-a", "--reflink=auto", merged, str(flat)]))  # fmt: skip
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if target.exists():
        raise IncompleteContainerError(
            f"{target} is in the way of the flattened rootfs",
            hint=f"look at it; {flat} holds the copy",
        )
    if imaged:
        convertdisk.seal(container, target)  # its mount point: the image goes there
        jr.phase(convertdisk.PHASE_SEALED)
    else:
        flat.rename(target)
    text = lxcconf.read(container.config_path)
    text = lxcconf.update(text, {"lxc.rootfs.path": f"dir:{target}", "lxc.rootfs.options": None})
    lxcconf.write(container.config_path, text)
    base = Path(found.lower).parent
    recovery.forget_clone(container.lxcpath, base.name, container.name)
    if not imaged:  # else its image is still mounted there, until put_in_place
        shutil.rmtree(directory / "overlay", ignore_errors=True)
    result.done.append(f"flattened from its base {base.name} into {target}")


def _drop_unprivileged_options(container: lxc.Container) -> None:
    text = lxcconf.read(container.config_path)
    new = lxcconf.update(text, {"lxc.rootfs.options": None})
    if new != text:
        lxcconf.write(container.config_path, new)
