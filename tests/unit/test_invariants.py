"""The chaos oracle's checks (tests/real/invariants.py) catch each planted violation, and
say nothing of a consistent scene: a check that cannot fail would prove nothing."""

from __future__ import annotations

import copy

import pytest

from tests.real import invariants
from tests.real.invariants import Observed

LX = "/var/tmp/cha-x/lxc"
BASE = "lxcprov-base-busybox-default-0123456789"
PIN = f"{LX}/.lxcprov/userns/1100000000-1100000000-owner-none-none"


def _conf(mac: str, port: str, *, base: bool = True, share: bool = False) -> dict[str, list[str]]:
    conf = {
        "lxc.net.0.link": ["chabr0"],
        "lxc.net.0.hwaddr": [mac],
        "lxc.net.0.veth.pair": [port],
        "lxc.rootfs.path": [
            f"overlay:{LX}/{BASE}/rootfs:{LX}/a/overlay/delta" if base else f"dir:{LX}/a/rootfs"
        ],
    }
    if share:
        conf["lxc.mount.entry"] = [f"/srv/s mnt/s none bind,create=dir,idmap={PIN} 0 0"]
    return conf


def _scene() -> Observed:
    """Two containers on the bridge (a running, with a share, a snapshot and a published
    port; b stopped), one base: everything consistent."""
    return Observed(
        lxcpath=LX,
        bridge="chabr0",
        configs={
            "a": _conf("00:16:3e:00:00:0a", "lxvaaaaaaaaaaaa", share=True),
            "b": _conf("00:16:3e:00:00:0b", "lxvbbbbbbbbbbbb", base=False),
        },
        bases={BASE},
        running={"a"},
        book={f"a@{LX}": "10.126.1.2", f"b@{LX}": "10.126.1.128", "z@/elsewhere": "10.126.1.9"},
        macs={f"a@{LX}": "00:16:3e:00:00:0a", f"b@{LX}": "00:16:3e:00:00:0b"},
        dhcp_hosts=["00:16:3e:00:00:0a,10.126.1.2,a", "00:16:3e:00:00:0b,10.126.1.128,b"],
        forwards=[
            {
                "owner": f"a@{LX}",
                "proto": "tcp",
                "host_port": 26001,
                "address": "10.126.1.2",
                "container_port": 80,
            }
        ],
        nat={("tcp", 26001, "10.126.1.2", 80)},
        mounts=[PIN],
        veths={"lxvaaaaaaaaaaaa": "chabr0", "lxvffffffffffff": "otherbr"},
        procs=[
            f"901 [lxc monitor] {LX} a",
            "905 /usr/sbin/dnsmasq --pid-file=/var/tmp/cha-x/var/net/chabr0/dnsmasq.pid",
            "906 lxcfs /var/lib/lxcfs",
        ],
        snap_dirs={"a": {"s1"}, "b": set()},
        snap_listed={"a": {"s1"}, "b": set()},
        snap_counted={"a": 1, "b": 0},
        clones_listed={BASE: {"a"}},
    )


def test_a_consistent_scene_has_no_violation() -> None:
    assert invariants.check(_scene()) == []


def _planted(change: str) -> Observed:
    o = copy.deepcopy(_scene())
    if change == "stray address-book entry":
        o.book[f"gone@{LX}"] = "10.126.1.3"
    elif change == "missing address-book entry":
        del o.book[f"b@{LX}"]
    elif change == "address booked twice":
        o.book[f"b@{LX}"] = "10.126.1.2"
    elif change == "MAC book disagrees":
        o.macs[f"b@{LX}"] = "00:16:3e:00:00:ff"
    elif change == "stray dnsmasq reservation":
        o.dhcp_hosts.append("00:16:3e:00:00:0c,10.126.1.129,gone")
    elif change == "missing dnsmasq reservation":
        o.dhcp_hosts.pop()
    elif change == "forward of a gone container":
        o.forwards.append({"owner": f"gone@{LX}", "proto": "tcp", "host_port": 26002,
                           "address": "10.126.1.3", "container_port": 80})  # fmt: skip
    elif change == "forward to a stale address":
        o.forwards[0]["address"] = "10.126.1.7"
    elif change == "nft rule without forward":
        o.nat.add(("tcp", 26003, "10.126.1.2", 22))
    elif change == "forward without nft rule":
        o.nat.clear()
    elif change == "leftover mount":
        o.mounts.append(f"{LX}/b/rootfs")
    elif change == "pin nobody names":
        o.configs["a"].pop("lxc.mount.entry")
    elif change == "staged share of a stopped container":
        o.staged.append("b")
    elif change == "live-mount directory of a gone container":
        o.live_left.append("gone")
    elif change == "orphan process":
        o.procs.append(f"902 python3 -m lxcprov new x1 ({LX})")
    elif change == "monitor of a stopped container":
        o.procs.append(f"903 [lxc monitor] {LX} b")
    elif change == "second dnsmasq on the bridge":
        o.procs.append("907 dnsmasq --conf-file=/var/tmp/cha-x/var/net/chabr0/dnsmasq.conf")
    elif change == "veth of a stopped container":
        o.veths["lxvbbbbbbbbbbbb"] = "chabr0"
    elif change == "held lock":
        o.held_locks.append("b.lock")
    elif change == "journal":
        o.journals.append("b.toml")
    elif change == "half-made snapshot":
        o.snap_hidden.append("a/snapshots/.s2.lxcprov-new")
    elif change == "snapshot on disk, not listed":
        o.snap_dirs["b"].add("s9")
    elif change == "snapshot listed, not on disk":
        o.snap_listed["a"].add("s8")
    elif change == "ls counts another number of snapshots":
        del o.snap_listed["a"]
        o.snap_counted["a"] = 2
    elif change == "clone not listed":
        o.clones_listed[BASE] = set()
    elif change == "clone listed that is none":
        o.clones_listed[BASE].add("b")
    elif change == "base listed, not on disk":
        o.clones_listed["lxcprov-base-gone"] = set()
    else:
        raise AssertionError(change)
    return o


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ("stray address-book entry", "books"),
        ("missing address-book entry", "books"),
        ("address booked twice", "books"),
        ("MAC book disagrees", "books"),
        ("stray dnsmasq reservation", "books"),
        ("missing dnsmasq reservation", "books"),
        ("forward of a gone container", "forwards"),
        ("forward to a stale address", "forwards"),
        ("nft rule without forward", "forwards"),
        ("forward without nft rule", "forwards"),
        ("leftover mount", "leftovers"),
        ("pin nobody names", "leftovers"),
        ("staged share of a stopped container", "leftovers"),
        ("live-mount directory of a gone container", "leftovers"),
        ("orphan process", "leftovers"),
        ("monitor of a stopped container", "leftovers"),
        ("second dnsmasq on the bridge", "leftovers"),
        ("veth of a stopped container", "leftovers"),
        ("held lock", "leftovers"),
        ("journal", "leftovers"),
        ("half-made snapshot", "leftovers"),
        ("snapshot on disk, not listed", "snapshots"),
        ("snapshot listed, not on disk", "snapshots"),
        ("ls counts another number of snapshots", "snapshots"),
        ("clone not listed", "clones"),
        ("clone listed that is none", "clones"),
        ("base listed, not on disk", "clones"),
    ],
)
def test_each_planted_violation_is_caught_by_its_check(change: str, check: str) -> None:
    found = invariants.check(_planted(change))
    assert found, f"{change}: not caught"
    assert all(v.startswith(f"{check}: ") for v in found), found


def test_a_listed_port_without_its_rule_passes_only_when_doctor_reports_it() -> None:
    """A killed `forward add` or `forward rm` leaves a port listed but closed (fail
    closed): acceptable while doctor says so; a rule no forward lists never is."""
    o = _planted("forward without nft rule")
    o.out_of_step = ["bridge chabr0 lists 26001/tcp -> a:80, but its rules do not forward it"]
    assert invariants.check(o) == []
    o.out_of_step = ["bridge chabr0 lists 26009/tcp -> a:80, but its rules do not forward it"]
    assert invariants.check(o) != []
    o = _planted("nft rule without forward")
    o.out_of_step = ["bridge chabr0 lists 26003/tcp -> a:22, but its rules do not forward it"]
    assert [v for v in invariants.check(o) if "no forward asks for" in v]


def test_answers_catch_a_crash_a_hang_and_no_json() -> None:
    import subprocess

    def cli(*args: str) -> tuple[int, str, str]:
        if args[0] == "ls":
            return 0, "[]", ""
        if args[0] == "show":
            return 1, "", "Traceback (most recent call last):\nKeyError: 'x'"
        raise subprocess.TimeoutExpired(["lxcprov", *args], 60)

    found = invariants.answers(cli, ["a"])
    assert found == ["lxcprov show a crashed: KeyError: 'x'", "lxcprov doctor hung"]

    def silent(*args: str) -> tuple[int, str, str]:
        return 2, "", "lxcprov: error: something"

    assert invariants.answers(silent, []) == [
        "lxcprov ls exited 2 without JSON: lxcprov: error: something",
        "lxcprov doctor exited 2 without JSON: lxcprov: error: something",
    ]
