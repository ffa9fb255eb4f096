"""`stop` and `stop --all`: a clean shutdown, then a kill after 30 s.

Its own module so that `lxcprov stop` loads only locks and liblxc (start and destroy,
in lifecycle.py, bring doctor, mounts and recovery with them): stop's cost over
`lxc-stop` is then Python's start and little else.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lxcprov.errors import LxcprovError
from lxcprov.system import locks, lxc

# How many containers are shut down at a time (each mostly waits for its init).
AT_ONCE = 16


def stop(container: lxc.Container) -> str:
    """Stop it (clean shutdown, then kill after 30 s); returns the state after."""
    lxc.require_root()
    with locks.container(container.lxcpath, container.name, "stop"):
        container.require()
        container.stop()
        locks.note_stop(container.lxcpath, container.name)  # for a start waiting on its boot
        return container.state()


def stop_all(lxcpath: Path) -> list[tuple[str, str]]:
    """Stop every running container of lxcpath at once (what the host's shutdown runs);
    (name, state after or the error) each, in name order."""
    lxc.require_root()
    running = [c for c in lxc.list_containers(lxcpath) if c.running()]

    def one(c: lxc.Container) -> tuple[str, str]:
        try:
            return c.name, stop(c)
        except LxcprovError as exc:
            return c.name, f"not stopped: {exc.message}"

    if not running:
        return []
    with ThreadPoolExecutor(max_workers=min(AT_ONCE, len(running))) as pool:
        return list(pool.map(one, running))
