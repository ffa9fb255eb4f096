"""Many `new`s at once: each in its own lxcprov process, so one failure spoils nothing.

The first of them to need a base builds it (under the base's lock) while the others
wait for it; static addresses come from the bridge's locked address book, so they never
collide however many run at the same time.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxcprov.errors import InvalidArgumentError, LxcprovError
from lxcprov.ops.request import NewRequest
from lxcprov.system import lxc, run


@dataclass
class Item:
    name: str
    state: str = "waiting"  # waiting, running, done, failed
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0


def child_argv(req: NewRequest) -> list[str]:
    """The `lxcprov new` command line that makes req, for one child process."""
    head = [sys.executable, "-m", "lxcprov", "--lxcpath", str(req.lxcpath)]
    # The child always reports in JSON; its boot timeout is spelled out (a child's
    # default may differ from ours one day).
    return [*head, *req.argv(extra=("--json", "--boot-timeout", f"{req.boot_timeout:g}"))]


def _running(c: lxc.Container) -> bool:
    try:
        return c.running()
    except LxcprovError:
        return False  # one container LXC cannot load does not stop the others


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    return lines[-1].removeprefix("error:").strip() if lines else stderr.strip()[-300:]


def new_many(
    reqs: list[NewRequest],
    on_update: Callable[[list[Item]], None],
    *,
    jobs: int = 16,
    warn: Callable[[str], None] = lambda _msg: None,
) -> list[Item]:
    if len({r.name for r in reqs}) != len(reqs):
        raise InvalidArgumentError("the same container name is given twice")
    static = [r.ip for r in reqs if r.ip and r.ip != "auto"]
    if static:
        raise InvalidArgumentError(
            "one static --ip for several containers", hint="use --ip auto, or one new per address"
        )
    items = [Item(r.name) for r in reqs]
    capacity = lxc.inotify_capacity()
    running_now = sum(1 for c in lxc.list_containers(reqs[0].lxcpath) if _running(c))
    if capacity is not None and running_now + len(reqs) > capacity:
        warn(
            f"{running_now} containers run and {len(reqs)} more are coming, but"
            f" fs.inotify.max_user_instances lets about {capacity} systemd containers boot;"
            " raise it first: sysctl -w fs.inotify.max_user_instances=1024"
        )
    running: dict[int, tuple[Any, float]] = {}
    pending = list(range(len(reqs)))
    while pending or running:
        while pending and len(running) < jobs:
            i = pending.pop(0)
            running[i] = (run.spawn(child_argv(reqs[i])), time.monotonic())
            items[i].state = "running"
        on_update(items)
        time.sleep(0.1)
        for i, (proc, started) in list(running.items()):
            if proc.poll() is None:
                continue
            out, err = proc.communicate()
            items[i].seconds = time.monotonic() - started
            del running[i]
            if proc.returncode == 0:
                items[i].state = "done"
                items[i].result = json.loads(out)
            else:
                items[i].state = "failed"
                items[i].error = _error_line(err)
    on_update(items)
    return items
