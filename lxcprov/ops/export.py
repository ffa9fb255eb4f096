"""`lxcprov export NAME FILE|- [--no-snapshots]`: a stopped container in one archive that
restores on another host.

The archive (its layout: lxcprov.engine.archive) holds the manifest (format version, the
LXC config, the network intent, the MAC, the id map, the snapshots), the rootfs (a clone's
merged tree: the base is not needed to import it), each snapshot's tree, and the sha256
of every member, written by GNU tar with numeric owners, modes, hard links, device nodes,
FIFOs, holes and every xattr (lxcprov.system.tarball).

Every member is judged as it is written by the very checks an import makes
(lxcprov.engine.archive.Checker): a file the import would refuse (a capability set from
the host, setuid for an owner outside the container's map) stops the export with the
import's own words, so no export makes an archive its import refuses.

The trees are mounted read-only in a mount namespace of the command's own (a clone's
layers as a read-only overlay, a directory by a bind mount), so nothing of the container
is written, and a killed export leaves nothing mounted. The file appears complete or not
at all: it is written unnamed (O_TMPFILE) and linked into place at the end.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import archive, idmap
from lxcprov.errors import ArchiveError, LxcprovError, StartFailedError, plural
from lxcprov.ops import idmaps, recovery
from lxcprov.ops.progress import Progress
from lxcprov.system import (
    containerfs,
    diskimage,
    locks,
    lxc,
    lxcconf,
    mountns,
    netintent,
    snapstore,
    statefile,
    tarball,
    trees,
)


@dataclass
class Exported:
    name: str
    file: str
    tar_bytes: int  # uncompressed
    file_bytes: int  # as written (0 when it went to stdout)
    snapshots: list[str] = field(default_factory=list)
    seconds: float = 0.0


def export(
    container: lxc.Container,
    target: str,
    *,
    snapshots: bool = True,
    progress: Progress | None = None,
) -> Exported:
    lxc.require_root()
    progress = progress or Progress()
    kind = tarball.compression_for(target)
    if target == "-" and os.isatty(1):
        raise ArchiveError(
            "not writing an archive to a terminal", hint="redirect stdout, or give a FILE"
        )
    t0 = time.monotonic()
    with locks.container(container.lxcpath, container.name, "export", on_wait=progress.phase):
        recovery.refuse_incomplete(container)
        container.require()
        if container.running():
            raise StartFailedError(
                f"{container.name} is running: an export of it would be of no single instant",
                hint=f"stop it first: lxcprov stop {container.name}",
            )
        directory = container.lxcpath / container.name
        metas = snapstore.listing(directory) if snapshots else []
        found = containerfs.layout(container.config())
        manifest = _manifest(container, found, metas)
        progress.phase(
            f"exporting {container.name}"
            + (f" and {plural(len(metas), 'snapshot')}" if metas else "")
        )
        with _staged(container, found, metas) as stage, _output(target) as out:
            meter = progress.meter(f"exporting {container.name}", trees.content_size(stage))
            tar_bytes = _write(out, kind, manifest, stage, metas, meter)
            file_bytes = os.fstat(out).st_size if target != "-" else 0
    return Exported(container.name, target, tar_bytes, file_bytes, [m.name for m in metas],
                    time.monotonic() - t0)  # fmt: skip


def _write(
    out: int,
    kind: tarball.Compression,
    manifest: archive.Manifest,
    stage: Path,
    metas: list[snapstore.Meta],
    meter: tarball.Bytes,
) -> int:
    now = int(time.time())
    # What the import of this archive will refuse, the export refuses, in the same words.
    judge = archive.Checker(manifest=manifest)
    writer = tarball.Writer(out, kind, judge=judge.check)
    try:
        writer.add_file(archive.MANIFEST, manifest.to_json(), now)
        roots = [archive.ROOTFS, *(archive.snapshot_root(m.name) for m in metas)]
        writer.add_trees(stage, roots, meter)
        sums = writer.checksums()
        writer.add_file(archive.CHECKSUMS, archive.render_checksums(sums), now)
        writer.finish()
    except ArchiveError as exc:
        writer.abort()
        exc.hint = (f"{_fix_for(exc.message, manifest.name)}; no archive was written" if exc.hint in
                    ("", ArchiveError.default_hint) else exc.hint)  # fmt: skip
        raise
    except BaseException:
        writer.abort()
        raise
    return writer.written


def _fix_for(message: str, name: str) -> str:
    """What to do about a file of the container that its import would refuse."""
    if "capability" in message or "setuid" in message:
        return (
            "a file capability set from the host works on the host: remove it there "
            f"(setcap -r FILE) or set it again from inside (lxcprov exec {name} -- setcap ...), "
            "and take setuid bits off files the container's root does not own"
        )
    return "fix that file in the container and export again"


def _manifest(
    container: lxc.Container, found: containerfs.Layout, metas: list[snapstore.Meta]
) -> archive.Manifest:
    directory = container.lxcpath / container.name
    config = container.config()
    ids = idmaps.map_of(container)
    extra = {}
    for path in sorted(directory.glob("lxcprov-*.toml")):
        if path.name != "lxcprov-base.toml":
            extra[path.name] = statefile.read_text(path) or ""
    return archive.Manifest(
        name=container.name,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        ids=ids.label() if ids is not None else "privileged",
        config=lxcconf.read(container.config_path),
        network=netintent.load(directory, config),
        mac=config.get("lxc.net.0.hwaddr", "") if config.get("lxc.net.0.type") == "veth" else "",
        isolated=_isolated(ids),
        flattened_from=Path(found.lower).parent.name if found.storage == "overlay" else "",
        snapshots=tuple(archive.SnapshotEntry(m.name, m.created, m.ids) for m in metas),
        extra_state=extra,
        disk=diskimage.limit_of(directory) or 0,
    )


def _isolated(ids: idmap.IdMap | None) -> bool:
    if ids is None:
        return False
    try:
        return ids != idmap.shared(idmaps.root_range())
    except LxcprovError:
        return True  # not this host's shared map, whatever it is


@contextlib.contextmanager
def _staged(
    container: lxc.Container, found: containerfs.Layout, metas: list[snapstore.Meta]
) -> Iterator[Path]:
    """The archive's trees, mounted read-only where tar reads them (see the docstring)."""
    directory = container.lxcpath / container.name
    stage = (
        mountns.scratch(locks.state_dir(container.lxcpath), directory) / f"export-{container.name}"
    )
    mounted: list[Path] = []
    try:
        point = stage / archive.ROOTFS
        point.mkdir(parents=True)
        if found.storage == "overlay":
            userxattr = "userxattr" in container.config().get("lxc.rootfs.options", "")
            mountns.mount_overlay_ro([Path(found.upper), Path(found.lower)], point,
                                     userxattr=userxattr)  # fmt: skip
        elif found.storage == "dir":
            mountns.bind_ro(Path(found.path), point)
        else:
            raise ArchiveError(f"{container.name}: lxcprov cannot export {found.path!r}")
        mounted.append(point)
        for meta in metas:
            point = stage / archive.snapshot_root(meta.name)
            point.mkdir(parents=True)
            tree = snapstore.tree(container.lxcpath / container.name, meta)
            if meta.kind == "upper":
                if not Path(meta.lower).is_dir():
                    raise ArchiveError(f"snapshot {meta.name} lies on {meta.base}, which is gone")
                mountns.mount_overlay_ro([tree, Path(meta.lower)], point,
                                         userxattr=meta.ids != "privileged")  # fmt: skip
            else:
                mountns.bind_ro(tree, point)
            mounted.append(point)
        yield stage
    finally:
        for point in reversed(mounted):
            mountns.unmount(point)


@contextlib.contextmanager
def _output(target: str) -> Iterator[int]:
    """Where the archive goes: stdout, or an unnamed file linked in as target at the end
    (replacing what was there), so a failed or killed export leaves no half archive."""
    if target == "-":
        yield 1
        return
    path = Path(os.path.abspath(target))
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        named: Path | None = None
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):  # no O_TMPFILE
            raise ArchiveError(f"cannot write into {path.parent}: {exc.strerror}") from None
        named = path.with_name(f".{path.name}.lxcprov-partial-{os.getpid()}")
        fd = os.open(named, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        yield fd
        os.fsync(fd)
        if named is None:
            named = path.with_name(f".{path.name}.lxcprov-{os.getpid()}")
            _link(fd, named)
        os.replace(named, path)
        named = None
    finally:
        os.close(fd)
        if named is not None:
            named.unlink(missing_ok=True)


def _link(fd: int, path: Path) -> None:
    """Give the unnamed file fd the name path. A dir_fd makes Python call linkat with
    AT_SYMLINK_FOLLOW (plain link() would link the /proc magic link itself: EXDEV)."""
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=dfd)
    finally:
        os.close(dfd)
