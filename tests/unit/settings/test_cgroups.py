"""Cgroup layout detection from mountinfo text: v1, v2 and hybrid hosts."""

from __future__ import annotations

from lxcprov.system import cgroups

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

V1_COMBINED = """\
25 20 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
"""

V2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n"

PROC_CGROUPS = """\
#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	2	1
cpu	1	2	1
memory	4	75	0
"""


def test_hybrid_host_uses_v1_for_mounted_controllers() -> None:
    host = cgroups.parse(HYBRID, "", "hugetlb memory")
    assert host.layout == "hybrid"
    assert host.v1 == {"cpu", "cpuacct", "cpuset", "memory", "pids"}
    # memory is bound to v1, so it cannot be used through cgroup2.
    assert host.v2 == {"hugetlb"}
    assert host.version_of("memory") == 1
    assert host.version_of("io") is None
    assert host.v2_root == "/sys/fs/cgroup/unified"


def test_v1_with_combined_hierarchies() -> None:
    host = cgroups.parse(V1_COMBINED, "", None)
    assert host.layout == "v1"
    assert host.v1 == {"cpu", "cpuacct", "memory"}
    assert host.v1_root == "/sys/fs/cgroup"


def test_pure_v2() -> None:
    host = cgroups.parse(V2, "", "cpuset cpu io memory pids")
    assert host.layout == "v2"
    assert host.version_of("memory") == 2
    assert host.version_of("cpuset") == 2
    assert host.v2_root == "/sys/fs/cgroup"


def test_disabled_controllers_are_missing() -> None:
    host = cgroups.parse(HYBRID, PROC_CGROUPS, "")
    assert host.version_of("memory") is None
    assert host.version_of("cpu") == 1


def test_no_cgroups_at_all() -> None:
    assert cgroups.parse("", "", None).layout == "none"


def test_detect_runs_on_this_host() -> None:
    assert cgroups.detect().layout in ("v1", "v2", "hybrid", "none")
