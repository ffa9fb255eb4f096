"""`lxcprov import FILE [NAME] [--new-identity]`: a container from an `lxcprov export`.

Nothing is written before the whole archive is checked. The archive (a path, or `-` for
stdin) is copied into an unnamed file only this process can reach while Python's tarfile
reads every header of it: each member must land inside the new container
(lxcprov.engine.archive.Checker: no absolute paths, no `..`, nothing under a symlink,
device nodes only inside a rootfs, owners inside the recorded id map), and every member's
sha256 must be the one recorded. Only then does GNU tar extract that very copy (a source
changed meanwhile changes nothing), into the new container's directory.

Then, under the new container's lock and journal (killed, it is INCOMPLETE, and
`destroy --force NAME` or the same import again removes it): its config is written from
what the archive's config may carry (lxcprov.engine.archive.portable_config), its owners
are shifted when the recorded id map is not the one it gets here (privileged stays
privileged, an isolated container gets a block of its own), and its network is decided
here: the recorded MAC and address kept, or with --new-identity a new MAC, a new address
on the same bridge, new SSH host keys and an empty machine-id. Its snapshots come along as
directory snapshots.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lxcprov.engine import archive, idmap
from lxcprov.errors import AddressPoolError, ArchiveError, InvalidNameError, LxcprovError
from lxcprov.ops import identity, idmaps, recovery
from lxcprov.ops.copy import refuse_existing
from lxcprov.ops.progress import Progress
from lxcprov.system import (
    journal,
    locks,
    lxc,
    lxcconf,
    netintent,
    shift,
    snapstore,
    tarball,
    trees,
)
from lxcprov.system.netintent import NetIntent


@dataclass
class Imported:
    name: str
    exported_as: str
    ids: str  # "privileged" or the map it got here
    shifted: bool = False
    network: NetIntent = field(default_factory=NetIntent)
    mac: str = ""
    renewed: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # config keys not taken
    not_applied: list[str] = field(default_factory=list)  # other lxcprov state it carried
    seconds: float = 0.0


@dataclass(frozen=True)
class Checked:
    manifest: archive.Manifest
    tar_bytes: int  # the uncompressed stream's length
    outside_map: list[str]  # files owned outside the recorded map (never shifted)


def import_archive(
    source: str,
    lxcpath: Path,
    name: str | None = None,
    *,
    new_identity: bool = False,
    progress: Progress | None = None,
) -> Imported:
    lxc.require_root()
    progress = progress or Progress()
    if name is not None:
        _check_new_name(name)
    t0 = time.monotonic()
    with _opened(source) as (fh, size):
        head = fh.read(4)
        kind = tarball.compression_of(head, source)
        # Unnamed, in the lxcpath itself: on the containers' filesystem, and a refused
        # archive leaves not even a directory behind.
        spool = tarball.Spooled(lxcpath)
        try:
            progress.phase(f"checking {source} (nothing is written before it all checks out)")
            checked = check(fh, spool, kind, head, progress.meter(f"checking {source}", size))
            result = _create(checked, spool, kind, lxcpath, name, new_identity, progress)
        finally:
            spool.close()
    result.seconds = time.monotonic() - t0
    return result


def _check_new_name(name: str) -> None:
    lxc.check_name(name)
    if name.startswith(lxc.BASE_PREFIX):
        raise InvalidNameError(f"{name!r} is a name for cached bases", hint="pick another name")


@contextlib.contextmanager
def _opened(source: str) -> Iterator[tuple[IO[bytes], int]]:
    """The archive to read, and its size when known (0: a pipe)."""
    if source == "-":
        if sys.stdin.isatty():
            raise ArchiveError("no archive on stdin (it is a terminal)", hint="lxcprov import FILE")
        yield sys.stdin.buffer, 0
        return
    try:
        fh = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ArchiveError(f"cannot read {source}: {exc.strerror}", hint="") from None
    with fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise ArchiveError(f"{source} is a directory", hint="give the archive file")
        yield fh, st.st_size if stat.S_ISREG(st.st_mode) else 0


def check(
    fh: IO[bytes], spool: tarball.Spooled, kind: tarball.Compression, head: bytes,
    meter: tarball.Bytes,
) -> Checked:  # fmt: skip
    """Copy the archive into spool while checking every member and checksum (pass 1)."""
    proc, feeder, errors = tarball.spool_and_read(fh, spool, kind, head, meter)
    checker = archive.Checker()
    digests: dict[str, str] = {}
    expected: dict[str, str] | None = None
    end = 0
    assert proc.stdout is not None
    try:
        for read in tarball.members(proc.stdout, keep=checker.keep):
            checker.check(read.member)
            if read.member.name == archive.CHECKSUMS:
                assert read.data is not None
                expected = archive.parse_checksums(read.data)
            else:
                if read.member.name == archive.MANIFEST:
                    assert read.data is not None
                    checker.manifest = archive.parse_manifest(read.data)
                digests[read.member.name] = read.sha256
            end = read.end
        checker.finish()
        feeder.join()
        if proc.wait() != 0:
            raise ArchiveError("the archive does not decompress (damaged or truncated)")
        if errors:
            raise ArchiveError(f"reading the archive failed: {errors[0]}")
        assert expected is not None and checker.manifest is not None
        archive.compare(expected, digests)
    except BaseException as exc:
        proc.kill()
        proc.wait()
        feeder.join()
        if isinstance(exc, ArchiveError) and "nothing was written" not in exc.hint:
            exc.hint = f"{exc.hint}; nothing was written" if exc.hint else "nothing was written"
        raise
    return Checked(checker.manifest, end + 2 * tarball.BLOCK, checker.outside_map)


def _create(
    checked: Checked,
    spool: tarball.Spooled,
    kind: tarball.Compression,
    lxcpath: Path,
    name: str | None,
    new_identity: bool,
    progress: Progress,
) -> Imported:
    manifest = checked.manifest
    name = name or manifest.name
    _check_new_name(name)
    portable = archive.portable_config(manifest.config)
    for include in portable.includes:
        if not Path(include).is_file():
            raise ArchiveError(
                f"the container's config includes {include}, which this host does not have",
                hint="install the lxc package that has it (apt-get install lxc); nothing was "
                "written",
            )
    target = lxc.Container(name, lxcpath)
    with locks.container(lxcpath, name, "import", on_wait=progress.phase):
        left = recovery.leftover(lxcpath, name)
        if left is not None:
            progress.phase(f"{name} was left half-made by {left.describe()}: removing it")
            recovery.undo(target, left)
        refuse_existing(target)
        keep = not new_identity
        if keep:
            identity.refuse_shared_mac(lxcpath, manifest.mac, name)
        jr = journal.Journal.begin(lxcpath, name, "import", creating=True, phase="network")
        try:
            result = _build(target, checked, spool, kind, portable, keep, jr, progress)
        except BaseException:
            with contextlib.suppress(LxcprovError):
                recovery.undo(target, jr.entry)
            raise
        jr.end()
    return result


def _build(
    target: lxc.Container,
    checked: Checked,
    spool: tarball.Spooled,
    kind: tarball.Compression,
    portable: archive.PortableConfig,
    keep: bool,
    jr: journal.Journal,
    progress: Progress,
) -> Imported:
    manifest = checked.manifest
    directory = target.lxcpath / target.name
    recorded = idmap.parse_label(manifest.ids)
    own = _own_ids(recorded, manifest.isolated, target, progress)
    if recorded != own and checked.outside_map:
        raise ArchiveError(
            f"{checked.outside_map[0]!r} (and {len(checked.outside_map) - 1} more) belong to "
            f"host ids outside the archive's map {manifest.ids}: they cannot be shifted into "
            f"this host's ({own.label() if own else 'privileged'})",
            hint="chown them into the container's ids on the source host and export again; "
            "nothing was written",
        )
    mac = manifest.mac if keep and manifest.mac else None
    try:
        decision = identity.decide(
            target.name, target.lxcpath, manifest.network, mac=mac, keep_address=keep,
            progress=progress, on_claim=jr.claim,
        )  # fmt: skip
    except AddressPoolError as exc:
        raise AddressPoolError(
            f"{target.name} cannot keep its address: {exc.message}",
            hint="import it with --new-identity (a new address on the same bridge)",
        ) from None
    jr.phase("extract")
    progress.phase(f"extracting into {directory}")
    directory.mkdir(mode=0o770)
    tarball.extract(spool.fd, kind, directory,
                    progress.meter(f"importing {target.name}", checked.tar_bytes))  # fmt: skip
    shutil.rmtree(directory / "lxcprov")  # the manifest and checksums: read already
    snaps = _adopt_snapshots(directory, manifest)
    jr.phase("config")
    keys = {k: v for k, v in decision.keys.items() if v is not None}
    _write_config(target, manifest, portable, own, keys)
    netintent.save(directory, decision.intent)
    result = Imported(target.name, manifest.name, own.label() if own else "privileged",
                      network=decision.intent, mac=keys.get("lxc.net.0.hwaddr", ""),
                      snapshots=[s.name for s in snaps], dropped=portable.dropped,
                      not_applied=sorted(manifest.extra_state))  # fmt: skip
    jr.phase("shift")
    if recorded != own:
        progress.phase(f"shifting its owners ({manifest.ids} -> {result.ids})")
        for move in idmaps.moves(recorded, own):
            idmaps.shift_in_place(target, move, own)
        result.shifted = True
    elif own is not None:
        directory.chmod(0o771)  # its root must traverse its own directory to its rootfs
    for snap in snaps:
        _shift_snapshot(directory, snap, own)
    jr.phase("identity")
    applied = identity.apply(target, renew=not keep, was=manifest.name)
    result.renewed = applied.renewed
    return result


def _own_ids(
    recorded: idmap.IdMap | None, isolated: bool, target: lxc.Container, progress: Progress
) -> idmap.IdMap | None:
    """The map the container gets here: privileged stays privileged; unprivileged gets
    this host's shared map, or a block of its own if it had one."""
    if recorded is None:
        return None
    root, note = idmaps.ensure_root_range()
    if note:
        progress.phase(note)
    own = idmap.shared(root)
    if isolated:
        own = idmaps.claim_isolated(identity.owner(target.name, target.lxcpath), root)
    changed = idmaps.ensure_traversable(target.lxcpath, own)
    if changed:
        progress.phase(changed)
    return own


def _adopt_snapshots(directory: Path, manifest: archive.Manifest) -> list[snapstore.Meta]:
    """Record the snapshots the archive brought (directory snapshots, in their own ids)."""
    out: list[snapstore.Meta] = []
    if not manifest.snapshots:
        return out
    snapstore.directory(directory).chmod(0o700)
    for entry in manifest.snapshots:
        where = snapstore.path(directory, entry.name)
        where.chmod(0o700)
        meta = snapstore.Meta(entry.name, entry.created, "rootfs", entry.ids,
                              trees.disk_usage(where / "rootfs"), origin="import")  # fmt: skip
        snapstore.write_meta(where, meta)
        out.append(meta)
    return out


def _shift_snapshot(directory: Path, meta: snapstore.Meta, own: idmap.IdMap | None) -> None:
    label = own.label() if own is not None else "privileged"
    if meta.ids == label:
        return
    tree = snapstore.tree(directory, meta)
    for move in idmaps.moves(idmap.parse_label(meta.ids), own):
        shift.shift(tree, move)
    snapstore.write_meta(snapstore.path(directory, meta.name),
                         snapstore.Meta(**{**vars(meta), "ids": label}))  # fmt: skip


def _write_config(
    target: lxc.Container,
    manifest: archive.Manifest,
    portable: archive.PortableConfig,
    ids: idmap.IdMap | None,
    net_keys: dict[str, str],
) -> None:
    head = [
        f"# Imported by lxcprov from an export of {manifest.name} ({manifest.created}).",
        "# Only settings that stay inside the container were taken from the archive's config",
        "# (no hooks, no mounts of host paths, no other includes): lxcprov/engine/archive.py.",
    ]
    directory = target.lxcpath / target.name
    text = "\n".join([*head, *portable.lines]) + "\n"
    lines = lxcconf.set_values(lxcconf.parse(text), "lxc.idmap", ids.lxc_lines() if ids else [])
    changes: dict[str, str | None] = {
        "lxc.rootfs.path": f"dir:{directory / archive.ROOTFS}",
        "lxc.uts.name": target.name,
        **net_keys,
    }
    lxcconf.write(target.config_path, lxcconf.update(lxcconf.render(lines), changes))
