"""The host's kernel limits that many containers meet, and what is used of each (read-only).

Everything is read from /proc and /sys: no netlink (pyroute2 costs 0.15 s to import), no
process started. What each limit means, and what a container costs of it, is decided in
lxcprov.engine.hostlimits (put together by lxcprov.ops.limits).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")


def _int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def sysctl(name: str) -> int | None:
    """An integer sysctl (net.ipv4.neigh.default.gc_thresh3), None when unreadable."""
    return _int(PROC / "sys" / name.replace(".", "/"))


def _userns(pid: str) -> str | None:
    try:
        return os.readlink(PROC / pid / "ns" / "user")
    except OSError:
        return None


def root_inotify_instances() -> int:
    """The inotify instances charged to root: those of root's own processes and of every
    process in another user namespace (the kernel charges a container's to the owner of
    its user namespace, and lxcprov's are root's). An instance shared by two processes
    (inherited) is counted twice: an estimate on the safe side."""
    host_ns = _userns("1")
    count = 0
    for pid in os.listdir(PROC):
        if not pid.isdigit():
            continue
        fd_dir = PROC / pid / "fd"
        try:
            owner = (PROC / pid).stat().st_uid
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        if owner != 0 and _userns(pid) == host_ns:
            continue  # another host user's: charged to that user
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(fd_dir / fd) == "anon_inode:inotify":
                    count += 1
    return count


def fullest_key_user() -> tuple[int, int, int, int] | None:
    """The non-root uid nearest its key quota in /proc/key-users: (keys, maxkeys, bytes,
    maxbytes). Containers of lxcprov's shared id block all map their root to one uid."""
    try:
        text = (PROC / "key-users").read_text()
    except OSError:
        return None
    best: tuple[int, int, int, int] | None = None
    for line in text.splitlines():
        parts = line.split()
        # "  uid:  usage nkeys/nikeys qnkeys/maxkeys qnbytes/maxbytes"
        if len(parts) != 5 or parts[0] == "0:":
            continue
        try:
            keys, maxkeys = (int(x) for x in parts[3].split("/"))
            nbytes, maxbytes = (int(x) for x in parts[4].split("/"))
        except ValueError:
            continue
        if best is None or keys * best[1] > best[0] * maxkeys:
            best = (keys, maxkeys, nbytes, maxbytes)
    return best


def tasks() -> int | None:
    """Every thread on the host (the fourth field of /proc/loadavg: running/total)."""
    try:
        return int((PROC / "loadavg").read_text().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        return None


def neighbours(table: str) -> int | None:
    """Entries of a neighbour table (arp_cache, ndisc_cache) across all namespaces: the
    first column of /proc/net/stat/<table> (hexadecimal, the same on every CPU's line)."""
    try:
        lines = (PROC / "net" / "stat" / table).read_text().splitlines()
        return int(lines[1].split()[0], 16)
    except (OSError, ValueError, IndexError):
        return None


def bridge_ports(bridge: str) -> int:
    """Ports attached to a bridge now (0 when it does not exist)."""
    try:
        return len(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except OSError:
        return 0
