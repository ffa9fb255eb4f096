"""Host directories inside a container, as lxcprov keeps them: parsed, checked, and turned
into the `lxc.mount.entry` lines of lxcprov's section of the config (the config is the
only record; a template's own mount entries, outside that section, are not ours).

An unprivileged container's mounts are idmapped through a user namespace that maps ids
1..65535 to themselves and leaves root out (`idmap=PATH`, see lxcprov.system.livemount):
a file a host user owns shows inside with the same numeric owner (uid 1000 is 1000), host
root's files show as nobody, and the container's root cannot write as host root there.
That needs a filesystem with idmapped mounts (ext4, xfs, btrfs, tmpfs here); without it
every host file would show as nobody. `--no-idmap` mounts it plain, saying what that means.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from lxcprov.errors import InvalidArgumentError

# Targets that must never be covered: the container would lose what makes it work.
FORBIDDEN = ("/", "/proc", "/sys", "/dev")
ENTRY_KEY = "lxc.mount.entry"


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
        opts = ["bind", "create=dir", "ro" if self.ro else "rw"]
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
