"""Host directories inside a container, as lxcprov keeps them: parsed, checked, and turned
into the `lxc.mount.entry` lines of lxcprov's section of the config (the config is the
only record; a template's own mount entries, outside that section, are not ours).

An unprivileged container's mounts are idmapped through a user namespace (`idmap=PATH`,
see lxcprov.system.livemount) that passes the host's *user* ids through unchanged
(USER_IDS: a file of host uid 1000 is uid 1000 inside, and what uid 1000 makes inside is
host uid 1000's) and never a host *system* id: root, the ids below 1000 and those from
60000 up (Debian's and systemd's reserved ids, nobody) land in the container's own range
instead (`share_map`). So a container's root, which can become any of its ids, can never
leave a file on the host owned by, setuid or setgid to a host system account (measured on
main: a process of uid 1000 and gid 6 left a setgid file of group `disk`, and root gave
one to group `shadow`); host files of system ids show as nobody inside and cannot be
taken over. Every mount is also `nosuid,nodev` inside. Idmapping needs a filesystem with
idmapped mounts (ext4, xfs, btrfs, tmpfs here); `--no-idmap` mounts it plain, saying what
that means.

Some host directories are never shared (`refusal`): the host's system directories, the
lxcpath (every container's files) and lxcprov's own state and configuration, nor a
directory that holds one of them or lies inside one.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from lxcprov.errors import InvalidArgumentError, MountError

# Targets that must never be covered: the container would lose what makes it work.
FORBIDDEN = ("/", "/proc", "/sys", "/dev")
ENTRY_KEY = "lxc.mount.entry"
# Options every mount of ours carries inside: a setuid file or a device node in a shared
# directory grants nothing in the container.
INSIDE = ("nosuid", "nodev")
# The host ids a share passes through unchanged: the ones Debian gives user accounts
# (adduser's FIRST_UID..LAST_UID, FIRST_GID..LAST_GID). The others are the host's system
# ids: root, 1-999, 60000-65535 (reserved by Debian and systemd, nobody).
USER_IDS = range(1000, 60000)
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


def share_map(host: int, count: int) -> list[tuple[int, int, int]]:
    """The uid_map (or gid_map) lines of the namespace a share is idmapped through, for a
    container whose ids 0..count-1 are host..host+count-1: (id as the host's filesystem
    stores it, the container's id as the kernel knows it, how many).

    USER_IDS pass through (host uid 1000 <-> the container's uid 1000); the container's
    other ids but root (1-999, 60000-65535) are stored as its own host ids, as without an
    idmap; root, and every host id outside USER_IDS, has no mapping at all: files of host
    system ids show as nobody and no id inside can make one."""
    low, high = USER_IDS.start, USER_IDS.stop
    if host < count or count <= high:
        raise MountError(
            f"the container's ids (host {host}..{host + count - 1}) overlap the host's own, "
            "so a host directory cannot be idmapped into it",
            hint="give lxcprov a subordinate range above 65535 (/etc/subuid), or --no-idmap",
        )
    return [(low, host + low, high - low), (host + 1, host + 1, low - 1),
            (host + high, host + high, count - high)]  # fmt: skip


def shown_inside(stored: int, host: int, count: int) -> int | None:
    """The container's id that a file stored under host id `stored` shows as through a
    share (share_map), or None when it shows as nobody."""
    for first, kernel, n in share_map(host, count):
        if first <= stored < first + n:
            return kernel + (stored - first) - host
    return None


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
            f"{text!r} is not HOST_DIR:CONTAINER_DIR[:ro]", hint="e.g. /srv/www:/var/www:ro"
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
    """The Mount an lxc.mount.entry of ours stands for (None: not a bind of a directory)."""
    fields = value.split()
    if len(fields) < 4 or fields[2] != "none":
        return None
    opts = fields[3].split(",")
    if "bind" not in opts:
        return None
    idmap = any(o.startswith("idmap=") for o in opts) if unprivileged else True
    target = "/" + _unescape(fields[1]).lstrip("/")
    return Mount(target, _unescape(fields[0]), "ro" in opts, idmap)
