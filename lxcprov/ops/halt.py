"""`stop` and `stop --all`: a clean shutdown, then a kill after 30 s.

Its own module so that `lxcprov stop` loads only locks and liblxc (start and destroy,
in lifecycle.py, bring doctor, mounts and recovery with them): stop's cost over
`lxc-stop` is then Python's start and little else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxcprov.errors import LxcprovError
from lxcprov.ops import targets
from lxcprov.system import locks, lxc, monitors, sharestage

# How many containers are shut down at a time. A clean shutdown is the container's init
# doing its work while lxcprov waits (a busybox one takes 2.5 s whatever the host does,
# lxc-stop uses no CPU meanwhile): each one here costs a thread, an lxc-stop process of
# about 1 MB and a few descriptors, nothing that grows with the container. 16 at a time
# put 200 busybox containers at 13 rounds of 2.5 s; 128 makes it two, and still keeps a
# host with thousands well inside its pid and descriptor limits (a unit's TasksMax is
# 4915 by default).
AT_ONCE = 128


def stop(container: lxc.Container) -> str:
    """Stop it (clean shutdown, then kill after 30 s); returns the state after."""
    lxc.require_root()
    with locks.container(container.lxcpath, container.name, "stop"):
        container.require()
        container.stop()
        locks.note_stop(container.lxcpath, container.name)  # for a start waiting on its boot
        sharestage.clear_left(container.lxcpath, container.name)  # a killed start's, if any
        return container.state()


def _running(c: lxc.Container) -> bool:
    """Running, or might be: one container LXC cannot load never stops the others being
    stopped (at the host's shutdown above all); it is asked by its monitor."""
    try:
        return c.running()
    except LxcprovError:
        return bool(monitors.monitor_pids(c.lxcpath, c.name))


def stop_all(
    lxcpath: Path, on_done: Callable[[str, str], None] = lambda _name, _state: None
) -> list[tuple[str, str]]:
    """Stop every running container of lxcpath at once (what the host's shutdown runs);
    (name, state after or the error) each, in name order. on_done hears each as it ends."""
    lxc.require_root()
    running = [c for c in lxc.list_containers(lxcpath) if _running(c)]

    def one(c: lxc.Container) -> str:
        try:
            return stop(c)
        except LxcprovError as exc:
            if not monitors.monitor_pids(c.lxcpath, c.name):
                return f"not stopped: {exc.message}"
            # A config LXC cannot load (lxc-stop cannot open it) of a container that
            # runs: at the host's shutdown, its init is killed rather than left running.
            with locks.container(c.lxcpath, c.name, "stop --all"):
                monitors.kill(c.lxcpath, c.name)
            if monitors.monitor_pids(c.lxcpath, c.name):
                return f"not stopped: {exc.message}"
            return "STOPPED (killed: LXC cannot load its config)"

    def said(done: targets.Done[str]) -> None:
        on_done(done.name, done.result or "")

    ended = targets.each(running, one, at_once=AT_ONCE, on_done=said)
    return [(d.name, d.result or "") for d in ended]
