"""What of an image's tar streams becomes a rootfs: decided here, pure.

An image (a rootfs tarball, or the layers of an OCI image in order) is hostile input, like
an archive given to `import` (lxcprov.engine.archive): anyone may have made it. Python's
tarfile is its one reader (lxcprov.system.tarball), `Judge` decides what each member it
read becomes, and lxcprov.system.unpack writes exactly that member, never through a
symlink. The rules are import's, for a tree whose owners are a container's own ids:

- a name is relative once a leading `./` is dropped: no absolute path, no `.` or `..`
  component; its directory is an earlier member (of this layer or one below) that is a
  directory, never a symlink, so nothing is written under a symlink, wherever it points;
- a hard link names an earlier member that is not a directory;
- owners are ids of the container (0..65535): they are shifted into its map afterwards
  (lxcprov.system.shift refuses any other), never taken as host ids;
- device nodes other than the few any container may hold are left out, as `import` leaves
  them out of an unprivileged container (engine.archive.NEEDED_DEVICES); a privileged
  container (asked for) keeps them, as `import --privileged` does;
- setuid and setgid bits and file capabilities are kept: the shift makes them the
  container's (a v3 capability of its root), never host root's;
- only xattrs whose meaning stays inside the container are kept (user.*, the file
  capability, POSIX ACLs, whose ids the shift moves): trusted.overlay.* in a base would
  steer the overlay of every clone, security.* labels mean nothing here.

Layers add OCI's whiteouts: `DIR/.wh.NAME` removes NAME from the layers below, and
`DIR/.wh..wh..opq` empties DIR of what the layers below put there. A whiteout is judged
as any member (its directory an earlier directory member, its NAME a plain name), and
only removes what the tree holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from lxcprov.engine import archive
from lxcprov.errors import ArchiveError
from lxcprov.system.tarball import Member

ROOTFS = "rootfs"
WHITEOUT, OPAQUE = ".wh.", ".wh..wh..opq"
IDS = 65536  # the ids a container's map holds, 0..65535 inside
MAX_MEMBERS = 2_000_000
BLOCK_SIZE = archive.BLOCK_SIZE
_KINDS = {"file", "hardlink", "symlink", "dir", "fifo", "chardev", "blockdev"}
_KEPT_XATTRS = ("user.", "security.capability", "system.posix_acl_")

Action = Literal["write", "update", "skip", "remove"]


@dataclass(frozen=True)
class Step:
    """What to do for one member: write it (replace: over what is there, removed first),
    update a directory's attributes, skip it, or remove paths (whiteouts)."""

    action: Action
    member: Member | None = None
    replace: bool = False
    paths: tuple[str, ...] = ()


def relative(name: str) -> str:
    """A member's path inside the rootfs ("" for the rootfs itself), or ArchiveError."""
    if name == "/":
        return ""  # umoci's layers name their top so
    if not name or name.startswith("/") or "\0" in name:
        raise ArchiveError(f"{name!r} is an absolute or empty path (an image's are relative)")
    while name.startswith("./"):
        name = name[2:]
    if name in ("", "."):
        return ""
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(f"{name!r} has an empty, `.` or `..` component")
    if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
        raise ArchiveError(f"{name!r} has a name longer than a filesystem takes (255 bytes)")
    return name


def _in_tree(rel: str) -> str:
    return f"{ROOTFS}/{rel}" if rel else ROOTFS


@dataclass
class Judge:
    """Judges the members of an image's streams in order (begin_layer between layers)."""

    privileged: bool = False
    layers: bool = False  # OCI layers: whiteouts apply (a plain tarball has none)
    room: int | None = None  # bytes on disk the tree may take (None: not counted)
    kinds: dict[str, str] = field(default_factory=lambda: {ROOTFS: "dir"})
    left_out: list[str] = field(default_factory=list)
    dropped_xattrs: int = 0
    count: int = 0
    need: int = 0
    _this_layer: set[str] = field(default_factory=set)

    def begin_layer(self) -> None:
        self._this_layer = set()

    def judge(self, m: Member) -> Step:
        self.count += 1
        if self.count > MAX_MEMBERS:
            raise ArchiveError(f"the image has more than {MAX_MEMBERS} members")
        rel = relative(m.name)
        parent, _, base = rel.rpartition("/")
        if self.layers and base.startswith(WHITEOUT):
            return self._whiteout(m, _in_tree(parent), base)
        if m.kind not in _KINDS:
            raise ArchiveError(f"{m.name!r}: refusing a member of this type ({m.kind})")
        if not rel:
            if m.kind != "dir":
                raise ArchiveError(f"{m.name!r} (the image's top) must be a directory")
            return Step("skip")  # the rootfs itself: lxcprov makes it, the container's root's
        path = _in_tree(rel)
        self._check_parent(m.name, _in_tree(parent))
        archive.check_member_shape(m)
        if not (0 <= m.uid < IDS and 0 <= m.gid < IDS):
            raise ArchiveError(
                f"{m.name!r} belongs to {m.uid}:{m.gid}, outside the ids a container maps "
                f"(0-{IDS - 1})"
            )
        self._count(m)
        kind: str = m.kind
        linkname = m.linkname
        if kind == "hardlink":
            linkname = _in_tree(relative(m.linkname))
            target = self.kinds.get(linkname)
            if target is None or target == "dir":
                raise ArchiveError(
                    f"{m.name!r} is a hard link to {m.linkname!r}, which is not an earlier "
                    "member that is a file"
                )
            kind = target
        old = self.kinds.get(path)
        written = replace(m, name=path, linkname=linkname, xattrs=self._xattrs(m))
        if kind == "left-out" or self._left_out_device(m):
            why = "a hard link to a member left out" if kind == "left-out" else (
                f"device {'c' if m.kind == 'chardev' else 'b'} {m.devmajor}:{m.devminor}: "
                "no unprivileged container needs it")  # fmt: skip
            self.left_out.append(f"{rel} ({why})")
            self._forget(path)
            self.kinds[path] = "left-out"
            return Step("remove", paths=(path,)) if old not in (None, "left-out") else Step("skip")
        self._this_layer.add(path)
        if old == "dir" and kind == "dir":
            return Step("update", written)
        if old is not None:
            self._forget(path)
        self.kinds[path] = kind
        return Step("write", written, replace=old not in (None, "left-out"))

    def _whiteout(self, m: Member, parent: str, base: str) -> Step:
        self._check_parent(m.name, parent, whiteout=True)
        if parent not in self.kinds:
            return Step("skip")  # nothing below to hide
        if base == OPAQUE:
            gone = tuple(
                p for p in self.kinds
                if p.rpartition("/")[0] == parent and p not in self._this_layer
            )  # fmt: skip
        else:
            target = base[len(WHITEOUT) :]
            if target in ("", ".", "..") or target.startswith(WHITEOUT):
                raise ArchiveError(f"{m.name!r} is a whiteout of no name a file can have")
            path = f"{parent}/{target}"
            gone = (path,) if path in self.kinds and path not in self._this_layer else ()
        for path in gone:
            self._forget(path)
        return Step("remove", paths=gone) if gone else Step("skip")

    def _forget(self, path: str) -> None:
        """path and everything under it are no longer in the tree (only a directory has
        anything under it: the walk over every path is for directories alone)."""
        if self.kinds.pop(path, None) != "dir":
            return
        below = path + "/"
        for p in [p for p in self.kinds if p.startswith(below)]:
            del self.kinds[p]
            self._this_layer.discard(p)

    def _check_parent(self, name: str, parent: str, *, whiteout: bool = False) -> None:
        kind = self.kinds.get(parent)
        if kind == "symlink":
            raise ArchiveError(f"{name!r} is under the symlink {parent.removeprefix(ROOTFS)!r}")
        if kind is None:
            if whiteout:
                return
            raise ArchiveError(
                f"{name!r}: its directory {parent.removeprefix(ROOTFS + '/')!r} is not in "
                "the image before it"
            )
        if kind != "dir":
            raise ArchiveError(f"{name!r} is under {parent!r}, which is not a directory")

    def _count(self, m: Member) -> None:
        if m.kind == "file":
            self.need += BLOCK_SIZE * (1 + m.stored // BLOCK_SIZE)
        elif m.kind == "dir":
            self.need += BLOCK_SIZE
        if self.room is not None and self.need > self.room:
            raise ArchiveError(
                f"the image's files take more than the {self.room >> 20} MiB its lxcpath "
                f"has to spare (at {m.name!r})",
                hint="free some space there (5% of the filesystem, at most 1 GiB, stays free)",
            )

    def _left_out_device(self, m: Member) -> bool:
        if self.privileged or m.kind not in ("chardev", "blockdev"):
            return False
        return m.kind != "chardev" or (m.devmajor, m.devminor) not in archive.NEEDED_DEVICES

    def _xattrs(self, m: Member) -> tuple[tuple[str, bytes], ...]:
        kept = tuple((k, v) for k, v in m.xattrs if k.startswith(_KEPT_XATTRS))
        self.dropped_xattrs += len(m.xattrs) - len(kept)
        return kept
