"""Many containers at once: autostart's order groups, and results said in the order they
end while the list keeps the order given."""

from __future__ import annotations

import threading
from pathlib import Path

from lxcprov.ops import startorder, targets
from lxcprov.system import lxc

P = Path("/var/lib/x")


def test_groups_lower_order_first_each_in_name_order() -> None:
    items = [("web2", 10), ("db", 0), ("web1", 10), ("cache", 0), ("late", 99)]
    got = startorder.groups(items, order=lambda i: i[1], name=lambda i: i[0])
    assert [(g.order, [i[0] for i in g.members]) for g in got] == [
        (0, ["cache", "db"]), (10, ["web1", "web2"]), (99, ["late"]),
    ]  # fmt: skip
    # Nobody sets an order: one group, all at once.
    assert len(startorder.groups(["a", "b", "c"], lambda _i: 0, str)) == 1
    assert startorder.groups([], lambda _i: 0, str) == []


def test_the_wait_after_a_group_is_its_longest_delay() -> None:
    assert startorder.delay_after([0, 5, 2]) == 5
    assert startorder.delay_after([0, 0]) == 0
    assert startorder.delay_after([]) == 0
    assert startorder.delay_after([-3]) == 0  # nonsense in a config waits for nothing


def test_at_once_results_are_said_as_they_end_and_listed_as_given() -> None:
    # "slow" ends only once "fast" has been said: run one after another, it never would.
    # (Waiting for fast's work to have returned is not enough: both threads may then end
    # in either order before the results are collected, as a loaded CI machine showed.)
    fast_said = threading.Event()

    def work(c: lxc.Container) -> str:
        if c.name == "slow":
            assert fast_said.wait(10), "the two ran one after another"
        return c.name

    said: list[str] = []

    def on_done(d: targets.Done[str]) -> None:
        said.append(d.name)
        if d.name == "fast":
            fast_said.set()

    containers = [lxc.Container("slow", P), lxc.Container("fast", P)]
    done = targets.each(containers, work, at_once=2, on_done=on_done)
    assert said == ["fast", "slow"]
    assert [d.name for d in done] == ["slow", "fast"]
    assert all(d.ok for d in done)
