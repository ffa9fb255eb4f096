"""What `push` and `pull` accept and where a copy lands (pure: no file is touched).

- `--mode` is octal, 1 to 4 digits (0..7777), as chmod writes it.
- `--owner USER[:GROUP]`: each a name as passwd and group write one, or a number. Names are
  looked up in the container's own /etc/passwd and /etc/group (hostile text: the lookup is
  lxcprov.engine.apply.files.resolve_owner, which holds every id to 0..65535 of the map);
  the shape is checked here first, so an empty or odd word never reaches that lookup.
- Where a copy lands follows cp: an existing directory means "into it, under the source's
  last name"; anything else is the path of the copy itself.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Iterable

from lxcprov.engine.apply.files import resolve_owner
from lxcprov.errors import InvalidArgumentError

_MODE = re.compile(r"[0-7]{1,4}")
# A user or group name as useradd and groupadd accept one (Debian's NAME_REGEX, a
# trailing $ for machine accounts), or a number.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,5}")
# What a pull writes on the host: the container's permission bits, never setuid, setgid or
# sticky (a file a container made must not become a setuid program of host root).
_HOST_BITS = 0o777
# What a push carries over from a host file when --mode is not given (cp without -p: the
# permission bits; setuid and setgid only when asked for with --mode).
_PUSH_BITS = 0o777


def parse_mode(text: str) -> int:
    """The mode --mode names (octal), or InvalidArgumentError."""
    if not _MODE.fullmatch(text):
        raise InvalidArgumentError(
            f"--mode {text!r} is not an octal mode",
            hint="give 1 to 4 octal digits, e.g. --mode 0644 or --mode 755",
        )
    return int(text, 8)


def check_owner(text: str) -> str:
    """--owner's USER[:GROUP], checked for shape (names or numbers up to 65535)."""
    user, colon, group = text.partition(":")
    for word in [user, group] if colon else [user]:
        if not _NAME.fullmatch(word) or (word.isdigit() and int(word) > 65535):
            raise InvalidArgumentError(
                f"--owner {text!r} is not USER[:GROUP]",
                hint="names as in the container's /etc/passwd and /etc/group, or numbers "
                "0..65535, e.g. --owner www-data or --owner 1000:1000",
            )
    return text


def owner_ids(text: str, passwd: str, group: str) -> tuple[int, int]:
    """The container's ids --owner names (a user alone: its primary group, as chown)."""
    found = resolve_owner(check_owner(text), passwd, group)
    if isinstance(found, str):
        raise InvalidArgumentError(
            f"--owner {text!r}: {found}",
            hint="make the user inside first (lxcprov exec NAME -- useradd ...), or give numbers",
        )
    return found


def push_mode(given: int | None, source_mode: int | None, *, is_dir: bool) -> int:
    """The mode of what a push makes: --mode for files, else the source's permission bits
    (0644 for a file and 0755 for a directory when the source has none: stdin)."""
    if given is not None and not is_dir:
        return given
    if source_mode is not None:
        return stat.S_IMODE(source_mode) & _PUSH_BITS
    return 0o755 if is_dir else 0o644


def host_mode(container_mode: int, umask: int) -> int:
    """The mode a pulled file or directory gets on the host (cp without -p: the
    permission bits less the umask; no setuid, setgid or sticky bit)."""
    return stat.S_IMODE(container_mode) & _HOST_BITS & ~umask


def last_name(path: str, fallback: str) -> str:
    """The name a copy of path gets inside a directory (cp's rule: the last component;
    fallback for `/` and the like)."""
    name = posixpath.basename(path.rstrip("/"))
    return name if name not in ("", ".", "..") else fallback


def into(directory: str, name: str) -> str:
    """directory/name, written once (no doubled slash)."""
    return directory.rstrip("/") + "/" + name


def share_at(path: str, targets: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The (target, host directory) of the share path is at or under, None for none.
    A stopped container's share is not mounted: a copy there would land in the rootfs
    beneath the mount point, hidden once the container starts."""
    clean = posixpath.normpath("/" + path.lstrip("/"))
    for target, source in sorted(targets, key=lambda t: len(t[0]), reverse=True):
        top = posixpath.normpath(target)
        if clean == top or clean.startswith(top.rstrip("/") + "/"):
            return target, source
    return None
