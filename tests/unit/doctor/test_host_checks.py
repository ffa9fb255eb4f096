"""Every host finding from a healthy host view broken in one way; and the observers' parsers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest

from lxcprov.engine.hostlimits import BridgeUse, HostUse, Use
from lxcprov.ops.doctor import checks
from lxcprov.ops.doctor.model import FindingId
from lxcprov.ops.doctor.views import CgroupView, classify_root_hash
from lxcprov.system import cgroups
from tests.unit.doctor.fixtures import (
    BRIDGE,
    HEALTHY_HOST,
    bridge,
    host,
    host_with_bridge,
    only,
)


def test_healthy_host_has_no_findings() -> None:
    assert checks.check_host(HEALTHY_HOST) == []


@pytest.mark.parametrize(
    ("change", "expected_id", "fix"),
    [
        ({"root": False}, "not-root", "sudo lxcprov doctor"),
        ({"lxc_version": None}, "lxc-missing", "apt-get install lxc lxc-templates"),
        ({"lxc_version": "2.0.9"}, "lxc-too-old", None),
        ({"python_lxc": None}, "python3-lxc-missing", None),
        (
            {"namespaces": frozenset({"mnt", "uts", "ipc", "net"})},
            "namespace-missing",
            "boot a kernel built with CONFIG_NAMESPACES and CONFIG_PID_NS",
        ),
        ({"cgroup": CgroupView("none")}, "cgroup-missing", "mount -t cgroup2 none /sys/fs/cgroup"),
    ],
)
def test_host_essentials(change: dict[str, object], expected_id: str, fix: str | None) -> None:
    f = only(checks.check_host(host(**change)))
    assert (f.id, f.severity, f.scope) == (expected_id, "error", "host")
    if fix is not None:
        assert f.fix.startswith(fix)


def test_cgroup_controller_unavailable_says_what_stops_working() -> None:
    v1 = CgroupView("hybrid", frozenset({"cpu", "cpuset", "devices", "freezer"}))
    f = only(checks.check_host(host(cgroup=v1)))
    assert (f.id, f.severity) == ("cgroup-controller-unavailable", "warning")
    assert "memory, pids" in f.message and "memory limits" in f.why
    assert f.fix.startswith("add cgroup_enable=memory,pids to GRUB_CMDLINE_LINUX")
    v2 = CgroupView("v2", frozenset(), frozenset({"cpu", "cpuset", "pids", "io"}))
    f = only(checks.check_host(host(cgroup=v2)))
    assert f.fix == "echo '+memory' > /sys/fs/cgroup/cgroup.subtree_control"
    full = CgroupView("v2", frozenset(), frozenset({"memory", "cpu", "cpuset", "pids", "io"}))
    assert checks.check_host(host(cgroup=full)) == []


def test_apparmor_enabled_without_its_parser() -> None:
    f = only(checks.check_host(host(apparmor=True, apparmor_parser=False)))
    assert (f.id, f.severity, f.fix) == (
        "apparmor-parser-missing",
        "warning",
        "apt-get install apparmor",
    )
    assert checks.check_host(host(apparmor=True, apparmor_parser=True)) == []


@pytest.mark.parametrize(
    ("change", "expected_id", "severity", "fix"),
    [
        ({"exists": False}, "bridge-missing", "error", f"lxcprov net setup --bridge {BRIDGE}"),
        ({"is_bridge": False}, "not-a-bridge", "error", None),
        ({"up": False}, "bridge-down", "error", f"lxcprov net setup --bridge {BRIDGE}"),
        ({"dhcp_server": False}, "no-dhcp-server", "error",
         f"lxcprov net setup --bridge {BRIDGE} --dhcp"),
        ({"nat_present": False}, "nat-missing", "warning", f"lxcprov net setup --bridge {BRIDGE}"),
        ({"forward_blocked": ("FORWARD drop",)}, "forward-blocked", "warning", None),
    ],
)  # fmt: skip
def test_managed_bridge_findings(
    change: dict[str, object], expected_id: str, severity: str, fix: str | None
) -> None:
    f = only(checks.check_host(host(bridges=(bridge(**change),))))
    assert (f.id, f.severity, f.scope, f.subject) == (expected_id, severity, "host", BRIDGE)
    if fix is not None:
        assert f.fix == fix


def test_ip_forward_off() -> None:
    f = only(checks.check_host(host(ip_forward=False)))
    assert (f.id, f.fix) == ("ip-forward-off", f"lxcprov net setup --bridge {BRIDGE}")


def test_absent_default_bridge_on_a_fresh_host_is_a_warning() -> None:
    fresh = bridge(exists=False, managed=False, dhcp_wanted=False, nat_wanted=False)
    f = only(checks.check_host(host(bridges=(fresh,))))
    assert (f.id, f.severity, f.blocks_start, f.dhcp) == ("bridge-missing", "warning", False, True)


def test_unmanaged_bridge_without_dhcp_is_a_warning() -> None:
    lxcnet = bridge(managed=False, dhcp_wanted=False, dhcp_server=False, nat_wanted=False)
    f = only(checks.check_host(host(bridges=(lxcnet,))))
    assert (f.id, f.severity) == ("no-dhcp-server", "warning")


HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_COMBINED = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
V2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"


def test_cgroup_layouts_from_mountinfo() -> None:
    assert cgroup_from_mountinfo(HYBRID, "") == CgroupView(
        "hybrid", frozenset({"cpu", "cpuacct", "memory"}), frozenset()
    )
    assert cgroup_from_mountinfo(V1_COMBINED, None) == CgroupView(
        "v1", frozenset({"cpu", "cpuacct"}), frozenset()
    )
    assert cgroup_from_mountinfo(V2, "cpuset cpu io memory pids\n") == CgroupView(
        "v2", frozenset(), frozenset({"cpuset", "cpu", "io", "memory", "pids"})
    )
    assert cgroup_from_mountinfo("", None).layout == "none"


def test_this_hosts_cgroups_parse() -> None:
    text = Path("/proc/self/mountinfo").read_text()
    assert cgroup_from_mountinfo(text, None).layout in ("v1", "v2", "hybrid", "none")


@pytest.mark.parametrize(
    ("passwd", "shadow", "state"),
    [
        ("root:x:0:0::/root:/bin/sh", "root:$6$s$h:1::::::", "set"),
        ("root:x:0:0::/root:/bin/sh", "root:*:1::::::", "locked"),
        ("root:x:0:0::/root:/bin/sh", "root:!$6$s$h:1::::::", "locked"),
        ("root:x:0:0::/root:/bin/sh", "root:!!:1::::::", "locked"),
        ("root:x:0:0::/root:/bin/sh", "root::1::::::", "empty"),
        ("root:x:0:0::/root:/bin/sh", "", "absent"),
        ("root:x:0:0::/root:/bin/sh", None, "absent"),
        ("root:$1$old$hash:0:0::/root:/bin/sh", None, "set"),
    ],
)
def test_root_hash_states(passwd: str, shadow: str | None, state: str) -> None:
    assert classify_root_hash(passwd, shadow) == state


def test_every_id_is_kebab_case_and_reported_by_a_check() -> None:
    # An id outside FindingId is mypy's to refuse; an id no check reports is this test's.
    import re

    ids = get_args(FindingId)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", i) for i in ids)
    source = "".join(p.read_text() for p in Path(checks.__file__).parent.glob("*.py"))
    assert [i for i in ids if f'"{i}"' not in source] == []


def cgroup_from_mountinfo(text: str, unified_controllers: str | None) -> CgroupView:
    """The layout from mountinfo and cgroup.controllers, by the one parser lxcprov has."""
    host = cgroups.parse(text, "", unified_controllers)
    return CgroupView(host.layout, host.v1, host.v2)


def test_host_limits_with_little_room_are_warnings_saying_use_limit_and_fix() -> None:
    low = HostUse(inotify=Use("fs.inotify.max_user_instances", 40, 128))
    f = only(checks.check_host(host(limits=low)))
    assert (f.id, f.severity, f.fix_kind) == ("inotify-instances-low", "warning", "sysctl")
    assert f.fix.startswith("sysctl -w fs.inotify.max_user_instances=1024")
    assert "40 of 128 used, room for about 11 more systemd containers" in f.message
    roomy = HostUse(inotify=Use("fs.inotify.max_user_instances", 40, 1024))
    assert checks.check_host(host(limits=roomy)) == []
    assert checks.check_host(host(limits=None)) == []


def test_a_full_bridge_is_reported_by_its_name() -> None:
    full = BridgeUse("limbr9", ports=3, static_free=2, dhcp_free=3)
    f = only(checks.check_host(host(bridge_limits=(full,))))
    assert (f.id, f.subject, f.fix_kind) == ("subnet-full", "limbr9", "manual")
    assert "5 left" in f.message


def test_lxcfs_not_running_is_a_warning_fixed_by_starting_it() -> None:
    (f,) = checks.check_host(host(lxcfs="stopped"))
    assert (f.id, f.severity, f.fix_kind, f.fix) == (
        "lxcfs-not-running", "warning", "service", "lxcprov doctor --fix",
    )  # fmt: skip
    assert "free" in f.why and "memory=" in f.why
    (f,) = checks.check_host(host(lxcfs="absent"))
    assert (f.id, f.severity, f.fix) == ("lxcfs-missing", "info", "apt-get install lxcfs")
    assert checks.check_host(host(lxcfs="running")) == []


def test_a_dead_lxcfs_mount_is_an_error_fixed_by_starting_it_again() -> None:
    (f,) = checks.check_host(host(lxcfs="dead"))
    assert (f.id, f.severity, f.fix_kind, f.fix) == (
        "lxcfs-dead", "error", "service", "lxcprov doctor --fix",
    )  # fmt: skip
    assert "restart" in f.why


def test_forward_table_and_rules_out_of_step() -> None:
    from lxcprov.system.hostnet.forwards import Forward
    from lxcprov.system.hostnet.nat import dnat_of

    web = dnat_of(Forward("web@/l", "tcp", 8080, 80, "10.0.3.5"))
    old = dnat_of(Forward("db@/l", "tcp", 5432, 5432, "10.0.3.6"))
    both = (replace(web, chain="prerouting"), replace(web, chain="output"))
    assert checks.check_host(host_with_bridge(listed=(web,), dnat_rules=both)) == []
    # A removal killed after its rules, before its table: listed, not forwarded (warning).
    f = only(checks.check_host(host_with_bridge(listed=(web,), dnat_rules=())))
    assert (f.id, f.severity, f.fix_kind, f.bridge) == ("forwards-out-of-step", "warning",
                                                         "net-setup", BRIDGE)  # fmt: skip
    assert "8080/tcp -> web:80" in f.message and f.fix == f"lxcprov net setup --bridge {BRIDGE}"
    # Half its rules (prerouting without output) is not forwarded as listed either.
    half = only(checks.check_host(host_with_bridge(listed=(web,), dnat_rules=both[:1])))
    assert half.severity == "warning"
    # A rule nobody lists: an open port `forward ls` does not show (error), once per port.
    stray = (*both, replace(old, chain="prerouting", who=""), replace(old, chain="output"))
    f = only(checks.check_host(host_with_bridge(listed=(web,), dnat_rules=stray)))
    assert (f.id, f.severity) == ("forwards-out-of-step", "error")
    assert f.message.count("5432/tcp -> 10.0.3.6:5432") == 1 and "web" not in f.message
    # Both at once: two findings, the error first once ordered.
    found = checks.check_host(host_with_bridge(listed=(web,), dnat_rules=stray[2:]))
    assert sorted(x.severity for x in found) == ["error", "warning"]
    # Not read (not root), or a bridge lxcprov does not manage: nothing to compare.
    assert checks.check_host(host_with_bridge(listed=(web,), dnat_rules=None)) == []
    unmanaged = host_with_bridge(managed=False, listed=(web,), dnat_rules=())
    assert "forwards-out-of-step" not in {x.id for x in checks.check_host(unmanaged)}
