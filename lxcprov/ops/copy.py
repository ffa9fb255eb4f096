"""`lxcprov copy NAME NEW [--snapshot SNAP]`: a new container from another's files, with
an identity of its own.

A copy of an overlay clone is another clone of the same base carrying a copy of the
source's upper layer (or of the snapshot's): as fast as the upper layer is small, and, like
every clone, it depends on the base, never on its source. A dir-backed container is copied
whole (through tar, so a long copy shows its progress). An isolated container's copy gets
a block of ids of its own and is shifted into it. The source's settings come along; its
identity does not: a new MAC, a DHCP lease or a new static address on the same bridge,
new SSH host keys, an empty machine-id, its own hostname (lxcprov.ops.identity).

The source must be stopped (its files are one instant), unless a snapshot is copied.
Both locks are held (in name order, so two copies the other way round never wait for each
other), and the new container is journaled like `new`: killed, it is INCOMPLETE and
`destroy --force NEW` or the same copy again removes it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import idmap
from lxcprov.engine.network import owner_of
from lxcprov.engine.sizes import format_size
from lxcprov.errors import (
    ContainerExistsError,
    InvalidNameError,
    LxcprovError,
    SnapshotError,
    StartFailedError,
)
from lxcprov.ops import bases, devices, disk, forwards, identity, idmaps, recovery, settings
from lxcprov.ops import network as netops
from lxcprov.ops.progress import Progress
from lxcprov.system import (
    containerfs,
    diskimage,
    journal,
    locks,
    lxc,
    lxcconf,
    netintent,
    snapstore,
    tarball,
    trees,
)
from lxcprov.system.netintent import NetIntent


@dataclass
class Copied:
    name: str
    source: str
    snapshot: str | None
    how: str  # how the files were copied, for people
    network: NetIntent = field(default_factory=NetIntent)
    mac: str = ""
    privileged: bool = False
    renewed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # What the copy has as its source had it (settings, host directories), and what not.
    kept: list[str] = field(default_factory=list)
    not_kept: list[str] = field(default_factory=list)


@contextlib.contextmanager
def locked_pair(
    a: lxc.Container, a_cmd: str, b: lxc.Container, b_cmd: str, progress: Progress
) -> Iterator[None]:
    """Both containers' locks, always taken in name order (no two commands wait for
    each other forever)."""
    first, second = sorted([(a, a_cmd), (b, b_cmd)], key=lambda p: p[0].name)
    with (
        locks.container(first[0].lxcpath, first[0].name, first[1], on_wait=progress.phase),
        locks.container(second[0].lxcpath, second[0].name, second[1], on_wait=progress.phase),
    ):
        yield


def refuse_existing(target: lxc.Container) -> None:
    if target.exists() or (target.lxcpath / target.name).exists():
        raise ContainerExistsError(
            f"container {target.name!r} already exists in {target.lxcpath}",
            hint="pick another name (or lxcprov destroy --force NAME if lxcprov left it half-made)",
        )


def copy(
    source: lxc.Container,
    new_name: str,
    *,
    snapshot: str | None = None,
    progress: Progress | None = None,
) -> Copied:
    lxc.require_root()
    progress = progress or Progress()
    lxc.check_name(new_name)
    if new_name.startswith(lxc.BASE_PREFIX) or new_name == source.name:
        raise InvalidNameError(
            f"{new_name!r} cannot be the name of a copy of {source.name}",
            hint="pick another name (lxcprov-base-* names are for cached bases)",
        )
    if snapshot is not None:
        snapstore.check_name(snapshot)
    target = lxc.Container(new_name, source.lxcpath)
    t0 = time.monotonic()
    with locked_pair(source, "copy from", target, "copy", progress):
        recovery.refuse_incomplete(source)
        source.require()
        left = recovery.leftover(target.lxcpath, new_name)
        if left is not None:
            progress.phase(f"{new_name} was {left.left_by()}: removing it")
            recovery.undo(target, left)
        refuse_existing(target)
        meta = _snapshot_meta(source, snapshot)
        if meta is None and source.running():
            raise StartFailedError(
                f"{source.name} is running: a copy of it would be of no single instant",
                hint=f"stop it first, or copy a snapshot: lxcprov snapshot {source.name} S && "
                f"lxcprov copy {source.name} {new_name} --snapshot S",
            )
        jr = journal.Journal.begin(target.lxcpath, new_name, "copy", creating=True,
                                   phase="network")  # fmt: skip
        try:
            result = _copy(source, target, meta, jr, progress)
        except BaseException:
            with contextlib.suppress(LxcprovError):
                recovery.undo(target, jr.entry)
            raise
        jr.end()
    result.seconds = time.monotonic() - t0
    result.kept, result.not_kept = _kept(source, target)
    return result


# Settings a copy takes over from its source's config, said after a copy (`ls`/`show`
# show them, but an autostart or a host directory nobody expected is worth a line).
_SAID = ("autostart", "memory", "swap", "cpus", "cpu-weight", "ttys", "mounts", "disk")


def _kept(source: lxc.Container, target: lxc.Container) -> tuple[list[str], list[str]]:
    shown = settings.show(target).settings
    kept = [f"{k}={shown[k]}" for k in _SAID
            if shown.get(k, "-") not in ("-", "none", "no", "")]  # fmt: skip
    ports = [f.label() for _bridge, f in forwards.listing(source)]
    not_kept = [f"published ports ({', '.join(ports)}): a host port leads to one container"]
    not_kept = not_kept if ports else []
    given = [d.path for d in devices.recorded(source)]
    if given:
        not_kept.append(f"host devices ({', '.join(given)}): give them to the copy with "
                        f"lxcprov device add {target.name} DEVICE")  # fmt: skip
    return kept, not_kept


def _snapshot_meta(source: lxc.Container, snap: str | None) -> snapstore.Meta | None:
    if snap is None:
        return None
    where = snapstore.path(source.lxcpath / source.name, snap)
    if not where.is_dir():
        raise SnapshotError(f"{source.name} has no snapshot {snap!r}")
    return snapstore.read_meta(where)


def _copy(
    source: lxc.Container,
    target: lxc.Container,
    meta: snapstore.Meta | None,
    jr: journal.Journal,
    progress: Progress,
) -> Copied:
    found = containerfs.layout(source.config())
    if meta is not None:
        tree = snapstore.tree(source.lxcpath / source.name, meta)
        src_ids = idmap.parse_label(meta.ids)
        lower = Path(meta.lower) if meta.kind == "upper" else None
    elif found.storage in ("overlay", "dir"):
        tree = Path(found.upper if found.storage == "overlay" else found.path)
        src_ids = idmaps.map_of(source)
        lower = Path(found.lower) if found.storage == "overlay" else None
    else:
        raise LxcprovError(f"{source.name}: lxcprov cannot copy the rootfs {found.path!r}")
    intent = netops.current_of(source).intent
    decision = identity.decide(target.name, target.lxcpath,
                               identity.request_for(intent, keep_address=False), mac=None,
                               progress=progress, on_claim=jr.claim)  # fmt: skip
    keys = {k: v for k, v in decision.keys.items() if v is not None}
    directory = target.lxcpath / target.name
    new_ids = src_ids
    if lower is not None:
        how = _clone_with_upper(target, lower, tree, keys, jr, progress)
        # As the clone's file says it ("overlay:LOWER:UPPER"; liblxc reports no prefix).
        rootfs_spec = lxcconf.get(lxcconf.parse(lxcconf.read(target.config_path)),
                                  "lxc.rootfs.path") or ""  # fmt: skip
    else:
        jr.phase("copy")
        progress.phase(f"copying {source.name}'s files to {target.name}")
        directory.mkdir(mode=0o770)
        meter = progress.meter(f"copying to {target.name}", trees.content_size(tree))
        tarball.transfer(tree, directory / "rootfs", meter)
        rootfs_spec = f"dir:{directory / 'rootfs'}"
        how = "a full copy"
        if src_ids is not None and src_ids != _shared():
            new_ids = idmaps.claim_isolated(owner_of(target.name, str(target.lxcpath)), _root())
    jr.phase("config")
    _write_config(source, target, rootfs_spec, keys, new_ids, upper=lower is not None)
    netintent.save(directory, decision.intent)
    if new_ids != src_ids:
        jr.phase("shift")
        progress.phase(f"shifting {target.name}'s files into its own ids ({new_ids})")
        for move in idmaps.moves(src_ids, new_ids):
            idmaps.shift_in_place(target, move, new_ids)
    elif new_ids is not None and lower is None:
        directory.chmod(0o771)  # its root must traverse its own directory to its rootfs
    limit = diskimage.limit_of(source.lxcpath / source.name)
    if limit is not None:  # the copy gets an image of its own, of the same size
        jr.phase("disk")
        progress.phase(f"moving {target.name}'s files into a disk image of {format_size(limit)}")
        disk.move_into_image(target, containerfs.writable_dir(target), limit, own_journal=False)
    jr.phase("identity")
    progress.phase(f"giving {target.name} an identity of its own")
    applied = identity.apply(target, renew=True, was=source.name)
    return Copied(target.name, source.name, meta.name if meta else None, how, decision.intent,
                  keys.get("lxc.net.0.hwaddr", ""), new_ids is None, applied.renewed)  # fmt: skip


def _clone_with_upper(
    target: lxc.Container,
    lower: Path,
    upper: Path,
    keys: dict[str, str],
    jr: journal.Journal,
    progress: Progress,
) -> str:
    """Clone the base under lower, then give the clone a copy of upper as its own."""
    base = lxc.Container(lower.parent.name, target.lxcpath)
    jr.update(base=base.name)
    jr.phase("clone")
    with locks.container(base.lxcpath, base.name, "clone a base", on_wait=progress.phase):
        # Resolved: the config spells the lxcpath as it was given when the base was
        # cloned (a symlink, or its target), not necessarily as it is given now.
        here = os.path.realpath(target.lxcpath)
        if os.path.realpath(lower.parent.parent) != here or not base.exists():
            raise LxcprovError(
                f"the base {base.name} these files lie on is gone", hint="lxcprov bases"
            )
        clone, how = bases.clone(base, target.name, keys)
    if how != "overlayfs snapshot":
        raise LxcprovError(f"could not make {target.name} an overlay clone of {base.name}")
    jr.phase("copy")
    progress.phase(f"copying the upper layer to {target.name}")
    meter = progress.meter(f"copying to {target.name}", trees.content_size(upper))
    tarball.transfer(upper, Path(containerfs.layout(clone.config()).upper), meter)
    return f"a clone of {base.name} with a copy of the upper layer"


def _root() -> idmap.RootRange:
    return idmaps.ensure_root_range()[0]


def _shared() -> idmap.IdMap:
    return idmap.shared(_root())


def _write_config(
    source: lxc.Container,
    target: lxc.Container,
    rootfs_spec: str,
    net_keys: dict[str, str],
    ids: idmap.IdMap | None,
    *,
    upper: bool,
) -> None:
    """The source's config (its settings, and anything an admin wrote there) with the
    copy's own rootfs, name, network and id map."""
    # Not its host devices: a device is given to a container by name, never by a copy
    # (their nodes are the source's, owned by its ids); _kept says so.
    text, _ = devices.forget(lxcconf.read(source.config_path))
    lines = [ln for ln in lxcconf.parse(text) if not ln.key.startswith("lxc.net.")]
    lines = lxcconf.set_values(lines, "lxc.idmap", ids.lxc_lines() if ids else [])
    changes: dict[str, str | None] = {
        "lxc.rootfs.path": rootfs_spec,
        "lxc.rootfs.options": "userxattr" if upper and ids is not None else None,
        "lxc.uts.name": target.name,
        **net_keys,
    }
    lxcconf.write(target.config_path, lxcconf.update(lxcconf.render(lines), changes))
