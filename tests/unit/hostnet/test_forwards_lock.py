"""forwards.locked(): re-entrant within a thread (forward add holds it around the net
setup that takes it again), exclusive between threads and processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lxcprov.system.hostnet import forwards


def test_locked_is_reentrant_in_a_thread_and_exclusive_between_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path))
    order: list[str] = []

    def other() -> None:
        with forwards.locked():
            order.append("other")

    with forwards.locked():
        with forwards.locked():  # again, same thread: no deadlock
            order.append("inner")
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("outer end")  # the other thread has not got in meanwhile
    thread.join(10)
    assert order == ["inner", "outer end", "other"]
