"""Settings become the right LXC keys for each cgroup layout; bad values are refused."""

from __future__ import annotations

import pytest

from lxcprov.engine import settings_table as settings
from lxcprov.engine import sizes
from lxcprov.errors import InvalidArgumentError
from lxcprov.system import lxcconf
from lxcprov.system.cgroups import CgroupHost

V1 = CgroupHost("hybrid", frozenset({"memory", "cpu", "cpuset"}), swap_accounting=True)
V2 = CgroupHost("v2", v2=frozenset({"memory", "cpu", "cpuset"}), v2_root="/sys/fs/cgroup")
BARE = CgroupHost("v1", frozenset({"cpu"}))


def ctx(host: CgroupHost, text: str = "", **pending: str) -> settings.Ctx:
    return settings.Ctx(host, lxcconf.parse(text), dict(pending))


@pytest.mark.parametrize(
    ("raw", "size"),
    [("512M", 512 * 1024**2), ("1G", 1024**3), ("1.5G", 3 * 512 * 1024**2), ("2GiB", 2 << 30)],
)
def test_sizes(raw: str, size: int) -> None:
    assert sizes.parse_size("memory", raw) == size
    assert sizes.parse_size("memory", "none") is None


def test_format_size() -> None:
    assert sizes.format_size(512 * 1024**2) == "512M"
    assert sizes.format_size(1536 * 1024**2) == "1536M"
    assert sizes.format_size(1000) == "1000"


def test_memory_v1_and_v2() -> None:
    w = settings.memory("512M", ctx(V1))
    assert w.keys == {
        "lxc.cgroup.memory.limit_in_bytes": "536870912",
        "lxc.cgroup.memory.memsw.limit_in_bytes": None,
    }
    assert w.display == "512M" and w.live
    w2 = settings.memory("512M", ctx(V2))
    assert w2.keys["lxc.cgroup2.memory.max"] == "536870912"


def test_swap_v1_is_memory_plus_swap() -> None:
    w = settings.swap("256M", ctx(V1, memory="512M"))
    assert w.keys["lxc.cgroup.memory.memsw.limit_in_bytes"] == str(768 * 1024**2)
    with pytest.raises(InvalidArgumentError, match="needs a memory limit"):
        settings.swap("256M", ctx(V1))
    w2 = settings.swap("256M", ctx(V2))
    assert w2.keys["lxc.cgroup2.memory.swap.max"] == str(256 * 1024**2)


def test_memory_keeps_the_swap_already_set() -> None:
    text = (
        "lxc.cgroup.memory.limit_in_bytes = 536870912\n"
        "lxc.cgroup.memory.memsw.limit_in_bytes = 805306368\n"
    )
    w = settings.memory("1G", ctx(V1, text))
    assert w.keys["lxc.cgroup.memory.memsw.limit_in_bytes"] == str(1024**3 + 256 * 1024**2)


def test_missing_controller_says_what_is_missing_and_what_works() -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        settings.memory("512M", ctx(BARE))
    assert "no memory cgroup controller" in exc.value.message
    assert "cpus" in exc.value.hint and "hostname" in exc.value.hint


def test_cpus_count_and_pinning() -> None:
    w = settings.cpus("1", ctx(V1))
    assert w.keys["lxc.cgroup.cpu.cfs_quota_us"] == "100000"
    assert w.keys["lxc.cgroup.cpu.cfs_period_us"] == "100000"
    assert settings.cpus("0.5", ctx(V2)).keys == {"lxc.cgroup2.cpu.max": "50000 100000"}
    pinned = settings.cpus("0-0", ctx(V1, "lxc.cgroup.cpu.cfs_quota_us = 100000\n"))
    assert pinned.keys == {
        "lxc.cgroup.cpuset.cpus": "0-0",
        "lxc.cgroup.cpu.cfs_quota_us": None,
    }


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("memory", "lots"),
        ("memory", "1K"),
        ("cpus", "-1"),
        ("cpus", "0"),
        ("cpus", "999"),
        ("cpus", "0-999"),
        ("cpu-weight", "0"),
        ("cpu-weight", "x"),
        ("autostart", "maybe"),
        ("hostname", "bad_name!"),
        ("ttys", "-2"),
        ("ttys", "100"),
    ],
)
def test_bad_values_are_one_clear_line(name: str, raw: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        settings.SETTINGS[name].compute(raw, ctx(V1))
    assert "\n" not in exc.value.message and exc.value.message.startswith(name)
    assert exc.value.hint


def test_cpu_weight_is_shares_on_v1() -> None:
    assert settings.cpu_weight("50", ctx(V1)).keys == {"lxc.cgroup.cpu.shares": "512"}
    assert settings.cpu_weight("50", ctx(V2)).keys == {"lxc.cgroup2.cpu.weight": "50"}


def test_plain_settings() -> None:
    assert settings.autostart("yes", ctx(V1)).keys == {"lxc.start.auto": "1"}
    assert settings.hostname("web.example", ctx(V1)).keys == {"lxc.uts.name": "web.example"}
    w = settings.ttys("2", ctx(V1))
    assert w.keys == {"lxc.tty.max": "2"} and w.roles == (
        "console",
        "tty-devices",
        "root-terminals",
    )


def test_assignments() -> None:
    assert settings.parse_assignments(["memory=512M", "CPU_WEIGHT=10"]) == {
        "memory": "512M",
        "cpu-weight": "10",
    }
    with pytest.raises(InvalidArgumentError, match="unknown setting 'colour'"):
        settings.parse_assignments(["colour=blue"])
    with pytest.raises(InvalidArgumentError, match="not KEY=VALUE"):
        settings.parse_assignments(["memory"])
