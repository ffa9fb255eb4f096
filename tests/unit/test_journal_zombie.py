"""A command that was killed but not yet reaped (a zombie: its parent died too, and PID 1
reaps late) is not at work any more: its journal is a killed command's."""

from __future__ import annotations

import os
import time

from lxcprov.system import journal


def test_a_zombie_is_not_alive() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only exits
        os._exit(0)
    try:
        start = journal.process_start(pid)
        assert start is not None
        deadline = time.monotonic() + 10
        while journal.alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.01)  # until it has exited (and waits, unreaped, as a zombie)
        assert journal.process_start(pid) == start, "still there, unreaped"
        assert not journal.alive(pid, start)
    finally:
        os.waitpid(pid, 0)
    assert journal.alive(os.getpid(), journal.process_start(os.getpid()) or 0)
