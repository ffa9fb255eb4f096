"""What an lxcprov export holds, and what an import accepts of it: decided here, pure.

An archive is a POSIX tar stream (lxcprov.system.tarball writes and reads it):

    lxcprov/manifest.json           first: format, version, the container (name, id map,
                                    its LXC config, network intent, MAC), its snapshots
    rootfs/...                      the container's files (a clone flattened: no base needed)
    snapshots/SNAP/rootfs/...       each snapshot's files, unless --no-snapshots
    lxcprov/checksums.json          last: the sha256 of every member before it

An archive is hostile input, like a container's files: an import checks every member
with `Checker` and every checksum before GNU tar writes anything, and takes from the
recorded LXC config only what cannot reach outside the container (`portable_config`).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass, field

from lxcprov.engine import idmap
from lxcprov.errors import ArchiveError, InvalidNameError, LxcprovError
from lxcprov.system import lxc, lxcconf, snapstore
from lxcprov.system.netintent import NetIntent
from lxcprov.system.tarball import Member

FORMAT, VERSION = "lxcprov-export", 1
CHECKSUMS_FORMAT = "lxcprov-export-checksums"
MANIFEST, CHECKSUMS = "lxcprov/manifest.json", "lxcprov/checksums.json"
MAX_MANIFEST = 1 << 20  # bytes: a manifest holds a config file and a few names
MAX_CHECKSUMS = 64 << 20  # about 600,000 members
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

    def to_json(self) -> bytes:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
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


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest, checked field by field (a newer format is refused by its version)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _refuse("is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchiveError("not an lxcprov export (its manifest says another format)")
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
        snaps.append(SnapshotEntry(str(item["name"]), str(item["created"]), str(item["ids"])))
    if len({s.name for s in snaps}) != len(snaps):
        raise _refuse("names a snapshot twice")
    extra = _get(data, "extra_state", dict, {})
    assert isinstance(extra, dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise _refuse("has extra state of the wrong shape")
    return Manifest(
        name=name,
        created=str(_get(data, "created", str)),
        ids=ids,
        config=str(_get(data, "config", str)),
        network=network,
        mac=mac,
        isolated=bool(_get(data, "isolated", bool, False)),
        flattened_from=str(_get(data, "flattened_from", str, "")),
        snapshots=tuple(snaps),
        extra_state=dict(extra),
    )


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


@dataclass
class Checker:
    """Judges members in archive order; raises ArchiveError naming the member and why.

    A member must land inside one of the container's trees (rootfs/, snapshots/NAME/rootfs/
    for a snapshot the manifest lists): a relative path without `.` or `..` components,
    whose parent directory is an earlier member of the same tree (so nothing is written
    under a symlink, which GNU tar would follow); a hard link names an earlier member of
    its tree that is not a directory; device nodes exist only inside trees; owners fall in
    the tree's recorded id map. Nothing may follow the checksums.
    """

    manifest: Manifest | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # name -> kind, of members seen
    count: int = 0
    finished: bool = False
    outside_map: list[str] = field(default_factory=list)  # plain files of unmapped owners

    def keep(self, m: Member) -> int:
        """How much of a member's content the caller keeps for us (the metadata files)."""
        return {MANIFEST: MAX_MANIFEST, CHECKSUMS: MAX_CHECKSUMS}.get(m.name, 0)

    def check(self, m: Member) -> None:
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
        if m.name in self.kinds:
            raise ArchiveError(f"{where} is in the archive twice")
        if m.name in (MANIFEST, CHECKSUMS):
            if m.kind != "file" or m.size > self.keep(m):
                raise ArchiveError(f"{where} is not a regular file of the expected size")
            if m.name == MANIFEST and self.count != 1:
                raise ArchiveError(f"{where} must be the first member")
            self.finished = m.name == CHECKSUMS
            self.kinds[m.name] = m.kind
            return
        root = self._tree_of(m.name)
        if m.kind not in _TREE_KINDS:
            raise ArchiveError(f"{where}: refusing a member of this type ({m.kind})")
        if m.name == root:
            if m.kind != "dir":
                raise ArchiveError(f"{where} must be a directory")
        else:
            self._check_parent(m.name, root)
        self._check_owner(m, root)
        # A hard link is what it links to: a link to a symlink is a symlink, and nothing
        # may be extracted under it either.
        self.kinds[m.name] = self._check_link(m, root) if m.kind == "hardlink" else m.kind

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

    def _check_owner(self, m: Member, root: str) -> None:
        """What an unprivileged container's files may be: nothing in them may be a way to
        host root for whoever reaches them on the host (the container's root is a host uid
        that can). A privileged container's root is host root already: anything goes."""
        assert self.manifest is not None
        label = self.manifest.ids
        if root != ROOTFS:
            snap = self.manifest.snapshot(root.split("/")[1])
            assert snap is not None
            label = snap.ids
        ids = idmap.parse_label(label)
        if ids is None:
            return
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
        if m.kind == "blockdev" or (m.kind == "chardev" and not _harmless(m)):
            raise ArchiveError(
                f"{where}: the device {m.devmajor}:{m.devminor}, which no unprivileged "
                "container can make"
            )

    def finish(self) -> None:
        if not self.finished:
            raise ArchiveError(f"the archive has no {CHECKSUMS} at its end (truncated?)")


# The devices a template makes in a rootfs (null, zero, full, random, urandom, tty,
# console, ptmx, virtual consoles, pseudo-terminals) and overlayfs' whiteout (0:0).
_HARMLESS = {(0, 0), (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)}


def _harmless(m: Member) -> bool:
    major, minor = m.devmajor, m.devminor
    return (major, minor) in _HARMLESS or (major == 4 and minor < 64) or major == 136


def _cap_of_root(raw: bytes, rootid: int) -> bool:
    """A v3 file capability whose root is rootid: it works only inside that container."""
    if len(raw) < 24:
        return False
    magic, found = struct.unpack_from("<I", raw)[0], struct.unpack_from("<I", raw, 20)[0]
    return bool(magic >> 24 == 3 and found == rootid)


def _check_name(name: str) -> None:
    if not name or name.startswith("/") or "\0" in name:
        raise ArchiveError(f"{name!r} is an absolute or empty path")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(f"{name!r} has an empty, `.` or `..` component")


# -- the LXC config an import writes ---------------------------------------------------

# Keys that only shape the container itself. Everything else in an archive's config is
# dropped: hooks run programs on the host, mount entries and includes of other files
# reach host paths, lxc.apparmor/seccomp/cap.keep/namespace keys loosen confinement,
# console and log files are written on the host. lxcprov writes the rootfs, network,
# hostname and id map keys itself.
_PLAIN = {"lxc.arch", "lxc.tty.max", "lxc.tty.dir", "lxc.pty.max", "lxc.autodev",
          "lxc.signal.halt", "lxc.signal.reboot", "lxc.signal.stop", "lxc.start.auto",
          "lxc.start.delay", "lxc.start.order", "lxc.cap.drop",
          "lxc.cgroup.memory.limit_in_bytes", "lxc.cgroup.memory.memsw.limit_in_bytes",
          "lxc.cgroup.cpu.cfs_quota_us", "lxc.cgroup.cpu.cfs_period_us", "lxc.cgroup.cpu.shares",
          "lxc.cgroup.cpuset.cpus", "lxc.cgroup2.memory.max", "lxc.cgroup2.memory.swap.max",
          "lxc.cgroup2.cpu.max", "lxc.cgroup2.cpu.weight", "lxc.cgroup2.cpuset.cpus"}  # fmt: skip
_OURS = ("lxc.rootfs.", "lxc.net.", "lxc.uts.name", "lxc.idmap")
_VALUE = re.compile(r"[A-Za-z0-9 ,._:/=-]*")
# LXC's own per-distro settings (debian.common.conf, common.conf...): not nesting.conf or
# userns.conf, which loosen confinement.
INCLUDE = re.compile(r"/usr/share/lxc/config/(?:[a-z0-9]+\.)?common\.conf")
_MOUNT_AUTO = {"proc", "proc:mixed", "sys", "sys:ro", "sys:mixed", "cgroup", "cgroup:mixed",
               "cgroup:ro", "cgroup-full:mixed", "cgroup-full:ro"}  # fmt: skip
_MOUNT_FS = {"tmpfs", "mqueue", "devpts", "proc", "sysfs"}


def _portable(key: str, value: str) -> bool:
    if not _VALUE.fullmatch(value):
        return False
    if key in _PLAIN:
        return True
    if key == "lxc.include":
        return bool(INCLUDE.fullmatch(value))
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
    lines: list[str]  # `key = value` lines to write
    dropped: list[str]  # `key = value` lines not taken, in file order

    @property
    def includes(self) -> list[str]:
        return [ln.split("=", 1)[1].strip() for ln in self.lines if ln.startswith("lxc.include ")]


def portable_config(text: str) -> PortableConfig:
    """What of an archive's LXC config an import keeps (see _PLAIN and _portable)."""
    kept: list[str] = []
    dropped: list[str] = []
    for line in lxcconf.parse(text):
        if not line.key or line.key.startswith(_OURS):
            continue
        entry = f"{line.key} = {line.value}"
        if _portable(line.key, line.value):
            kept.append(entry)
        elif entry not in dropped:
            dropped.append(entry)
    return PortableConfig(kept, dropped)
