"""Freeze a running container while its files are copied, so the copy is one instant.

Through the container's freezer cgroup directly (v1 `freezer.state`, v2 `cgroup.freeze`):
liblxc's own freeze() sleeps a whole second before it looks whether the container is
frozen (measured here: 1.00 s, against under a millisecond this way). A command killed
while the container is frozen leaves it frozen: its journal says so, and `thaw()` (which
is harmless on a container that is not frozen) is part of undoing it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from lxcprov.errors import LxcprovError
from lxcprov.system import cgroups, lxc

_WAIT = 10.0  # a container whose tasks do not freeze in this time is not copied frozen


def _v2() -> bool:
    return cgroups.detect().version_of("freezer") != 1


def _frozen(container: lxc.Container, v2: bool) -> bool:
    handle = container.handle
    # python3-lxc raises KeyError for a cgroup file it cannot read, and ValueError ("Unable
    # to read config value") when liblxc's read fails, seen under load while the tasks
    # freeze: not frozen yet, asked again until the deadline (then thawed and said).
    try:
        if v2:
            return "frozen 1" in (handle.get_cgroup_item("cgroup.events") or "")
        return bool(handle.get_cgroup_item("freezer.state") == "FROZEN")
    except (KeyError, ValueError):
        return False


def is_frozen(container: lxc.Container) -> bool:
    """Frozen through its cgroup (LXC may still call it RUNNING): nothing in it runs."""
    return _frozen(container, _v2())


def freeze(container: lxc.Container) -> None:
    v2 = _v2()
    handle = container.handle
    ok = handle.set_cgroup_item(*(("cgroup.freeze", "1") if v2 else ("freezer.state", "FROZEN")))
    deadline = time.monotonic() + _WAIT
    while ok and not _frozen(container, v2):
        if time.monotonic() > deadline:
            ok = False
            break
        time.sleep(0.005)
    if not ok:
        thaw(container)
        raise LxcprovError(
            f"{container.name} could not be frozen for a consistent copy",
            hint=f"stop it first (lxcprov stop {container.name}), then run this again",
        )


def thaw(container: lxc.Container) -> None:
    """Let a frozen container run again (nothing happens to one that is not frozen)."""
    with contextlib.suppress(LxcprovError):
        if not container.running():
            return
        v2 = _v2()
        container.handle.set_cgroup_item(
            *(("cgroup.freeze", "0") if v2 else ("freezer.state", "THAWED"))
        )


@contextlib.contextmanager
def frozen(container: lxc.Container) -> Iterator[None]:
    try:  # a Ctrl-C while it waits for the tasks to freeze thaws it too
        freeze(container)
        yield
    finally:
        thaw(container)
