"""Where a container's snapshots live, and what each one records about itself.

A snapshot is a directory `<lxcpath>/<name>/snapshots/<snap>/` holding `snapshot.toml`
and one tree:

- `upper/`: a copy of an overlay clone's upper layer, taken with every attribute. It
  means something only on top of the base it was taken over (`lower`, recorded), which
  therefore cannot be removed while the snapshot exists (`users_of_base`).
- `rootfs/`: a whole root filesystem (a dir-backed container's, or one an import brought).

A snapshot appears whole or not at all: it is made in `.<snap>.lxcprov-new` and renamed
into place, removed by renaming it to `.<snap>.lxcprov-old` first; a hidden leftover of
a killed command is never taken for a snapshot (`leftovers` finds them). The owners in a
tree are host ids: `ids` records the map they belong to, so a restore or an import into a
container with another map shifts them. Snapshots live inside the container's directory,
which LXC removes with the container; `snapshots/` is 0700, like the lxcpath's state.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.errors import InvalidNameError, StateFileError
from lxcprov.system import statefile

DIR = "snapshots"
META = "snapshot.toml"
NEW, OLD = ".lxcprov-new", ".lxcprov-old"
Kind = Literal["upper", "rootfs"]
# A snapshot name is a directory name: no `/`, no leading dot (hidden names are ours).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def check_name(snap: str) -> None:
    if not _NAME.fullmatch(snap) or ".." in snap:
        raise InvalidNameError(
            f"invalid snapshot name {snap!r}",
            hint="use letters, digits, dots, dashes and underscores (at most 63)",
        )


# A time as lxcprov writes one (datetime's isoformat): digits and ISO 8601's separators.
_TIME = re.compile(r"[0-9][0-9T:.+Z-]{9,39}")


def is_time(value: str) -> bool:
    """Whether value is a snapshot's time as read_meta takes it: the one rule for every
    `created` lxcprov stores, also an archive's (lxcprov.engine.archive), which would
    otherwise write a record `snapshots` cannot read (a lone surrogate, a newline)."""
    if not _TIME.fullmatch(value):
        return False
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def default_name(now: datetime.datetime | None = None) -> str:
    """snap-YYYYMMDD-HHMMSS (UTC): sorts by time, needs no quoting."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("snap-%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class Meta:
    name: str
    created: str  # ISO 8601, UTC
    kind: Kind
    ids: str  # the id map of its owners: "privileged" or an idmap label
    bytes: int  # disk space the snapshot's tree takes
    base: str = ""  # upper: the base container it lies on
    lower: str = ""  # upper: that base's rootfs directory
    origin: str = "snapshot"  # or "import"

    @property
    def tree_name(self) -> str:
        return self.kind


def directory(container_dir: Path) -> Path:
    return container_dir / DIR


def path(container_dir: Path, snap: str) -> Path:
    return directory(container_dir) / snap


def tree(container_dir: Path, meta: Meta) -> Path:
    return path(container_dir, meta.name) / meta.tree_name


def staging(container_dir: Path, snap: str) -> Path:
    return directory(container_dir) / f".{snap}{NEW}"


def retired(container_dir: Path, snap: str) -> Path:
    return directory(container_dir) / f".{snap}{OLD}"


def ensure_directory(container_dir: Path) -> Path:
    d = directory(container_dir)
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def render(meta: Meta) -> str:
    lines = ["# Written by lxcprov: what this snapshot is (see lxcprov/system/snapstore.py)."]
    for key, value in vars(meta).items():
        lines.append(f"{key} = {json.dumps(value)}")  # a JSON string or int is valid TOML
    return "\n".join(lines) + "\n"


def write_meta(snap_dir: Path, meta: Meta) -> None:
    statefile.write_text(snap_dir / META, render(meta), mode=0o600)


def read_meta(snap_dir: Path) -> Meta:
    """The snapshot's record, read strictly (one line naming the file otherwise)."""
    p = snap_dir / META
    data = statefile.read_toml(p)
    if data is None:
        raise StateFileError(f"{p} is missing", hint=f"remove {snap_dir} if it is a leftover")
    fields = set(Meta.__dataclass_fields__)
    statefile.check_keys(data, fields, p)
    values: dict[str, object] = {}
    for key in fields:
        kind: type[object] = int if key == "bytes" else str
        value = statefile.field(data, key, kind, p)
        if value is None and key in ("name", "created", "kind", "ids", "bytes"):
            raise StateFileError(f"{p}: `{key}` is missing", hint=f"fix or remove {snap_dir}")
        if value is not None:
            values[key] = value
    if not is_time(str(values["created"])):
        raise StateFileError(
            f"{p}: created must be a time such as 2026-01-01T00:00:00+00:00",
            hint=f"fix or remove {snap_dir}",
        )
    if values["kind"] not in ("upper", "rootfs"):
        raise StateFileError(f"{p}: kind must be upper or rootfs", hint=f"fix or remove {snap_dir}")
    if values["name"] != snap_dir.name:
        raise StateFileError(f"{p}: it names another snapshot", hint=f"fix or remove {snap_dir}")
    return Meta(**values)  # type: ignore[arg-type]


def names(container_dir: Path) -> list[str]:
    """The snapshots of a container (hidden leftovers aside), sorted by name."""
    try:
        entries = os.listdir(directory(container_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in entries if not n.startswith(".") and _NAME.fullmatch(n))


def listing(container_dir: Path) -> list[Meta]:
    """Every snapshot's record, oldest first."""
    found = [read_meta(path(container_dir, n)) for n in names(container_dir)]
    return sorted(found, key=lambda m: (m.created, m.name))


def count(container_dir: Path) -> int:
    return len(names(container_dir))


def leftovers(container_dir: Path) -> list[Path]:
    """Hidden directories a killed snapshot command left (a half copy, a half removal)."""
    try:
        entries = os.listdir(directory(container_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory(container_dir) / n for n in sorted(entries)
            if n.startswith(".") and n.endswith((NEW, OLD))]  # fmt: skip


def lying_on(lxcpath: Path, base: str) -> list[tuple[str, str]]:
    """(container, snapshot) of every snapshot in lxcpath that lies on base, whatever the
    container is now (a clone converted to a directory keeps its older snapshots)."""
    out = []
    try:
        containers = sorted(os.listdir(lxcpath))
    except OSError:
        return []
    for name in containers:
        for snap in names(lxcpath / name):
            try:
                meta = read_meta(path(lxcpath / name, snap))
            except StateFileError:
                continue  # a broken record is doctor's business, not a dependency
            if meta.kind == "upper" and meta.base == base:
                out.append((name, snap))
    return out


def users_of_base(lxcpath: Path, base: str) -> list[str]:
    return [f"{name}'s snapshot {snap}" for name, snap in lying_on(lxcpath, base)]
