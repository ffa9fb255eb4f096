"""Read what a running container uses from the kernel: its cgroup's files, its init's
/proc entries, its veths' host ends, its rootfs on disk. No process is started and no
namespace entered, so 200 containers are read in a fraction of a second. The parsers are
pure (the kernel's text in, numbers out) and unit-tested on the text of v1, v2 and hybrid
hosts.

- CPU: seconds of CPU time the container's cgroup used since it started (v1
  `cpuacct.usage`, nanoseconds; v2 `cpu.stat` `usage_usec`).
- Memory used is the working set: the cgroup's usage less the page cache the kernel can
  drop without asking (v1 `total_inactive_file`, v2 `inactive_file`), what cAdvisor and
  `docker stats` show and what the OOM killer weighs; a file in a tmpfs is never
  droppable and always counts. Swap: v1 `memsw` less usage (with swap accounting), v2
  `memory.swap.current`.
- Network: the bytes through its veth interfaces, counted at their host ends (rx is what
  the container received): its root may move an interface into a namespace of its own or
  make more, but never changes what the host's end counted. A container on the host's
  network (type none) or with an interface whose counters only its namespace has
  (macvlan, phys, ...) has no network figure.
- The container's cgroup is found from its init's /proc/PID/cgroup, cut at LXC's
  `lxc.payload.NAME` directory (payload_cgroups): its root may move its processes below
  it but never above, so what is read is the whole container.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxcprov.system import journal

# A v1 memory.limit_in_bytes at or above this is the kernel's "no limit" (PAGE_COUNTER_MAX
# pages, rounded down to a page): 9223372036854771712 on x86_64.
_NO_LIMIT_V1 = 1 << 62
# The cgroup directory LXC makes for a container's processes (lxc.payload.NAME, or
# lxc.payload.NAME-N when that name was taken); its root may make cgroups below it.
PAYLOAD_PREFIX = "lxc.payload."


@dataclass(frozen=True)
class Reading:
    """One look at a running container's counters; None: this host does not count it."""

    at: float  # time.monotonic() of the reading
    cpu_ns: int | None = None
    memory_used: int | None = None
    memory_limit: int | None = None  # None: no limit
    swap_used: int | None = None
    pids: int | None = None
    rx_bytes: int | None = None
    tx_bytes: int | None = None
    uptime: float | None = None  # seconds since its init started


# A cgroup file is a few lines; a memory.stat some 40. More is not a cgroup file.
_READ_CAP = 64 * 1024
_UNIFIED = ""


@functools.cache
def hierarchies() -> dict[str, Path]:
    """Where each cgroup hierarchy is mounted: a v1 controller's name, "" for the unified
    (v2) one. Read once per process from /proc/self/mountinfo."""
    found: dict[str, Path] = {}
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return found
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        point = Path(fields[4])
        if tail[0] == "cgroup2":
            found.setdefault(_UNIFIED, point)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                found.setdefault(option, point)
    return found


def _text(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(fd, _READ_CAP).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _start_ticks_to_uptime(start_ticks: int | None) -> float | None:
    if start_ticks is None:
        return None
    boot = _text(Path("/proc/uptime"))
    if not boot:
        return None
    since_boot = float(boot.split()[0])
    return max(0.0, since_boot - start_ticks / os.sysconf("SC_CLK_TCK"))


def read(name: str, pid: int, host_ends: Sequence[str] | None) -> Reading | None:
    """One reading of the container whose init is pid; None when that process is gone
    (the container stopped meanwhile) or is not in a cgroup of that container's.
    host_ends: the host's ends of its veth interfaces (None: its network is not its own
    to count, or not countable from outside)."""
    start = journal.process_start(pid)
    proc_cgroup = _text(Path(f"/proc/{pid}/cgroup"))
    if start is None or proc_cgroup is None:
        return None
    groups = payload_cgroups(proc_cgroup, name)
    if not groups:
        return None
    mounts = hierarchies()

    def where(controller: str) -> Path | None:
        """The container's cgroup directory for controller: on its v1 hierarchy when the
        host has one, else on the unified one."""
        if controller in groups and controller in mounts:
            return mounts[controller] / groups[controller].lstrip("/")
        if _UNIFIED in groups and _UNIFIED in mounts:
            return mounts[_UNIFIED] / groups[_UNIFIED].lstrip("/")
        return None

    def file(controller: str, v1: str, v2: str) -> str | None:
        directory = where(controller)
        if directory is None:
            return None
        return _text(directory / (v1 if controller in groups else v2))

    now = time.monotonic()
    cpu = _cpu_ns(where("cpuacct"), v1="cpuacct" in groups)
    memory_v1 = "memory" in groups
    usage_now = number(file("memory", "memory.usage_in_bytes", "memory.current"))
    mem_stat = keyed(file("memory", "memory.stat", "memory.stat") or "")
    limit_text = file("memory", "memory.limit_in_bytes", "memory.max")
    if memory_v1:
        limit = v1_limit(limit_text)
        memsw = number(file("memory", "memory.memsw.usage_in_bytes", ""))
        swap = None if memsw is None or usage_now is None else max(0, memsw - usage_now)
        used = working_set(usage_now, mem_stat, "total_inactive_file")
    else:
        limit = number(limit_text)
        swap = number(file("memory", "", "memory.swap.current"))
        used = working_set(usage_now, mem_stat, "inactive_file")
    pids = number(file("pids", "pids.current", "pids.current"))
    net = veth_bytes(host_ends) if host_ends is not None else None
    if journal.process_start(pid) != start:
        return None  # the init exited while it was read: these numbers may be another's
    return Reading(
        at=now,
        cpu_ns=cpu,
        memory_used=used,
        memory_limit=limit,
        swap_used=swap,
        pids=pids,
        rx_bytes=net[0] if net else None,
        tx_bytes=net[1] if net else None,
        uptime=_start_ticks_to_uptime(start),
    )


def _cpu_ns(directory: Path | None, *, v1: bool) -> int | None:
    if directory is None:
        return None
    if v1:
        return number(_text(directory / "cpuacct.usage"))
    usec = keyed(_text(directory / "cpu.stat") or "").get("usage_usec")
    return None if usec is None else usec * 1000


def tree_bytes(top: Path) -> int | None:
    """Bytes a directory tree takes on disk (its blocks, a hard-linked file once); None when
    top cannot be opened as a directory.

    The tree is the container's: it may swap a directory for a symlink to a host path at
    any moment. So each directory is opened from its parent's descriptor with O_NOFOLLOW
    (never by path), and a directory on another filesystem (a mount) is not entered. What
    the container changes meanwhile (files come and go) is skipped, not an error. A tree
    deeper than MAX_DEPTH is counted down to it (one descriptor is open per level)."""
    try:
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        top_stat = os.fstat(fd)
        seen: set[tuple[int, int]] = set()
        return top_stat.st_blocks * 512 + _dir_bytes(fd, top_stat.st_dev, seen, 1)
    finally:
        os.close(fd)


# How deep tree_bytes goes (a descriptor per level; the kernel's own paths end at 4096
# bytes, some 2000 levels of one-letter names).
MAX_DEPTH = 256
_SUBDIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def _dir_bytes(fd: int, dev: int, seen: set[tuple[int, int]], depth: int) -> int:
    total = 0
    try:
        entries = list(os.scandir(fd))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)  # fstatat(fd, name, NOFOLLOW)
        except OSError:
            continue
        if st.st_dev != dev:
            continue  # a mount below: another filesystem's bytes
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
            total += _subdir_bytes(fd, entry.name, dev, seen, depth)
    return total


def _subdir_bytes(parent: int, name: str, dev: int, seen: set[tuple[int, int]],
                  depth: int) -> int:  # fmt: skip
    try:
        child = os.open(name, _SUBDIR, dir_fd=parent)  # a symlink now: ELOOP, skipped
    except OSError:
        return 0
    try:
        if os.fstat(child).st_dev != dev:
            return 0
        return _dir_bytes(child, dev, seen, depth + 1)
    finally:
        os.close(child)


def payload_cgroups(proc_cgroup: str, name: str) -> dict[str, str]:
    """The container's cgroup on each hierarchy, from its init's /proc/PID/cgroup: the path
    cut after its `lxc.payload.NAME` part (or `lxc.payload.NAME-N`, LXC's name when the
    first was taken), since the container's root may move its init further down (its
    counters would then miss the rest). Keys are the v1 controllers of a line
    (`cpu,cpuacct`: both) and "" for the unified hierarchy. A line without this
    container's payload part is left out, and the first line of a hierarchy wins. (The
    names below the payload are the container root's choice, but the kernel refuses a
    cgroup name with a newline, so one cannot pose as another line.)"""
    found: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        segments = path.split("/")
        cut = next((i for i, s in enumerate(segments) if s.startswith(PAYLOAD_PREFIX)), None)
        if cut is None or not _ours(segments[cut], name) or ".." in segments[:cut]:
            continue
        where = "/".join(segments[: cut + 1])
        for controller in controllers.split(",") if controllers else [""]:
            if not controller.startswith("name="):
                found.setdefault(controller, where)
    return found


def _ours(segment: str, name: str) -> bool:
    rest = segment.removeprefix(PAYLOAD_PREFIX + name)
    return rest != segment and (rest == "" or (rest[0] == "-" and rest[1:].isdigit()))


def keyed(text: str) -> dict[str, int]:
    """A flat keyed file (memory.stat, cpu.stat): `key value` lines; others skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def number(text: str | None) -> int | None:
    """A single-value cgroup file (memory.current, pids.current); None for "max", absent
    or unreadable."""
    if text is None:
        return None
    value = text.strip()
    return int(value) if value.isdigit() else None


def v1_limit(text: str | None) -> int | None:
    value = number(text)
    return None if value is None or value >= _NO_LIMIT_V1 else value


def working_set(usage: int | None, stat: Mapping[str, int], inactive_key: str) -> int | None:
    """usage less the droppable page cache (v1: total_inactive_file, v2: inactive_file)."""
    if usage is None:
        return None
    return max(0, usage - stat.get(inactive_key, 0))


# Where the host's interfaces show their counters.
SYS_NET = Path("/sys/class/net")
_IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")


def veth_bytes(host_ends: Sequence[str]) -> tuple[int, int] | None:
    """Bytes the container received and sent through its veth interfaces, counted at
    their host ends (what the host's end sent, the container received): never from inside
    its namespace, where its root could move an interface away or reset it. None when one
    of them cannot be read (the container stopping)."""
    rx = tx = 0
    for end in host_ends:
        if not _IFNAME.fullmatch(end) or end in (".", ".."):
            return None
        sent = number(_text(SYS_NET / end / "statistics" / "tx_bytes"))
        got = number(_text(SYS_NET / end / "statistics" / "rx_bytes"))
        if sent is None or got is None:
            return None
        rx += sent
        tx += got
    return rx, tx
