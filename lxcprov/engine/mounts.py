"""Host directories inside a container, as lxcprov keeps them: parsed, checked, and turned
into the `lxc.mount.entry` lines of lxcprov's section of the config (the config is the
only record; a template's own mount entries, outside that section, are not ours).

An unprivileged container's mounts are idmapped through a user namespace (`idmap=PATH`,
see lxcprov.system.livemount) that passes through exactly the ids that own the shared
directory when it is shared (`passed_ids`: its owner and its group, each only if it is a
host *user* id, 1000-59999, USER_IDS), recorded in that path's name (`userns_name`): a
file of that owner is the same uid inside, and what that uid makes inside is the host
user's. Every other id of the container is stored as the container's own host id (as
without an idmap), and the container's root and every other host id have no mapping
(`share_map`): a host file of another host user, or of a system id, shows as nobody
inside, and nothing the container makes is ever stored as one. So a container's root,
which can become any of its ids, can leave a file setuid or setgid only to the sharing
owner, its group, or its own range; never to another host user or a system account.
Every mount is also `nosuid,nodev` inside. Idmapping needs a filesystem with idmapped
mounts (ext4, xfs, btrfs, tmpfs here); `--no-idmap` mounts it plain, saying what that
means.

Some host directories are never shared (`refusal`, `refusal_in_fs`): the host's system
directories, the lxcpath (every container's files) and lxcprov's own state and
configuration, nor a directory that holds one of them or lies inside one, judged by path
and by place in the filesystem (a bind mount of one of them elsewhere is one of them).
"""

from __future__ import annotations

import posixpath
import re
import stat
from dataclasses import dataclass, field

from lxcprov.errors import InvalidArgumentError, MountError

# Targets that must never be covered: the container would lose what makes it work.
FORBIDDEN = ("/", "/proc", "/sys", "/dev")
ENTRY_KEY = "lxc.mount.entry"
# Options every mount of ours carries inside: a setuid file or a device node in a shared
# directory grants nothing in the container.
INSIDE = ("nosuid", "nodev")
# The host ids a share may pass through unchanged (only its owner's and its group's, see
# passed_ids): the ones Debian gives user accounts (adduser's FIRST_UID..LAST_UID,
# FIRST_GID..LAST_GID). The others are the host's system ids: root, 1-999, 60000-65535
# (reserved by Debian and systemd, nobody), never passed through.
USER_IDS = range(1000, 60000)
# What a share passes through: the directory owner's uid and its group's gid as they were
# when it was shared (None: that one passes nothing, e.g. root or a system group).
Owner = tuple[int | None, int | None]
# A place in a filesystem: (its device as "major:minor", the path inside that filesystem).
Place = tuple[str, str]
# Host directories that are not data a container may share (their parents neither: a
# share of /var would hold /var/lib/lxc). The lxcpath and lxcprov's own state and
# configuration directories are added by the caller.
SYSTEM_SOURCES = ("/etc", "/proc", "/sys", "/dev", "/run", "/boot", "/root", "/usr", "/bin",
                  "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib/lxc",
                  "/var/lib/lxcprov")  # fmt: skip


@dataclass(frozen=True, order=True)
class Mount:
    target: str  # absolute, normalised, inside the container
    source: str  # absolute, on the host
    ro: bool = False
    idmap: bool = True  # idmapped for an unprivileged container (same numeric owners)
    # What an idmapped share of an unprivileged container passes through, recorded when
    # it was shared (None: not known yet, or nothing to record). Not part of equality:
    # two mounts are the same when they share the same directory the same way.
    owner: Owner | None = field(default=None, compare=False)

    def entry(self, idmap_path: str | None) -> str:
        """The lxc.mount.entry value (target relative to the rootfs, as LXC wants it);
        idmap_path: the pinned user namespace an unprivileged container's mount goes
        through (None: privileged)."""
        opts = ["bind", "create=dir", "ro" if self.ro else "rw", *INSIDE]
        if idmap_path is not None and self.idmap:
            opts.append(f"idmap={idmap_path}")
        return (
            f"{_escape(self.source)} {_escape(self.target.lstrip('/'))} none {','.join(opts)} 0 0"
        )

    def spec(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.ro else "")

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "target": self.target, "ro": self.ro,
                "idmap": self.idmap}  # fmt: skip


def _escape(path: str) -> str:
    # fstab-style fields: a space or tab in a path is written as an octal escape.
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def check_target(raw: str) -> str:
    """An absolute, normalised path that is not a system directory of the container."""
    if not raw.startswith("/"):
        raise InvalidArgumentError(
            f"{raw!r}: the path inside the container must be absolute", hint="e.g. /srv/data"
        )
    if any(part == ".." for part in raw.split("/")) or "\n" in raw or "\0" in raw:
        raise InvalidArgumentError(f"{raw!r}: no '..' (or control characters) in a mount path")
    target = posixpath.normpath(raw)
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    for forbidden in FORBIDDEN:
        if target == forbidden or (forbidden != "/" and target.startswith(forbidden + "/")):
            raise InvalidArgumentError(
                f"{raw!r} would cover {forbidden}, which the container needs",
                hint="mount it somewhere else, e.g. /srv or /mnt",
            )
    return target


def passed_ids(uid: int, gid: int) -> Owner:
    """What a share of a directory owned by uid:gid passes through: each one only if it is
    a host user id (USER_IDS); root and the host's system ids never."""
    return (uid if uid in USER_IDS else None, gid if gid in USER_IDS else None)


def share_map(host: int, count: int, passed: int | None) -> list[tuple[int, int, int]]:
    """The uid_map (or gid_map) lines of the namespace a share is idmapped through, for a
    container whose ids 0..count-1 are host..host+count-1: (id as the host's filesystem
    stores it, the container's id as the kernel knows it, how many).

    passed (the shared directory's owner, or group, when it was shared) is the same id on
    both sides; the container's other ids but root are stored as its own host ids, as
    without an idmap; root, and every other host id, has no mapping at all: files of
    those show as nobody and no id inside can make one."""
    if host < count or count <= USER_IDS.stop:
        raise MountError(
            f"the container's ids (host {host}..{host + count - 1}) overlap the host's own, "
            "so a host directory cannot be idmapped into it",
            hint="give lxcprov a subordinate range above 65535 (/etc/subuid), or --no-idmap",
        )
    if passed is None:
        return [(host + 1, host + 1, count - 1)]
    if passed not in USER_IDS:
        raise ValueError(f"{passed} is not a host user id")
    return [(passed, host + passed, 1), (host + 1, host + 1, passed - 1),
            (host + passed + 1, host + passed + 1, count - passed - 1)]  # fmt: skip


def shown_inside(stored: int, host: int, count: int, passed: int | None) -> int | None:
    """The container's id that a file stored under host id `stored` shows as through a
    share (share_map), or None when it shows as nobody."""
    for first, kernel, n in share_map(host, count, passed):
        if first <= stored < first + n:
            return kernel + (stored - first) - host
    return None


_USERNS_NAME = re.compile(r"(\d+)-(\d+)-owner-(\d+|none)-(\d+|none)")


def userns_name(root: tuple[int, int], owner: Owner) -> str:
    """The file name a share map's namespace is pinned at: the container's root (host uid,
    gid) and what passes through. It is the record of what a share passes through, in
    the config entry's idmap= path."""

    def part(value: int | None) -> str:
        return "none" if value is None else str(value)

    return f"{root[0]}-{root[1]}-owner-{part(owner[0])}-{part(owner[1])}"


def owner_of(name: str) -> Owner | None:
    """What a namespace named by userns_name passes through (None: not such a name, e.g.
    one an older lxcprov pinned, `<uid>-<gid>-users`, which passed every user id)."""
    found = _USERNS_NAME.fullmatch(name)
    if found is None:
        return None

    def value(text: str) -> int | None:
        return None if text == "none" else int(text)

    uid, gid = value(found.group(3)), value(found.group(4))
    if (uid is not None and uid not in USER_IDS) or (gid is not None and gid not in USER_IDS):
        return None
    return (uid, gid)


def _inside(path: str, top: str) -> bool:
    return path == top or top == "/" or path.startswith(top.rstrip("/") + "/")


def refusal(real: str, protected: dict[str, str]) -> str:
    """Why the host directory real (symlinks resolved) may not be shared, as the rest of
    a sentence about it ("" if it may): protected maps the directories never shared
    (resolved too) to what they are."""
    for top, what in protected.items():
        if _inside(real, top):
            return f"is {what}" if real == top else f"is inside {top} ({what})"
        if _inside(top, real):
            return f"holds {top} ({what})"
    return ""


def swap_risk(parent_uid: int, parent_mode: int, child_uid: int, owner_uid: int) -> str:
    """Why someone other than root or the share's owner (owner_uid, the owner of the shared
    directory, the one id the share passes through) could replace a directory's entry on
    the way to a share (rename it away, put a symlink or another directory in its place)
    before LXC mounts it again at a start, as the rest of a sentence about the parent (""
    if no one else can). The owner may: whatever they put there is refused if it is a
    symlink or owned by someone else (every start judges the owner again), and anything
    of theirs the share then shows, they could have copied into it. A group write bit
    counts whoever is in the group (and an ACL's mask shows there); a sticky directory
    (/tmp) lets only the entry's owner rename it."""
    trusted = (0, owner_uid)
    if parent_uid not in trusted:
        return f"is owned by uid {parent_uid}, who can replace what is in it"
    if not parent_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return ""
    if parent_mode & stat.S_ISVTX and child_uid in trusted:
        return ""
    who = "everyone" if parent_mode & stat.S_IWOTH else "its group"
    sticky = " (sticky, but the entry is someone else's)" if parent_mode & stat.S_ISVTX else ""
    return f"is writable by {who}{sticky}, who can replace what is in it"


def refusal_in_fs(source: Place, protected: list[tuple[Place, str, str]]) -> str:
    """Why the directory at place `source` may not be shared, judged by what it is rather
    than by the path it was reached by ("" if it may): protected lists the directories
    never shared as (their place, their host path, what they are). A bind mount shows a
    directory at another path; its place (device, path inside the filesystem) is the
    same, so a bind of the lxcpath elsewhere is the lxcpath. A share is one mount, never
    recursive: what it shows is its own filesystem's tree from that place down."""
    device, path = source
    for (other, top), shown, what in protected:
        if other != device:
            continue
        if _inside(path, top):
            where = f"is {shown}" if path == top else f"is inside {shown}"
            return f"{where} ({what}), mounted again elsewhere"
        if _inside(top, path):
            return f"holds {shown} ({what}), mounted again elsewhere"
    return ""


def check_source(raw: str) -> str:
    if not raw.startswith("/"):
        raise InvalidArgumentError(f"{raw!r}: the host directory must be an absolute path")
    if "\n" in raw or "\0" in raw:
        raise InvalidArgumentError(f"{raw!r}: no control characters in a mount path")
    return posixpath.normpath(raw)


def parse_spec(text: str) -> Mount:
    """HOST_DIR:CONTAINER_DIR[:ro] (as `new --mount` and `set mounts=` take it)."""
    parts = text.split(":")
    ro = False
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        ro = parts[2] == "ro"
        parts = parts[:2]
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise InvalidArgumentError(
            f"{text!r} is not HOST_DIR:CONTAINER_DIR[:ro]",
            hint="e.g. /srv/www:/var/www:ro; a path with ':' or ',' in it: "
            "lxcprov mount add NAME HOST_DIR CONTAINER_DIR",
        )
    return Mount(check_target(parts[1]), check_source(parts[0]), ro)


def parse_specs(text: str) -> list[Mount]:
    """A comma-separated list of specs (`set mounts=`); "none" or "" is no mounts."""
    if text.strip().lower() in ("", "none"):
        return []
    found = [parse_spec(item.strip()) for item in text.split(",") if item.strip()]
    targets = [m.target for m in found]
    if len(set(targets)) != len(targets):
        raise InvalidArgumentError("two mounts on one path inside the container")
    return found


def from_entry(value: str, unprivileged: bool) -> Mount | None:
    """The Mount an lxc.mount.entry of ours stands for (None: not a bind of a directory);
    its owner is read from the idmap= path's name (None: not recorded, an older form)."""
    fields = value.split()
    if len(fields) < 4 or fields[2] != "none":
        return None
    opts = fields[3].split(",")
    if "bind" not in opts:
        return None
    paths = [o.removeprefix("idmap=") for o in opts if o.startswith("idmap=")]
    idmap = bool(paths) if unprivileged else True
    owner = owner_of(posixpath.basename(paths[0])) if paths else None
    target = "/" + _unescape(fields[1]).lstrip("/")
    return Mount(target, _unescape(fields[0]), "ro" in opts, idmap, owner)
