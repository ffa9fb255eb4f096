"""What an lxcprov export holds, and what an import accepts of it: decided here, pure.

An archive is a POSIX tar stream (lxcprov.system.tarball writes and reads it):

    lxcprov/manifest.json           first: format, version, the container (name, id map,
                                    its LXC config, network intent, MAC), its snapshots
    rootfs/...                      the container's files (a clone flattened: no base needed)
    snapshots/SNAP/rootfs/...       each snapshot's files, unless --no-snapshots
    lxcprov/checksums.json          last: the sha256 of every member before it

An archive is hostile input, like a container's files: an import checks every member
with `Checker`, its limits and every checksum before anything is written, then writes
each member as the same reader reads it again, judged again by the same `Checker`
(lxcprov.system.unpack); it takes from the recorded LXC config only what cannot reach
outside the container (`portable_config`), and a privileged container only when asked
(`require_privilege`). `export` judges what it writes with the same `Checker`, so it
refuses, with the same words, whatever the import of its archive would refuse.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass, field

from lxcprov.engine import disklimit, facts, idmap
from lxcprov.errors import ArchiveError, InvalidNameError, LxcprovError
from lxcprov.system import lxc, lxcconf, lxcfs, snapstore
from lxcprov.system.netintent import NetIntent
from lxcprov.system.tarball import Member

# Version 2: a sparse file's checksum covers its data runs, not its holes (version 1 read
# them as zeros); everything else reads the same.
FORMAT, VERSION = "lxcprov-export", 2
CHECKSUMS_FORMAT = "lxcprov-export-checksums"
MANIFEST, CHECKSUMS = "lxcprov/manifest.json", "lxcprov/checksums.json"
MAX_MANIFEST = 1 << 20  # bytes: a manifest holds a config file and a few names
MAX_CHECKSUMS = 192 << 20  # a million members with names of about 120 bytes
ROOTFS = "rootfs"


def snapshot_root(snap: str) -> str:
    return f"snapshots/{snap}/{ROOTFS}"


@dataclass(frozen=True)
class SnapshotEntry:
    name: str
    created: str
    ids: str  # the id map its owners belong to ("privileged" or an idmap label)


@dataclass(frozen=True)
class Manifest:
    name: str
    created: str
    ids: str  # "privileged" or the label of the map the rootfs's owners belong to
    config: str  # the container's LXC config, as it was
    network: NetIntent = field(default_factory=NetIntent)
    mac: str = ""
    isolated: bool = False  # its map was a block of its own, not the shared one
    flattened_from: str = ""  # the base a clone was flattened from (for people)
    snapshots: tuple[SnapshotEntry, ...] = ()
    # Other lxcprov files of the container (mounts, port forwards...): carried, not applied.
    extra_state: dict[str, str] = field(default_factory=dict)
    version: int = VERSION  # of the archive's format
    disk: int = 0  # its disk limit in bytes (0: none); import makes an image of that size

    def to_json(self) -> bytes:
        data = {"format": FORMAT, **asdict(self)}
        data["network"] = {k: v for k, v in asdict(self.network).items() if k != "owner"}
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    def snapshot(self, name: str) -> SnapshotEntry | None:
        return next((s for s in self.snapshots if s.name == name), None)


def _refuse(what: str) -> ArchiveError:
    return ArchiveError(f"the manifest {what}")


def _get(data: dict[str, object], key: str, kind: type[object], default: object = None) -> object:
    if key not in data:
        if default is not None:
            return default
        raise _refuse(f"has no `{key}`")
    value = data[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _refuse(f"has a `{key}` of the wrong type")
    return value


def _unicode(value: object) -> bool:
    """Every string in value (keys too) encodes as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_unicode(k) and _unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_unicode(v) for v in value)
    return True


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest, checked field by field (a newer format is refused by its version)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _refuse("is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchiveError("not an lxcprov export (its manifest says another format)")
    if not _unicode(data):
        # JSON's \ud800 escapes decode to halves of a character that no UTF-8 file (and
        # no TOML string) can hold: lxcprov could write them and never read them back.
        raise _refuse("holds text that is not Unicode (a lone surrogate)")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _refuse("has no format version")
    if version > VERSION:
        raise ArchiveError(
            f"the archive is format version {version}; this lxcprov reads version {VERSION}",
            hint="import it with a newer lxcprov",
        )
    name = str(_get(data, "name", str))
    ids = str(_get(data, "ids", str))
    try:
        lxc.check_name(name)
        idmap.parse_label(ids)
    except (LxcprovError, ValueError):
        raise _refuse(f"has an invalid name or id map ({name!r}, {ids!r})") from None
    net = _get(data, "network", dict, {})
    assert isinstance(net, dict)
    fields = set(NetIntent.__dataclass_fields__) - {"owner"}
    if set(net) - fields or not all(isinstance(v, str) for v in net.values()):
        raise _refuse("has a network of the wrong shape")
    network = NetIntent(**net)
    if network.mode not in ("none", "dhcp", "static"):
        raise _refuse(f"has an unknown network mode {network.mode!r}")
    mac = str(_get(data, "mac", str, ""))
    if mac and not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac):
        raise _refuse(f"has an invalid MAC {mac!r}")
    snaps = []
    for item in _get(data, "snapshots", list, []):  # type: ignore[attr-defined]
        if not isinstance(item, dict) or set(item) != {"name", "created", "ids"}:
            raise _refuse("has a snapshot entry of the wrong shape")
        try:
            snapstore.check_name(str(item["name"]))
            idmap.parse_label(str(item["ids"]))
        except (InvalidNameError, ValueError):
            raise _refuse(f"has an invalid snapshot {item.get('name')!r}") from None
        if not isinstance(item["created"], str) or not snapstore.is_time(item["created"]):
            raise _refuse(f"has a snapshot {item['name']!r} with no time it was made")
        snaps.append(SnapshotEntry(str(item["name"]), item["created"], str(item["ids"])))
    if len({s.name for s in snaps}) != len(snaps):
        raise _refuse("names a snapshot twice")
    created = str(_get(data, "created", str))
    if not snapstore.is_time(created):
        raise _refuse("has no time it was made (`created`)")
    extra = _get(data, "extra_state", dict, {})
    assert isinstance(extra, dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise _refuse("has extra state of the wrong shape")
    return Manifest(
        name=name,
        created=created,
        ids=ids,
        config=str(_get(data, "config", str)),
        network=network,
        mac=mac,
        isolated=bool(_get(data, "isolated", bool, False)),
        flattened_from=str(_get(data, "flattened_from", str, "")),
        snapshots=tuple(snaps),
        extra_state=dict(extra),
        version=version,
        disk=_disk_of(data),
    )


def _disk_of(data: dict[str, object]) -> int:
    """The recorded disk limit in bytes (0: none): whole MiB, at least the minimum of disk=."""
    disk = _get(data, "disk", int, 0)
    assert isinstance(disk, int)
    if disk and (disk < disklimit.MIN_DISK or disk % disklimit.MiB):
        raise _refuse(f"has an invalid disk limit ({disk} bytes)")
    return disk


def render_checksums(digests: dict[str, str]) -> bytes:
    data = {"format": CHECKSUMS_FORMAT, "version": VERSION, "sha256": digests}
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def parse_checksums(raw: bytes) -> dict[str, str]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ArchiveError("the checksums member is not JSON") from None
    sums = data.get("sha256") if isinstance(data, dict) else None
    if data.get("format") != CHECKSUMS_FORMAT or not isinstance(sums, dict):
        raise ArchiveError("the checksums member has the wrong shape")
    if not all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in sums.values()):
        raise ArchiveError("the checksums member holds something that is not a sha256")
    return {str(k): str(v) for k, v in sums.items()}


def compare(expected: dict[str, str], actual: dict[str, str]) -> None:
    """Every member's checksum as recorded, no member missing, none added."""
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            raise ArchiveError(f"{name!r} is in the checksums but not in the archive")
        if name not in expected:
            raise ArchiveError(f"{name!r} is in the archive but not in its checksums")
        if expected[name] != actual[name]:
            raise ArchiveError(f"{name!r}: wrong checksum (the archive is damaged or altered)")


# -- members ---------------------------------------------------------------------------

_TREE_KINDS = {"file", "hardlink", "symlink", "dir", "fifo", "chardev", "blockdev"}
_MAX_ID = (1 << 32) - 2  # (uid_t)-1 means "leave the owner as it is" to chown
_DEVICE = ((1 << 12) - 1, (1 << 20) - 1)  # the largest major and minor Linux has
BLOCK_SIZE = 4096  # what a file of any size takes on disk at least once rounded up
MAX_V1_HOLES = 1 << 30


@dataclass(frozen=True)
class Limits:
    """What an import takes at most (counted from the headers, before anything is written:
    a member that goes past a limit stops the reading there)."""

    members: int = 1_000_000
    size: int | None = None  # bytes on disk for the trees (None: the free space decides)


@dataclass
class Checker:
    """Judges members in archive order: check() says whether a member is written (False:
    left out, see left_out) or raises ArchiveError naming the member and why.

    A member must land inside one of the container's trees (rootfs/, snapshots/NAME/rootfs/
    for a snapshot the manifest lists): a relative path without `.` or `..` components,
    whose parent directory is an earlier member of the same tree (so nothing is ever
    written under a symlink); a hard link names an earlier member of its tree that is not
    a directory; device nodes exist only inside trees; owners are ids a file can have, and
    in an unprivileged tree nothing is a way to host root (_check_owner); no path twice.
    Nothing may follow the checksums. The same rules judge what `export` writes, so an
    export never makes an archive its import refuses.
    """

    manifest: Manifest | None = None
    limits: Limits | None = None  # None: not counted (an export; the second reading)
    kinds: dict[str, str] = field(default_factory=dict)  # name -> kind, of members seen
    count: int = 0
    need: int = 0  # bytes on disk the members seen so far take (BLOCK_SIZE rounding)
    v1_holes: int = 0  # bytes of holes in the sparse files of a format-1 archive
    finished: bool = False
    outside_map: list[str] = field(default_factory=list)  # plain files of unmapped owners
    left_out: list[str] = field(default_factory=list)  # "name (why)", not written

    def keep(self, m: Member) -> int:
        """How much of a member's content the caller keeps for us (the metadata files)."""
        return {MANIFEST: MAX_MANIFEST, CHECKSUMS: MAX_CHECKSUMS}.get(m.name, 0)

    def check(self, m: Member) -> bool:
        where = repr(m.name)
        if self.finished:
            raise ArchiveError(f"{where} follows the checksums (an archive ends with them)")
        _check_name(m.name)
        if self.count == 0 and m.name != MANIFEST:
            raise ArchiveError(
                f"not an lxcprov export: it starts with {where}, not {MANIFEST}",
                hint="import takes archives made by `lxcprov export`; nothing was written",
            )
        self.count += 1
        self._count(m)
        if m.name in self.kinds:
            raise ArchiveError(f"{where} is in the archive twice")
        if m.name in (MANIFEST, CHECKSUMS):
            if m.kind != "file" or m.size > self.keep(m) or m.sparse is not None:
                raise ArchiveError(f"{where} is not a regular file of the expected size")
            if m.name == MANIFEST and self.count != 1:
                raise ArchiveError(f"{where} must be the first member")
            self.finished = m.name == CHECKSUMS
            self.kinds[m.name] = m.kind
            return False  # read, never written
        root = self._tree_of(m.name)
        if m.kind not in _TREE_KINDS:
            raise ArchiveError(f"{where}: refusing a member of this type ({m.kind})")
        if m.name == root:
            if m.kind != "dir":
                raise ArchiveError(f"{where} must be a directory")
        else:
            self._check_parent(m.name, root)
        _check_link_and_xattrs(m)
        if not (0 <= m.uid <= _MAX_ID and 0 <= m.gid <= _MAX_ID):
            raise ArchiveError(f"{where} has an owner no file can have ({m.uid}:{m.gid})")
        if m.kind in ("chardev", "blockdev") and not (
            0 <= m.devmajor <= _DEVICE[0] and 0 <= m.devminor <= _DEVICE[1]
        ):
            raise ArchiveError(f"{where}: no such device ({m.devmajor}:{m.devminor})")
        if m.sparse is not None and self.manifest is not None and self.manifest.version < 2:
            # Format 1 checksummed a sparse file's holes as zeros: they are hashed too, up
            # to MAX_V1_HOLES (a hole costs nothing in the archive, hashing it does).
            self.v1_holes += m.size - m.stored
            if self.v1_holes > MAX_V1_HOLES:
                raise ArchiveError(
                    f"{where}: the sparse files of this format-1 archive hold more than "
                    f"{MAX_V1_HOLES >> 30} GiB of holes, which its checksums cover",
                    hint="export the container again with this lxcprov; nothing was written",
                )
        # A hard link is what it links to: a link to a symlink is a symlink, and nothing
        # may be made under it either; a link to a member left out is left out.
        kind = self._check_link(m, root) if m.kind == "hardlink" else m.kind
        why = "" if kind == "left-out" else self._check_owner(m, root)
        if kind == "left-out" or why:
            self.kinds[m.name] = "left-out"
            self.left_out.append(f"{m.name} ({why or 'a hard link to a member left out'})")
            return False
        self.kinds[m.name] = kind
        return True

    def _count(self, m: Member) -> None:
        if self.limits is None:
            return
        if self.count > self.limits.members:
            raise ArchiveError(
                f"the archive has more than {self.limits.members} members",
                hint="if it is really yours, raise the limit: --max-members N; nothing was written",
            )
        if m.name in (MANIFEST, CHECKSUMS):
            return  # read, never written
        if m.kind == "file":
            runs = m.sparse if m.sparse is not None else ((0, m.size),)
            self.need += BLOCK_SIZE * sum(
                (o + n - 1) // BLOCK_SIZE - o // BLOCK_SIZE + 1 for o, n in runs if n > 0
            )
        elif m.kind == "dir" or (m.kind == "symlink" and len(m.linkname) > 59):
            self.need += BLOCK_SIZE  # a directory's block; a long symlink's target
        if self.limits.size is not None and self.need > self.limits.size:
            raise ArchiveError(
                f"the archive's files take more than {self.limits.size} bytes on disk (at "
                f"{m.name!r})",
                hint="if it is really yours, raise the limit: --max-size SIZE; nothing was written",
            )

    def _tree_of(self, name: str) -> str:
        assert self.manifest is not None, "the manifest is read first"
        for root in (ROOTFS, *(snapshot_root(s.name) for s in self.manifest.snapshots)):
            if name == root or name.startswith(root + "/"):
                return root
        raise ArchiveError(
            f"{name!r} would land outside the container's files "
            "(only rootfs/ and snapshots/NAME/rootfs/ of a listed snapshot)"
        )

    def _check_parent(self, name: str, root: str) -> None:
        parent = name.rpartition("/")[0]
        kind = self.kinds.get(parent)
        if kind == "symlink":
            raise ArchiveError(f"{name!r} is under the symlink {parent!r}")
        if kind is None:
            if root not in self.kinds:
                raise ArchiveError(f"{name!r} comes before its tree {root!r}")
            raise ArchiveError(
                f"{name!r}: its directory {parent!r} is not in the archive before it"
            )
        if kind != "dir":
            raise ArchiveError(f"{name!r} is under {parent!r}, which is not a directory")

    def _check_link(self, m: Member, root: str) -> str:
        """The kind of what the hard link m names (refused unless an earlier member of its
        tree that is not a directory)."""
        target = m.linkname
        if not (target == root or target.startswith(root + "/")) or target not in self.kinds:
            raise ArchiveError(
                f"{m.name!r} is a hard link to {target!r}, which is not an earlier member of "
                "its tree"
            )
        if self.kinds[target] == "dir":
            raise ArchiveError(f"{m.name!r} is a hard link to the directory {target!r}")
        return self.kinds[target]

    def _check_owner(self, m: Member, root: str) -> str:
        """What an unprivileged container's files may be: nothing in them may be a way to
        host root for whoever reaches them on the host (the container's root is a host uid
        that can): refused. Device nodes other than the few any container may hold are
        left out (the reason returned): LXC's autodev makes a container's /dev at start,
        and a node of the host's consoles or disks in its files is a way out. A privileged
        container (imported only with --privileged) is root on the host already."""
        assert self.manifest is not None
        label = self.manifest.ids
        if root != ROOTFS:
            snap = self.manifest.snapshot(root.split("/")[1])
            assert snap is not None
            label = snap.ids
        ids = idmap.parse_label(label)
        if ids is None:
            return ""
        where = f"{m.name!r} (an unprivileged container's file, map {label})"
        cap = dict(m.xattrs).get("security.capability")
        inside = (ids.host_uid <= m.uid < ids.host_uid + ids.count
                  and ids.host_gid <= m.gid < ids.host_gid + ids.count)  # fmt: skip
        if not inside:
            if m.mode & 0o6000 or cap is not None:
                raise ArchiveError(
                    f"{where}: setuid, setgid or a file capability for {m.uid}:{m.gid}, "
                    "outside its id map: a way to root on the host"
                )
            # Host root's files in a rootfs (written from the host) are nobody's inside;
            # they stay so, but cannot be shifted into another map (see outside_map).
            self.outside_map.append(m.name)
        if cap is not None and not _cap_of_root(cap, ids.host_uid):
            raise ArchiveError(f"{where}: a file capability that is not its container root's")
        if m.kind in ("chardev", "blockdev") and not _needed(m):
            kind = "c" if m.kind == "chardev" else "b"
            return f"device {kind} {m.devmajor}:{m.devminor}: no unprivileged container needs it"
        return ""

    def finish(self) -> None:
        if not self.finished:
            raise ArchiveError(f"the archive has no {CHECKSUMS} at its end (truncated?)")


# The device nodes an unprivileged container's files may hold: null, zero, full, random,
# urandom, tty (the opener's own terminal), ptmx (the devpts beside it), and overlayfs'
# whiteout (0:0). Not the host's virtual consoles (4:N), /dev/console (5:1), ttyS, pts
# nodes, disks or anything else: left out.
NEEDED_DEVICES = frozenset({(0, 0), (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)})


def _needed(m: Member) -> bool:
    return m.kind == "chardev" and (m.devmajor, m.devminor) in NEEDED_DEVICES


def _cap_of_root(raw: bytes, rootid: int) -> bool:
    """A v3 file capability whose root is rootid: it works only inside that container."""
    if len(raw) < 24:
        return False
    magic, found = struct.unpack_from("<I", raw)[0], struct.unpack_from("<I", raw, 20)[0]
    return bool(magic >> 24 == 3 and found == rootid)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _check_name(name: str) -> None:
    if not name or name.startswith("/") or "\0" in name:
        raise ArchiveError(f"{name!r} is an absolute or empty path")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(f"{name!r} has an empty, `.` or `..` component")
    if any(_bytes(p) > 255 for p in parts):
        raise ArchiveError(f"{name!r} has a name longer than a filesystem takes (255 bytes)")


def _check_link_and_xattrs(m: Member) -> None:
    """What no filesystem call could write as the header says (checked before writing)."""
    if (m.kind == "symlink" and not 0 < _bytes(m.linkname) < 4096) or "\0" in m.linkname:
        raise ArchiveError(f"{m.name!r} links to a target no link can have")
    for key, value in m.xattrs:
        if not 0 < _bytes(key) <= 255 or "\0" in key or "." not in key or len(value) > 65536:
            raise ArchiveError(f"{m.name!r} has an xattr no file can have ({key[:64]!r})")
        # The kernel takes user.* xattrs on files and directories only.
        if key.startswith("user.") and m.kind not in ("file", "dir", "hardlink"):
            raise ArchiveError(f"{m.name!r} has an xattr no {m.kind} can have ({key[:64]!r})")


# What no filesystem call could write as the header says: the image unpacker's check too
# (lxcprov.engine.imagetar).
check_member_shape = _check_link_and_xattrs


def require_privilege(manifest: Manifest, allowed: bool, command: str) -> None:
    """A privileged container (or snapshot) is imported only when asked for: its root is
    host root, and everything in its files (setuid root, devices) stays what it is."""
    privileged = [s.name for s in manifest.snapshots if s.ids == "privileged"]
    if manifest.ids != "privileged" and not privileged:
        return
    if allowed:
        return
    what = "a privileged container" if manifest.ids == "privileged" else (
        f"a privileged snapshot ({privileged[0]})")  # fmt: skip
    raise ArchiveError(
        f"the archive holds {what}: root inside it would be root on this host",
        hint=f"if you trust whoever made it: {command} --privileged; nothing was written",
    )


# -- the LXC config an import writes ---------------------------------------------------

# Keys that only shape the container itself, each with the values it may have. Everything
# else in an archive's config is dropped: hooks run programs on the host, mount entries and
# includes of other files reach host paths, lxc.apparmor/seccomp/cap.keep/namespace keys
# loosen confinement, console and log files are written on the host, lxc.autodev = 0 would
# show the container device nodes of its files, lxc.start.* would have this host boot it.
# An empty value is never taken: it clears a list (lxc.cap.drop = clears LXC's drops).
# lxcprov writes the rootfs, network, hostname and id map keys itself.
_NUMBER = r"[0-9]{1,12}"
_PLAIN = {
    "lxc.arch": r"[a-z0-9_]{1,16}",
    "lxc.tty.max": _NUMBER, "lxc.pty.max": _NUMBER, "lxc.tty.dir": r"[a-z0-9]{1,16}",
    "lxc.signal.halt": r"SIG[A-Z0-9+]{1,12}|[0-9]{1,2}",
    "lxc.signal.reboot": r"SIG[A-Z0-9+]{1,12}|[0-9]{1,2}",
    "lxc.signal.stop": r"SIG[A-Z0-9+]{1,12}|[0-9]{1,2}",
    "lxc.cap.drop": r"[a-z_]{1,32}( [a-z_]{1,32})*",
    "lxc.cgroup.memory.limit_in_bytes": _NUMBER + "[KMG]?|-1",
    "lxc.cgroup.memory.memsw.limit_in_bytes": _NUMBER + "[KMG]?|-1",
    "lxc.cgroup.cpu.cfs_quota_us": _NUMBER + "|-1", "lxc.cgroup.cpu.cfs_period_us": _NUMBER,
    "lxc.cgroup.cpu.shares": _NUMBER, "lxc.cgroup.cpuset.cpus": r"[0-9,-]{1,64}",
    "lxc.cgroup2.memory.max": _NUMBER + "[KMG]?|max",
    "lxc.cgroup2.memory.swap.max": _NUMBER + "[KMG]?|max",
    "lxc.cgroup2.cpu.max": r"(max|[0-9]{1,12})( [0-9]{1,12})?",
    "lxc.cgroup2.cpu.weight": _NUMBER, "lxc.cgroup2.cpuset.cpus": r"[0-9,-]{1,64}",
}  # fmt: skip
# Numbers something is made for, one each (LXC allocates a pty pair per tty at start,
# doctor and the recipes go through each): at most what lxcprov itself sets.
_MOST = {"lxc.tty.max": facts.MAX_TTYS}
_OURS = ("lxc.rootfs.", "lxc.net.", "lxc.uts.name", "lxc.idmap")
_VALUE = re.compile(r"[A-Za-z0-9 ,._:/=+-]+")
CONFIG_DIR = "/usr/share/lxc/config"
# LXC's generic settings for every container: the device cgroup's deny list, the dropped
# capabilities, the seccomp profile, proc/sys/cgroup mounts. Every imported config includes
# it, directly or through a distro's file of LXC's that includes it in turn.
COMMON = f"{CONFIG_DIR}/common.conf"
# What common.conf includes last (its common.conf.d/ directory): lxcfs's hooks, which `new`
# adds to a busybox config (busybox's template includes no common.conf). An archive's
# include of it is taken as included already, like common.conf's own.
INCLUDED_BY_COMMON = frozenset({lxcfs.INCLUDE})
# LXC's distro files that include common.conf and add nothing that reaches the host (not
# ubuntu: binds of the host's debugfs and securityfs; not ubuntu-cloud: a hook; not oci or
# openwrt or sabayon: no common.conf). Never nesting.conf
# or userns.conf: userns.conf empties the device cgroup lists and the dropped capabilities
# (it is meant for containers an unprivileged user starts, where LXC cannot set them);
# lxcprov starts unprivileged containers as root, with common.conf's lists in force.
DISTRO_COMMON = frozenset({
    "alpine", "archlinux", "centos", "debian", "devuan", "fedora", "gentoo", "kali",
    "opensuse", "oracle", "plamo", "slackware", "sparclinux", "voidlinux",
})  # fmt: skip
_DISTRO_INCLUDE = re.compile(re.escape(CONFIG_DIR) + r"/([a-z]+)\.common\.conf")
_MOUNT_AUTO = {"proc", "proc:mixed", "sys", "sys:ro", "sys:mixed", "cgroup", "cgroup:mixed",
               "cgroup:ro", "cgroup-full:mixed", "cgroup-full:ro"}  # fmt: skip
_MOUNT_FS = {"tmpfs", "mqueue", "devpts", "proc", "sysfs"}


def _portable(key: str, value: str) -> bool:
    if not _VALUE.fullmatch(value):
        return False
    if key in _PLAIN:
        if re.fullmatch(_PLAIN[key], value) is None:
            return False
        return key not in _MOST or int(value) <= _MOST[key]
    if key == "lxc.mount.auto":
        return all(word in _MOUNT_AUTO for word in value.split())
    if key == "lxc.mount.entry":
        # A kernel filesystem made for the container (shm, mqueue), never a host path.
        words = value.split()
        if len(words) < 4 or words[0].startswith("/") or words[2] not in _MOUNT_FS:
            return False
        options = words[3].split(",")
        return not {"bind", "rbind"} & set(options) and ".." not in words[1].split("/")
    return False


@dataclass(frozen=True)
class PortableConfig:
    lines: list[str]  # `key = value` lines to write, the common include first
    dropped: list[str]  # `key = value` lines not taken, in file order

    @property
    def includes(self) -> list[str]:
        return [ln.split("=", 1)[1].strip() for ln in self.lines if ln.startswith("lxc.include ")]


def portable_config(text: str) -> PortableConfig:
    """What of an archive's LXC config an import keeps (see _PLAIN and _portable), below the
    one include every imported container gets: the distro file of LXC's the archive names
    (one of DISTRO_COMMON), else common.conf itself."""
    kept: list[str] = []
    dropped: list[str] = []
    include = COMMON
    for line in lxcconf.parse(text):
        if not line.key or line.key.startswith(_OURS):
            continue
        entry = f"{line.key} = {line.value}"
        if line.key == "lxc.include":
            found = _DISTRO_INCLUDE.fullmatch(line.value)
            if line.value in (COMMON, include) or line.value in INCLUDED_BY_COMMON:
                continue  # included anyway
            if found and found.group(1) in DISTRO_COMMON and include == COMMON:
                include = line.value
                continue
        elif _portable(line.key, line.value):
            kept.append(entry)
            continue
        if entry not in dropped:
            dropped.append(entry)
    return PortableConfig([f"lxc.include = {include}", *kept], dropped)
