"""This host's cgroup layout: v1, v2 or hybrid, and which controllers each side has.

LXC writes `lxc.cgroup.<file>` for a controller on a v1 hierarchy and
`lxc.cgroup2.<file>` for one on the unified (v2) hierarchy; on a hybrid host each
controller lives on exactly one side. Parsing is pure (text of /proc/self/mountinfo,
/proc/cgroups and the unified root's cgroup.controllers) so tests can feed any host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Layout = Literal["v1", "v2", "hybrid", "none"]


@dataclass(frozen=True)
class CgroupHost:
    layout: Layout
    v1: frozenset[str] = frozenset()  # controllers mounted on a v1 hierarchy
    v2: frozenset[str] = frozenset()  # controllers available on the unified hierarchy
    v1_root: str = "/sys/fs/cgroup"
    v2_root: str = ""  # where the unified hierarchy is mounted ("" if nowhere)
    # v1 memory.memsw.* exists only with swap accounting (kernel swapaccount=1).
    swap_accounting: bool = False
    notes: tuple[str, ...] = field(default=())

    def version_of(self, controller: str) -> int | None:
        """1 or 2: the hierarchy LXC uses for controller here; None if the host lacks it."""
        if controller in self.v1:
            return 1
        if controller in self.v2:
            return 2
        return None

    def describe(self) -> str:
        parts = []
        if self.v1:
            parts.append("v1: " + ", ".join(sorted(self.v1)))
        if self.v2:
            parts.append("v2: " + ", ".join(sorted(self.v2)))
        return f"cgroup {self.layout} ({'; '.join(parts) or 'no controllers'})"


def parse(mountinfo: str, proc_cgroups: str, v2_controllers: str | None) -> CgroupHost:
    """The layout from mountinfo; v2_controllers is the unified root's cgroup.controllers."""
    v1: set[str] = set()
    v1_root = "/sys/fs/cgroup"
    v2_root = ""
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields = pre.split()
        tail = post.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, mount_point, options = tail[0], fields[4], tail[2].split(",")
        if fstype == "cgroup2":
            v2_root = v2_root or mount_point
        elif fstype == "cgroup":
            ctrls = [o for o in options if o not in ("rw", "ro") and not o.startswith("name=")]
            ctrls = [c for c in ctrls if "=" not in c and c not in _V1_MOUNT_OPTIONS]
            v1.update(ctrls)
            if ctrls:
                v1_root = str(Path(mount_point).parent)
    enabled = _enabled(proc_cgroups)
    if enabled is not None:
        v1 &= enabled
    v2 = set((v2_controllers or "").split()) if v2_root else set()
    v2 -= v1  # a controller bound to a v1 hierarchy cannot be used on v2
    layout: Layout
    if v1 and v2_root:
        layout = "hybrid"
    elif v1:
        layout = "v1"
    elif v2_root:
        layout = "v2"
    else:
        layout = "none"
    return CgroupHost(layout, frozenset(v1), frozenset(v2), v1_root, v2_root)


# Mount options of a v1 cgroup mount that are not controller names.
_V1_MOUNT_OPTIONS = frozenset(
    {"relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "xattr", "noprefix"}
)


def _enabled(proc_cgroups: str) -> set[str] | None:
    """Controllers the kernel has enabled (/proc/cgroups); None when the text says nothing."""
    names: set[str] = set()
    seen = False
    for line in proc_cgroups.splitlines():
        if line.startswith("#"):
            continue
        cols = line.split()
        if len(cols) >= 4:
            seen = True
            if cols[3] == "1":
                names.add(cols[0])
    return names if seen else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def detect() -> CgroupHost:
    """The running host's layout (read-only)."""
    mountinfo = _read("/proc/self/mountinfo") or ""
    first = parse(mountinfo, _read("/proc/cgroups") or "", None)
    v2 = _read(f"{first.v2_root}/cgroup.controllers") if first.v2_root else None
    host = parse(mountinfo, _read("/proc/cgroups") or "", v2)
    swap = False
    if "memory" in host.v1:
        swap = Path(f"{host.v1_root}/memory/memory.memsw.limit_in_bytes").exists()
    elif "memory" in host.v2:
        swap = True  # memory.swap.max exists whenever the v2 memory controller does
    return CgroupHost(
        host.layout, host.v1, host.v2, host.v1_root, host.v2_root, swap_accounting=swap
    )
