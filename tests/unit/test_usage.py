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


def _veth(sys_net: Path, name: str, rx: int, tx: int) -> None:
    stats = sys_net / name / "statistics"
    stats.mkdir(parents=True)
    (stats / "rx_bytes").write_text(f"{rx}\n")
    (stats / "tx_bytes").write_text(f"{tx}\n")


def test_network_bytes_are_counted_at_the_host_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "SYS_NET", tmp_path)
    _veth(tmp_path, "lxp1", rx=100, tx=5000)  # the host's end sent 5000: the container got them
    _veth(tmp_path, "lxp2", rx=7, tx=30)
    assert usage.veth_bytes(["lxp1", "lxp2"]) == (5030, 107)
    assert usage.veth_bytes([]) == (0, 0), "only empty interfaces: nothing through them"
    assert usage.veth_bytes(["lxp1", "gone"]) is None, "stopping: not a half figure"
    for bad in ("..", "a/b", "x" * 16, ""):
        assert usage.veth_bytes([bad]) is None


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


def test_a_directory_swapped_for_a_link_after_it_was_listed_is_not_entered(
    tmp_path: Path,
) -> None:
    """The outside review raced it: a directory listed as one, then replaced by a symlink to
    a host directory before it was entered. Entering opens the name from its parent's
    descriptor with O_NOFOLLOW, so the swap is refused (as if the walk lost the race)."""
    parent = tmp_path / "rootfs"
    parent.mkdir()
    host = tmp_path / "host"
    host.mkdir()
    (host / "big").write_bytes(b"z" * 2_000_000)
    (parent / "x").symlink_to(host)  # what the name is by the time the walk enters it
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dev = os.fstat(fd).st_dev
        assert usage._subdir_bytes(fd, "x", dev, set(), 1) == 0
    finally:
        os.close(fd)


def test_a_tree_deeper_than_the_limit_is_counted_down_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "MAX_DEPTH", 3)
    deep = tmp_path / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"q" * 1_000_000)
    counted = usage.tree_bytes(tmp_path / "a")
    assert counted is not None and counted < 1_000_000, "d is below the limit: not entered"
