"""The host's subordinate id files (/etc/subuid, /etc/subgid) and lxcprov's book of
isolated id blocks, read and written; lxcprov.engine.idmap decides what goes in them.

liblxc maps a container's ids with newuidmap/newgidmap when they are installed (Debian's
lxc recommends uidmap), and those refuse any range /etc/subuid does not give the caller,
root included: so root's range must be written there.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

from lxcprov.errors import IdMapError, StateFileError
from lxcprov.system import statefile

SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")


def state_dir() -> Path:
    return Path(os.environ.get("LXCPROV_STATE_DIR") or "/var/lib/lxcprov")


def read(path: Path) -> str:
    """The file's text ("" when it does not exist)."""
    try:
        return statefile.read_text(path) or ""
    except StateFileError as exc:
        raise IdMapError(exc.message, hint=exc.hint) from None


def append(path: Path, line: str) -> None:
    """Add a line at the end, keeping every other line as it is (atomically)."""
    text = read(path)
    if text and not text.endswith("\n"):
        text += "\n"
    statefile.write_text(path, text + line + "\n", mode=0o644)


def host_ids() -> tuple[set[int], set[int]]:
    """The uids and gids this host's users and groups have."""
    return {p.pw_uid for p in pwd.getpwall()}, {g.gr_gid for g in grp.getgrall()}


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def book_path() -> Path:
    return state_dir() / "idmaps.json"


def read_book() -> dict[int, str]:
    """Isolated block index -> owner (name@lxcpath)."""
    path = book_path()
    raw = statefile.read_json(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in raw.items()
    ):
        raise StateFileError(
            f"{path} must map block numbers to owners (name@lxcpath)",
            hint=f"fix or remove {path} (removing it lets a block be handed out twice)",
        )
    return {int(k): v for k, v in raw.items()}


def write_book(book: dict[int, str]) -> None:
    text = json.dumps({str(k): v for k, v in sorted(book.items())}, indent=2) + "\n"
    statefile.write_text(book_path(), text)
