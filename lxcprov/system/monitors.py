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
import signal
import time
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


def monitor_pids(lxcpath: Path, name: str) -> list[int]:
    """The pids of the host's LXC monitors of this container (normally none or one)."""
    wanted = f"[lxc monitor] {lxcpath} {name}".encode()
    found: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.rstrip(b"\0").rstrip(b" ") == wanted and _hosts_root(int(entry.name)):
            found.append(int(entry.name))
    return found


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
