"""start --all's wait after a group, for a container another run has just started (outside
review: two `start --all` at once, and the second skipped the delay)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any, cast

from lxcprov.ops import autostart


@dataclass
class _Handle:
    delay: str
    init_pid: int

    def get_config_item(self, key: str) -> str:
        return self.delay if key == "lxc.start.delay" else ""


@dataclass
class _Container:
    handle: _Handle


def _left(delay: str, status: str, pid: int) -> int:
    return autostart._delay_left(cast(Any, _Container(_Handle(delay, pid))), status)


def test_one_this_run_started_waits_its_whole_delay() -> None:
    assert _left("30", "started", os.getpid()) == 30


def test_one_already_running_waits_what_is_left_since_its_init_started() -> None:
    # A process started just now stands for the init: nearly all of an hour is left.
    # (Not this test's own process: a test worker may have run for many minutes.)
    init = subprocess.Popen(["sleep", "30"])
    try:
        left = _left("3600", "already running", init.pid)
    finally:
        init.kill()
        init.wait()
    assert 3500 < left <= 3600
    assert _left("3600", "already running", 1) < 3600  # pid 1 started long before


def test_no_delay_or_no_init_waits_nothing() -> None:
    assert _left("0", "started", os.getpid()) == 0
    assert _left("30", "failed", -1) == 0
