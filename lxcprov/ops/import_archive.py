"""`lxcprov import FILE [NAME] [--new-identity] [--privileged]`: a container from an
`lxcprov export`.

Nothing is written before the whole archive is checked. The archive (a path, or `-` for
stdin) is copied into an unnamed file only this process can reach while Python's tarfile
reads every header of it: each member must land inside the new container
(lxcprov.engine.archive.Checker: no absolute paths, no `..`, nothing under a symlink,
device nodes only inside a rootfs, owners inside the recorded id map), within the limits
(members, bytes on disk against the lxcpath's free space, expansion ratio: a bomb stops
at the header or the megabyte that gives it away), a privileged container only with
--privileged, and every member's sha256 must be the one recorded. Then the same reader
reads that very copy again (a source changed meanwhile changes nothing), the same checks
judge each member again, and lxcprov.system.unpack writes it, never through a symlink:
the tree on disk is the tree that was checked. GNU tar never reads an archive.

Then, under the new container's lock and journal (killed, it is INCOMPLETE, and
`destroy --force NAME` or the same import again removes it): its trees (`rootfs`, each
`snapshots/NAME/rootfs`) are opened with no symlink followed before anything else touches
them, its config is written from what the archive's config may carry
(lxcprov.engine.archive.portable_config), its owners are shifted when the recorded id map
is not the one it gets here (privileged stays privileged, an isolated container gets a
block of its own), and its network is decided here, the archive's being a wish
(lxcprov.engine.network.from_archive): its bridge only if lxcprov manages one of that name
(else the default bridge), its static address only on that bridge and only if free there,
its MAC only if no other container has it; or with --new-identity a new MAC, a new
address, new SSH host keys and an empty machine-id, written through the rootfs descriptor
opened then. What was asked and what was done is said, one line each. Its snapshots come
along as directory snapshots. A failure removes what the import made, and only that:
never through a symlink (lxcprov.ops.recovery).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lxcprov.engine import archive, devices, disklimit, idmap, network
from lxcprov.engine.network import Decision
from lxcprov.engine.sizes import format_size
from lxcprov.errors import AddressPoolError, ArchiveError, InvalidNameError, LxcprovError
from lxcprov.ops import disk, identity, idmaps, recovery
from lxcprov.ops.copy import refuse_existing
from lxcprov.ops.progress import Progress
from lxcprov.system import (
    containerfs,
    diskimage,
    hostnet,
    journal,
    locks,
    lxc,
    lxcconf,
    netintent,
    shift,
    snapstore,
    tarball,
    trees,
    unpack,
)
from lxcprov.system.netintent import NetIntent
from lxcprov.system.rootfs import Rootfs

# An archive that expands more than MAX_RATIO times (uncompressed tar bytes per archive
# byte) is refused as a bomb once RATIO_AFTER bytes came out of it: a Debian rootfs is
# about 2.5 with zstd, a tree of text 10 to 20; only runs of zeros go far past 100.
MAX_RATIO = 100
RATIO_AFTER = 64 << 20
# What the lxcpath's filesystem keeps free after an import: 5% of it, at most 1 GiB.
RESERVE_SHARE, RESERVE_MAX = 0.05, 1 << 30


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
    left_out: list[str] = field(default_factory=list)  # members not written, and why
    not_applied: list[str] = field(default_factory=list)  # other lxcprov state it carried
    # The archive's bridge, address and MAC, and what the container got: one line each.
    network_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    disk: int = 0  # the disk limit it got from the archive (0: none)


@dataclass(frozen=True)
class Checked:
    manifest: archive.Manifest
    tar_bytes: int  # the uncompressed stream's length
    outside_map: list[str]  # files owned outside the recorded map (never shifted)
    left_out: list[str]  # members the checks leave out (devices of an unprivileged tree)


@dataclass(frozen=True)
class Room:
    """What the lxcpath's filesystem can take: bytes and inodes (None: not counted)."""

    bytes: int
    inodes: int | None
    where: Path

    @classmethod
    def of(cls, lxcpath: Path) -> Room:
        st = os.statvfs(lxcpath)
        free = st.f_bavail * st.f_frsize
        reserve = min(int(st.f_blocks * st.f_frsize * RESERVE_SHARE), RESERVE_MAX)
        inodes = st.f_favail - min(st.f_files // 20, 100_000) if st.f_files else None
        return cls(free - reserve, inodes, lxcpath)


def import_archive(
    source: str,
    lxcpath: Path,
    name: str | None = None,
    *,
    new_identity: bool = False,
    privileged: bool = False,
    limits: archive.Limits | None = None,
    max_ratio: float = MAX_RATIO,
    progress: Progress | None = None,
) -> Imported:
    lxc.require_root()
    progress = progress or Progress()
    if name is not None:
        _check_new_name(name)
    t0 = time.monotonic()
    command = f"lxcprov import {source}" + (f" {name}" if name else "")
    with _opened(source) as (fh, size):
        head = fh.read(4)
        kind = tarball.compression_of(head, source)
        # Unnamed, in the lxcpath itself: on the containers' filesystem, and a refused
        # archive leaves not even a directory behind.
        spool = tarball.Spooled(lxcpath)
        try:
            progress.phase(f"checking {source} (nothing is written before it all checks out)")
            meter = progress.meter(f"checking {source}", size)
            checked = check(fh, spool, kind, head, meter, room=Room.of(lxcpath),
                            limits=limits or archive.Limits(), max_ratio=max_ratio,
                            privileged=privileged, command=command)  # fmt: skip
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


class _Counted:
    """A stream that tells on_bytes how many bytes each read returned."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self.stream, self.on_bytes = stream, on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.on_bytes(len(data))
        return data


def _ratio_guard(spool: tarball.Spooled, max_ratio: float) -> Callable[[int], None]:
    """Refuses a stream that expands more than max_ratio times its archive (0: no limit)."""
    out = 0

    def add(n: int) -> None:
        nonlocal out
        out += n
        if max_ratio and out > RATIO_AFTER and out > max_ratio * max(spool.size, 1):
            raise ArchiveError(
                f"the archive expands more than {max_ratio:g} times ({spool.size} bytes gave "
                f"{out} so far): a compression bomb?",
                hint="if it is really yours: --max-ratio 0 lifts the limit; nothing was written",
            )

    return add


def _fits(checker: archive.Checker, spool: tarball.Spooled, room: Room) -> None:
    """The trees (so far) and the spooled archive fit in the lxcpath's filesystem."""
    if checker.need + spool.size > room.bytes:
        raise ArchiveError(
            f"the archive needs more than {_mib(checker.need + spool.size)} in {room.where}, "
            f"which has {_mib(max(room.bytes, 0))} to spare",
            hint="free some space there (5% of the filesystem, at most 1 GiB, stays free); "
            "nothing was written",
        )
    if room.inodes is not None and checker.count > room.inodes:
        raise ArchiveError(
            f"the archive has more members than {room.where} has inodes to spare ({room.inodes})",
            hint="nothing was written",
        )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def check(
    fh: IO[bytes], spool: tarball.Spooled, kind: tarball.Compression, head: bytes,
    meter: tarball.Bytes, *, room: Room, limits: archive.Limits, max_ratio: float,
    privileged: bool, command: str,
) -> Checked:  # fmt: skip
    """Copy the archive into spool while checking every member, the limits and every
    checksum (the first reading: nothing is written)."""
    proc, feeder, errors = tarball.spool_and_read(fh, spool, kind, head, meter)
    checker = archive.Checker(limits=limits)
    digests: dict[str, str] = {}
    expected: dict[str, str] | None = None
    end = 0
    assert proc.stdout is not None
    stream = _Counted(proc.stdout, _ratio_guard(spool, max_ratio))
    try:
        for entry in tarball.entries(stream):
            m = entry.member
            checker.check(m)
            _fits(checker, spool, room)
            v1 = checker.manifest is not None and checker.manifest.version == 1
            sha256, data = entry.digest(checker.keep(m), holes=v1)
            if m.name == archive.CHECKSUMS:
                assert data is not None
                expected = archive.parse_checksums(data)
            else:
                if m.name == archive.MANIFEST:
                    assert data is not None
                    checker.manifest = archive.parse_manifest(data)
                    archive.require_privilege(checker.manifest, privileged, command)
                digests[m.name] = sha256
            end = entry.end
        checker.finish()
        tarball.drain(proc.stdout)
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
    return Checked(checker.manifest, end + 2 * tarball.BLOCK, checker.outside_map,
                   checker.left_out)  # fmt: skip


def write_trees(
    checked: Checked, spool: tarball.Spooled, kind: tarball.Compression, dest_fd: int,
    meter: tarball.Bytes,
) -> None:  # fmt: skip
    """The second reading: the same reader, each member judged again by the same checks,
    and written by lxcprov.system.unpack under dest_fd (the container's directory)."""
    manifest = checked.manifest
    checker = archive.Checker()
    with (
        tarball.decompressed(spool.fd, kind) as raw,
        unpack.Unpacker(dest_fd) as out,
    ):
        for snap in manifest.snapshots:
            out.make_dirs(str(Path(archive.snapshot_root(snap.name)).parent))
        for entry in tarball.entries(_Counted(raw, meter)):
            if checker.check(entry.member):
                out.write(entry)
            if entry.member.name == archive.MANIFEST:
                checker.manifest = manifest
        checker.finish()
        out.finish()
        tarball.drain(raw)


@contextlib.contextmanager
def pinned_trees(dest_fd: int, manifest: archive.Manifest) -> Iterator[dict[str, int]]:
    """A descriptor of each tree the import wrote (rootfs, snapshots/NAME/rootfs), opened
    with no symlink followed: what comes next works on these very directories."""
    fds: dict[str, int] = {}
    try:
        for tree in (archive.ROOTFS, *(archive.snapshot_root(s.name) for s in manifest.snapshots)):
            try:
                fds[tree] = unpack.open_dir(dest_fd, tree)
            except OSError as exc:
                raise ArchiveError(
                    f"{tree} as written is not a directory reached without a symlink: "
                    f"{exc.strerror}"
                ) from None
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


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
            progress.phase(f"{name} was {left.left_by()}: removing it")
            recovery.undo(target, left)
        refuse_existing(target)
        keep = not new_identity
        wish = network.from_archive(manifest.network, manifest.mac, keep=keep,
                                    managed=frozenset(hostnet.settings.load_config().bridges),
                                    default_bridge=hostnet.default_bridge())  # fmt: skip
        if wish.mac:
            identity.refuse_shared_mac(lxcpath, wish.mac, name)
        jr = journal.Journal.begin(lxcpath, name, "import", creating=True, phase="network")
        try:
            result = _build(target, checked, spool, kind, portable, keep, wish, jr, progress)
        except BaseException as exc:
            writing = jr.entry.phase != "network"  # the container's directory was made
            removed = False
            with contextlib.suppress(LxcprovError):
                recovery.undo(target, jr.entry)
                removed = True
            if writing and isinstance(exc, LxcprovError):
                exc.hint = _after_writing(exc.hint, removed, name)
            raise
        jr.end()
    return result


def _after_writing(hint: str, removed: bool, name: str) -> str:
    """A failure once the writing began: its hint says so, never "nothing was written"."""
    said = (
        "it stopped while writing and removed all it had written"
        if removed
        else f"it stopped while writing, and what it wrote is left: lxcprov destroy --force "
        f"{name} removes it"
    )
    rest = [part for part in hint.split("; ") if part and "nothing was written" not in part]
    return "; ".join([said, *rest])


def _build(
    target: lxc.Container,
    checked: Checked,
    spool: tarball.Spooled,
    kind: tarball.Compression,
    portable: archive.PortableConfig,
    keep: bool,
    wish: network.FromArchive,
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
    try:
        decision = identity.decide(target.name, target.lxcpath, wish.request, mac=wish.mac,
                                   progress=progress, on_claim=jr.claim)  # fmt: skip
    except AddressPoolError as exc:
        raise AddressPoolError(
            f"{target.name} cannot keep its address: {exc.message}",
            hint="import it with --new-identity (a new address on the same bridge)",
        ) from None
    jr.phase("extract")
    progress.phase(f"extracting into {directory}")
    directory.mkdir(mode=0o770)
    dest = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        meter = progress.meter(f"importing {target.name}", checked.tar_bytes)
        write_trees(checked, spool, kind, dest, meter)
        with pinned_trees(dest, manifest) as pinned:
            result = _settle(target, checked, portable, keep, jr, progress, recorded, own,
                             decision, pinned)  # fmt: skip
    finally:
        os.close(dest)
    result.network_lines = network.archive_lines(manifest.network, manifest.mac,
                                                 decision.intent, result.mac, wish)  # fmt: skip
    return result


def _settle(
    target: lxc.Container,
    checked: Checked,
    portable: archive.PortableConfig,
    keep: bool,
    jr: journal.Journal,
    progress: Progress,
    recorded: idmap.IdMap | None,
    own: idmap.IdMap | None,
    decision: Decision,
    pinned: dict[str, int],
) -> Imported:
    """Everything after the trees are written and pinned: snapshots, config, shift, identity."""
    manifest = checked.manifest
    directory = target.lxcpath / target.name
    snaps = _adopt_snapshots(directory, manifest)
    jr.phase("config")
    keys = {k: v for k, v in decision.keys.items() if v is not None}
    _write_config(target, manifest, portable, own, keys)
    netintent.save(directory, decision.intent)
    result = Imported(target.name, manifest.name, own.label() if own else "privileged",
                      network=decision.intent, mac=keys.get("lxc.net.0.hwaddr", ""),
                      snapshots=[s.name for s in snaps], dropped=portable.dropped,
                      left_out=checked.left_out,
                      not_applied=sorted(manifest.extra_state))  # fmt: skip
    given = [d.path for d in devices.parse(manifest.config)]
    if given:  # never from an archive: a device is given by name, on this host
        result.not_applied.append(f"host devices ({', '.join(given)}): give them with "
                                  f"lxcprov device add {target.name} DEVICE")  # fmt: skip
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
    owner = containerfs.map_root(target) or (0, 0)
    with Rootfs(Path(f"/proc/self/fd/{pinned[archive.ROOTFS]}"), owner=owner) as rootfs:
        rootfs.label = str(directory / archive.ROOTFS)  # the pinned one, for messages
        applied = identity.apply(target, renew=not keep, was=manifest.name, rootfs=rootfs)
    result.renewed = applied.renewed
    if manifest.disk:  # its limit, as recorded: a restriction, never a privilege
        jr.phase("disk")
        _into_image(target, manifest.disk, progress)
        result.disk = manifest.disk
    return result


def _into_image(target: lxc.Container, size: int, progress: Progress) -> None:
    """The imported files moved into a disk image of the recorded size; refused when they
    do not fit it (an archive anyone may have edited), or when it is bigger than the
    filesystem it would live on."""
    rootfs = containerfs.writable_dir(target)
    used = trees.disk_usage(rootfs)
    if why := disklimit.too_big(size, diskimage.room(target.lxcpath)):
        raise ArchiveError(
            f"the archive's disk limit ({format_size(size)}) is {why}",
            hint="nothing was kept; an export of this lxcprov never records that",
        )
    if used + disklimit.SHRINK_MARGIN > size:
        raise ArchiveError(
            f"the archive's files ({disklimit.human(used)}) do not fit its disk limit "
            f"({format_size(size)})",
            hint="nothing was kept; an export of this lxcprov never records that",
        )
    progress.phase(f"moving its files into a disk image of {format_size(size)}")
    disk.move_into_image(target, rootfs, size, own_journal=False)


def _own_ids(
    recorded: idmap.IdMap | None, isolated: bool, target: lxc.Container, progress: Progress
) -> idmap.IdMap | None:
    """The map the container gets here: privileged stays privileged; unprivileged gets
    this host's shared map, or a block of its own if it had one."""
    if recorded is None:
        return None
    registered = idmaps.choose_and_register(
        target.name, target.lxcpath, isolated=isolated, say=progress.phase
    )
    return registered.own


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
    # One comment line each: the name and time are checked words (archive.parse_manifest);
    # a newline in either would start a config line of the archive's choosing.
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
