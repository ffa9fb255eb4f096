"""A pid reused under a pinned Rootfs, for real: run inside a fresh PID namespace.

    unshare --pid --fork --mount-proc python -m tests.unit.pid_reuse FIRST_ROOT SECOND_ROOT

As PID 1 of its own namespace nothing else forks there, so after the first process exits,
setting ns_last_pid makes the second one take exactly its pid. Prints one line of JSON:
what the pinned Rootfs read before and after, and what /proc/PID/root reached by number.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from lxcprov.errors import RootfsError
from lxcprov.system.rootfs import Rootfs


def held(setup: Callable[[], None]) -> tuple[int, int]:
    """A child that has run setup (once this returns); it lives until the returned pipe
    end is closed. Also the child of tests.unit.mount_reuse."""
    hold_r, hold_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(hold_w)
            os.close(ready_r)
            setup()
            os.write(ready_w, b".")
            os.read(hold_r, 1)
        finally:
            os._exit(0)
    os.close(hold_r)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b".", "the child's setup failed"
    os.close(ready_r)
    return pid, hold_w


def chrooted(root: str) -> tuple[int, int]:
    """A child whose root is root (once this returns); see held."""

    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    return held(enter)


def main() -> None:
    first_root, second_root = sys.argv[1:3]
    first, first_end = chrooted(first_root)
    with Rootfs.of_process(first) as rootfs:
        before = rootfs.read_text("/etc/hostname")
        os.close(first_end)
        os.waitpid(first, 0)  # gone and reaped: its pid is free
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(first - 1))
        second, second_end = chrooted(second_root)
        after: str | None = None
        error = ""
        try:
            after = rootfs.read_text("/etc/hostname")
        except RootfsError as exc:
            error = exc.message
    # What opening the root again by number would have read (lxcprov did that before).
    by_number = Path(f"/proc/{first}/root/etc/hostname").read_text()
    os.close(second_end)
    os.waitpid(second, 0)
    result = {
        "first": first,
        "second": second,
        "before": before,
        "after": after,
        "error": error,
        "by_number": by_number,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
