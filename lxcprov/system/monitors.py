"""A running container found from /proc when LXC cannot open it.

A config LXC cannot load makes `lxc-stop`, `lxc-info` and python3-lxc refuse the container
(they load the config before they talk to its command socket), yet the container may
still run: its config was broken while it ran. Its monitor, `[lxc monitor] LXCPATH NAME`,
is the parent of its init; killing that init ends the container as a host kill would, and
the monitor then runs its stop hooks and exits.

Any process can name itself anything: only root's processes in the host's own pid and
user namespaces count as monitors.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_PROC = Path("/proc")


def _hosts_root(pid: int) -> bool:
    """Run by root in the host's own pid and user namespaces: no process of a container,
    and no other user of the host (who could name a process of theirs anything, and so
    block a destroy or have root kill their own children), passes."""
    try:
        if os.stat(f"/proc/{pid}").st_uid != 0:
            return False
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(ln.split()[1:] for ln in status.splitlines() if ln.startswith("Uid:"))
        if any(u != "0" for u in uids):
            return False
        return all(
            os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino
            for ns in ("pid", "user")
        )
    except (OSError, StopIteration):
        return False


def _monitors() -> Iterator[tuple[int, str, str]]:
    """Each process named `[lxc monitor] LXCPATH NAME`: (pid, LXCPATH, NAME), whoever's."""
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().rstrip(b"\0").rstrip(b" ")
        except OSError:
            continue
        if cmdline.startswith(_MONITOR) and b" " in cmdline[len(_MONITOR) :]:
            spelling, _, name = cmdline[len(_MONITOR) :].rpartition(b" ")
            yield (
                int(entry.name),
                spelling.decode(errors="surrogateescape"),
                name.decode(errors="surrogateescape"),
            )


_MONITOR = b"[lxc monitor] "


def monitor_pids(lxcpath: Path | str, name: str) -> list[int]:
    """The pids of the host's LXC monitors of this container (normally none or one), its
    lxcpath spelled as the monitor was given it."""
    return [pid for pid, spelling, named in _monitors()
            if (spelling, named) == (str(lxcpath), name) and _hosts_root(pid)]  # fmt: skip


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid ...: comm may hold spaces and parentheses.
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill(lxcpath: Path, name: str, wait: float = 15.0) -> list[int]:
    """SIGKILL the init of every monitor of this container and wait for the monitors to
    end (their stop hooks run); returns the inits killed."""
    monitors = monitor_pids(lxcpath, name)
    killed: list[int] = []
    for monitor in monitors:
        for child in _children(monitor):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
                killed.append(child)
    until = time.monotonic() + wait
    while monitors and time.monotonic() < until:
        monitors = [m for m in monitors if (_PROC / str(m)).exists()]
        time.sleep(0.05)
    return killed


# Each running container's monitor listens on an abstract socket "@LXCPATH/NAME/command",
# LXCPATH as spelled by whoever started it: one read of this file lists them all.
_UNIX_SOCKETS = Path("/proc/net/unix")


# Whether a running container's root (a stat of /proc/INIT/root) is this container's
# files (False too when that cannot be told: a storage it does not compare).
Ours = Callable[[os.stat_result], bool]


def running_elsewhere(lxcpath: Path, name: str, ours: Ours | None = None) -> str | None:
    """Another spelling of this lxcpath under which the container runs now; None when
    there is none.

    LXC knows a container by its lxcpath's spelling: started as /srv/lxc/web, it is
    STOPPED to /var/lib/lxc/web even when one is a symlink to the other, and a start there
    boots a second init on the same files. A socket's name can be anyone's, so a root
    monitor of that spelling and name must be there too. A spelling that is not this
    directory (any more: a removed symlink, a lazily unmounted bind mount, a directory
    made in its place) is this container only when its init's root is this container's
    files (ours): a spelling that names nothing is not enough, since another lxcpath's
    container of the same name may run there (its lxcpath moved, or removed under it)."""
    suffix = f"/{name}/command"
    try:
        lines = _UNIX_SOCKETS.read_text(errors="replace").splitlines()[1:]
    except OSError:
        return None
    seen = {str(lxcpath)}
    hashed = False
    for line in lines:
        fields = line.split(None, 7)
        if len(fields) < 8 or not fields[7].startswith("@"):
            continue
        if _HASHED.fullmatch(fields[7]):
            hashed = True
        if not fields[7].endswith(suffix):
            continue
        spelling = fields[7][1 : -len(suffix)]
        if spelling not in seen:
            seen.add(spelling)
            pids = monitor_pids(spelling, name)
            if pids and _this_one(spelling, pids, lxcpath, ours):
                return spelling
    # A path too long for a socket's name is hashed into it (@lxc/HASH/command): only
    # then are the monitors themselves read (a walk of /proc), for this name.
    return _spelled_by_a_monitor(lxcpath, name, ours) if hashed else None


# LXC's name for a command socket whose lxcpath and name do not fit in one.
_HASHED = re.compile(r"@lxc/[0-9a-f]+/command")


def _this_one(spelling: str, pids: list[int], lxcpath: Path, ours: Ours | None) -> bool:
    with contextlib.suppress(OSError, ValueError):
        if os.path.samefile(spelling, lxcpath):
            return True
    root = _init_root(pids[0]) if ours is not None else None
    return bool(ours is not None and root is not None and ours(root))


def _init_root(monitor: int) -> os.stat_result | None:
    """A stat of the root of the container the monitor runs (its init is its child)."""
    try:
        kids = Path(f"/proc/{monitor}/task/{monitor}/children").read_text().split()
    except OSError:
        kids = [str(pid) for pid in _children(monitor)]
    for kid in kids:
        with contextlib.suppress(OSError):
            return os.stat(f"/proc/{kid}/root")
    return None


def _spelled_by_a_monitor(lxcpath: Path, name: str, ours: Ours | None) -> str | None:
    """Another spelling of lxcpath a root monitor of this name names (read from /proc)."""
    for pid, spelling, named in _monitors():
        if (
            named == name
            and spelling != str(lxcpath)
            and _hosts_root(pid)
            and _this_one(spelling, [pid], lxcpath, ours)
        ):
            return spelling
    return None
