"""What a container uses: the kernel's text parsed (v1, v2, hybrid), CPU% between two
readings, the `stats --json` shape, the table cells and top's order, the disk walk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxcprov.cli import usage_view
from lxcprov.engine.usage import Stats, cpu_percent
from lxcprov.system import usage
from lxcprov.system.usage import Reading

HYBRID = """\
12:pids:/lxc.payload.web/init.scope
11:memory:/lxc.payload.web/init.scope
3:cpu,cpuacct:/lxc.payload.web
1:name=systemd:/lxc.payload.web/init.scope
0::/lxc.payload.web/init.scope
"""


def test_the_payload_cgroup_is_cut_where_the_container_begins() -> None:
    assert usage.payload_cgroups(HYBRID, "web") == {
        "pids": "/lxc.payload.web",
        "memory": "/lxc.payload.web",
        "cpu": "/lxc.payload.web",
        "cpuacct": "/lxc.payload.web",
        "": "/lxc.payload.web",
    }


def test_a_payload_below_the_callers_cgroup_keeps_its_prefix() -> None:
    text = "4:memory:/process_api/abc/lxc.payload.db-2/x\n"
    assert usage.payload_cgroups(text, "db") == {"memory": "/process_api/abc/lxc.payload.db-2"}


@pytest.mark.parametrize(
    "text",
    [
        "4:memory:/lxc.payload.web2\n",  # another container whose name starts the same
        "4:memory:/lxc.payload.web-x\n",  # not LXC's -N
        "4:memory:/lxc.monitor.web\n",  # the monitor, not the container
        "4:memory:/\n",  # not in a container
        "4:memory:/../lxc.payload.web\n",
        "garbage\n",
    ],
)
def test_a_cgroup_that_is_not_this_containers_is_not_read(text: str) -> None:
    assert usage.payload_cgroups(text, "web") == {}


def test_the_first_line_of_a_hierarchy_wins() -> None:
    text = "4:memory:/lxc.payload.web\n4:memory:/lxc.payload.web-1\n"
    assert usage.payload_cgroups(text, "web") == {"memory": "/lxc.payload.web"}


def test_keyed_and_single_values() -> None:
    assert usage.keyed("usage_usec 1500\nuser_usec 10\nnr_periods x\n") == {
        "usage_usec": 1500,
        "user_usec": 10,
    }
    assert usage.number("4096\n") == 4096
    assert usage.number("max\n") is None
    assert usage.number(None) is None
    assert usage.v1_limit("9223372036854771712\n") is None
    assert usage.v1_limit("536870912\n") == 536870912


def test_the_working_set_leaves_out_the_droppable_cache() -> None:
    stat = {"total_inactive_file": 300, "inactive_file": 100}
    assert usage.working_set(1000, stat, "total_inactive_file") == 700
    assert usage.working_set(1000, stat, "inactive_file") == 900
    assert usage.working_set(50, stat, "total_inactive_file") == 0
    assert usage.working_set(None, stat, "inactive_file") is None


def _dev_line(name: str, rx: int, tx: int) -> str:
    """A line of /proc/PID/net/dev: 8 receive counters, then 8 transmit ones."""
    return f"{name:>6}: {rx:>8} 7 0 0 0 0 0 0 {tx:>8} 21 0 0 0 0 0 0"


NET_DEV = "\n".join([
    "Inter-|   Receive                                                |  Transmit",
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets ...",
    _dev_line("lo", 139052381, 139052381),
    _dev_line("eth0", 1000, 2000),
    _dev_line("lxve17c2df4413b", 586, 2282),  # a name of 15: no space after its colon
])  # fmt: skip


def test_network_bytes_are_every_interface_but_loopback() -> None:
    assert usage.net_dev(NET_DEV) == (1586, 4282)
    assert usage.net_dev("") is None
    assert usage.net_dev("not\na table\n") is None


def test_cpu_percent_is_of_one_core_over_the_interval() -> None:
    before = Reading(at=10.0, cpu_ns=1_000_000_000)
    assert cpu_percent(before, Reading(at=12.0, cpu_ns=3_000_000_000)) == pytest.approx(100.0)
    assert cpu_percent(before, Reading(at=11.0, cpu_ns=3_000_000_000)) == pytest.approx(200.0)
    assert cpu_percent(None, before) is None
    assert cpu_percent(before, Reading(at=10.0, cpu_ns=2)) is None  # no time passed
    assert cpu_percent(before, Reading(at=12.0, cpu_ns=5)) is None  # restarted: counter reset


def test_the_json_of_a_running_and_a_stopped_container() -> None:
    running = Stats(
        "web",
        "RUNNING",
        Reading(at=1.0, cpu_ns=2_500_000_000, memory_used=64 << 20, memory_limit=512 << 20,
                swap_used=0, pids=7, rx_bytes=10, tx_bytes=20, uptime=61.26),
        cpu_percent=12.345,
        disk_used=4096,
    )  # fmt: skip
    assert running.as_dict() == {
        "name": "web",
        "state": "RUNNING",
        "cpu": {"seconds": 2.5, "percent": 12.3},
        "memory": {"used": 64 << 20, "limit": 512 << 20, "swap_used": 0},
        "pids": 7,
        "disk": {"used": 4096, "limit": None},
        "network": {"rx_bytes": 10, "tx_bytes": 20},
        "uptime": 61.3,
    }
    stopped = Stats("db", "STOPPED", disk_used=100, disk_limit=1 << 30).as_dict()
    assert stopped["cpu"] == {"seconds": None, "percent": None}
    assert stopped["memory"] == {"used": None, "limit": None, "swap_used": None}
    assert stopped["disk"] == {"used": 100, "limit": 1 << 30}
    assert stopped["pids"] is None and stopped["uptime"] is None


def test_cells_and_order() -> None:
    busy = Stats("b", "RUNNING", Reading(at=0, memory_used=10 << 20, uptime=3700), 150.0)
    idle = Stats("a", "RUNNING", Reading(at=0, memory_used=90 << 20, uptime=5), 1.0)
    off = Stats("c", "STOPPED")
    cells = usage_view.cells(busy)
    assert cells["cpu%"] == "150.0" and cells["memory"] == "10M" and cells["uptime"] == "1h1m"
    assert usage_view.cells(off)["memory"] == "" and usage_view.cells(off)["pids"] == ""
    assert [s.name for s in usage_view.ordered([idle, off, busy], "cpu%")] == ["b", "a", "c"]
    assert [s.name for s in usage_view.ordered([idle, off, busy], "memory")] == ["a", "b", "c"]
    assert [s.name for s in usage_view.ordered([idle, off, busy], "name")] == ["a", "b", "c"]
    assert usage_view.memory_cell(1 << 20, 1 << 30) == "1M/1G"
    assert usage_view.duration(2 * 86400 + 7200) == "2d2h" and usage_view.duration(42) == "42s"


def test_the_disk_walk_counts_blocks_once_and_follows_no_link(tmp_path: Path) -> None:
    top = tmp_path / "rootfs"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "data").write_bytes(b"x" * 1_000_000)
    os.link(top / "etc" / "data", top / "etc" / "hardlink")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"y" * 5_000_000)
    (top / "escape").symlink_to(outside)  # a container's link to the host: never followed
    total = usage.tree_bytes(top)
    assert total is not None
    data = os.stat(top / "etc" / "data").st_blocks * 512
    assert data <= total < data + 64 * 1024, "the file once, the escape's target never"
    assert usage.tree_bytes(tmp_path / "missing") is None
    assert usage.tree_bytes(top / "escape") is None, "a symlink as the top is not walked"
