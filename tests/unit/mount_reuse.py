"""A pid reused under a pinned container init, for live mounts: run in a fresh PID namespace.

    unshare --pid --fork --mount-proc python -m tests.unit.mount_reuse TARGET SOURCE

As PID 1 of its own namespace nothing else forks there, so after the first process exits,
setting ns_last_pid makes the second one take exactly its pid. Each process has a mount
namespace of its own with a tmpfs on TARGET. With the first one pinned (what `mount add`
and `mount rm` hold on a running container's init), the unmount, the mount and the check
lxcprov makes are tried against the second one. Prints one line of JSON: what each did,
and whether the second process's tmpfs is still there and alone on TARGET afterwards.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

from lxcprov.errors import MountError
from lxcprov.system import livemount
from tests.unit.pid_reuse import held

_CLONE_NEWNS = 0x20000
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def with_mount(target: str) -> tuple[int, int]:
    """A child in a mount namespace of its own with a tmpfs on target; it lives until the
    returned pipe end is closed."""

    def mount() -> None:
        libc = _libc()
        assert libc.unshare(_CLONE_NEWNS) == 0
        assert libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
        assert libc.mount(b"reuse", target.encode(), b"tmpfs", 0, None) == 0

    return held(mount)


def _mounts_on(pid: int, target: str) -> list[str]:
    """The mounts on target in pid's namespace, as "FSTYPE SOURCE", bottom first."""
    found = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        head, _, tail = line.partition(" - ")
        if head.split()[4] == target:
            found.append(" ".join(tail.split()[:2]))
    return found


def _try(what: object) -> str:
    try:
        what()  # type: ignore[operator]
    except MountError as exc:
        return exc.message
    return "done"


def main() -> None:
    target, source = sys.argv[1:3]
    first, first_end = with_mount(target)
    pidfd = livemount.pin(first)
    seen_before = livemount.mounted_in(pidfd, target)
    os.close(first_end)
    os.waitpid(first, 0)  # gone and reaped: its pid is free
    Path("/proc/sys/kernel/ns_last_pid").write_text(str(first - 1))
    second, second_end = with_mount(target)
    result: dict[str, object] = {"first": first, "second": second, "before": seen_before}
    result["mounted_in"] = livemount.mounted_in(pidfd, target)
    result["detach"] = _try(lambda: livemount.detach(pidfd, target))
    source_fd = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    tree = livemount.detached(source_fd, ro=True, userns_fd=None)
    os.close(source_fd)
    result["attach"] = _try(lambda: livemount.attach(pidfd, tree, target))
    result["second_mounts"] = _mounts_on(second, target)
    os.close(pidfd)
    os.close(second_end)
    os.waitpid(second, 0)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
