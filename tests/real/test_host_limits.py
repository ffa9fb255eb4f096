"""Host limits at scale, on real bridges: `new --count` refuses what the subnet cannot hold
before it makes anything, and dnsmasq serves more than its default 150 leases on a subnet
that holds them (lxcprov gives it a lease limit of the DHCP range's size)."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import lxc as pylxc

from lxcprov.engine import hostlimits
from lxcprov.system.hostnet import dnsmasq
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, host_routes, limit_sysctls


def _net(size: int) -> ipaddress.IPv4Network:
    """A subnet of that prefix length that no route or address of the host covers, inside
    a /24 no other test uses (or around one: a /22 is checked against the host again)."""
    taken = host_routes()
    while True:
        base = free_subnet()
        net = base.supernet(new_prefix=size) if size < 24 else next(base.subnets(new_prefix=size))
        if not any(net.overlaps(t) for t in taken):
            return net


def _setup(lxcpath: Lxc, netlab: NetLab, net: ipaddress.IPv4Network) -> str:
    bridge = netlab.bridge()
    gateway = f"{net.network_address + 1}/{net.prefixlen}"
    lxcpath.cli("net", "setup", "--bridge", bridge, "--address", gateway, "--no-nat")
    return bridge


def _every_container(lxcpath: Lxc) -> list[str]:
    return sorted(pylxc.list_containers(config_path=str(lxcpath.path)))


def _error_and_hint(stderr: str) -> tuple[str, str]:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(("error: ", "hint: "))]
    assert len(lines) == 2, stderr
    return lines[0], lines[1]


def test_new_count_refuses_more_than_the_subnet_has_free_before_making_anything(
    lxcpath: Lxc, netlab: NetLab
) -> None:
    # A /29: the gateway, 2 static addresses (.2-.3), 3 for DHCP (.4-.6).
    net = _net(29)
    bridge = _setup(lxcpath, netlab, net)
    new = ("new", "--bridge", bridge, "-t", "busybox")

    proc = lxcpath.cli(*new, "t", "--count", "4", check=False)
    assert proc.returncode == 1, proc.stderr
    error, hint = _error_and_hint(proc.stderr)
    assert error == f"error: 4 containers need 4 DHCP addresses on {bridge}, but 3 are free"
    assert hint.startswith("hint: make at most 3,"), hint
    assert _every_container(lxcpath) == []  # not even the base was built

    proc = lxcpath.cli(*new, "s", "--count", "3", "--ip", "auto", check=False)
    assert proc.returncode == 1, proc.stderr
    error, _hint = _error_and_hint(proc.stderr)
    assert error == (
        f"error: 3 containers need 3 static addresses (--ip auto) on {bridge}, but 2 are free"
    )
    assert _every_container(lxcpath) == []

    # Three fit, each with an address of the DHCP range; then the subnet is full.
    made = json.loads(lxcpath.cli(*new, "d", "--count", "3", "--json").stdout)
    assert [m["ok"] for m in made] == [True, True, True], made
    dhcp_range = {str(net.network_address + i) for i in (4, 5, 6)}
    assert {m["ipv4"][0] for m in made} == dhcp_range, made
    proc = lxcpath.cli(*new, "e", "--count", "1", check=False)
    assert proc.returncode == 1
    error, _hint = _error_and_hint(proc.stderr)
    assert error == f"error: 1 container needs 1 DHCP addresses on {bridge}, but 0 are free"
    assert _every_container(lxcpath)[:3] == ["d1", "d2", "d3"]
    assert not [n for n in _every_container(lxcpath) if n.startswith("e")]


def test_more_than_150_dhcp_leases_on_a_subnet_that_holds_them(
    lxcpath: Lxc, netlab: NetLab
) -> None:
    # A /22: its DHCP half holds 511 addresses; dnsmasq alone would stop at 150 leases.
    net = _net(22)
    bridge = _setup(lxcpath, netlab, net)
    state = Path(netlab.env()["LXCPROV_STATE_DIR"]) / "net" / bridge
    pid = dnsmasq.read_pid(state / "dnsmasq.pid")
    assert pid is not None
    assert "--dhcp-lease-max=511" in (dnsmasq.process_argv(pid) or ())

    count = 160
    try:
        new = ("new", "b", "--count", str(count), "-t", "busybox", "--bridge", bridge)
        made = json.loads(lxcpath.cli(*new, "--json").stdout)
        assert all(m["ok"] for m in made), [m for m in made if not m["ok"]][:3]
        addresses = {m["ipv4"][0] for m in made}
        assert len(addresses) == count
        assert all(ipaddress.IPv4Address(a) in net for a in addresses)
        # Each address is a lease dnsmasq gave (busybox's init runs udhcpc).
        leases = dnsmasq.read_leases(state / "dnsmasq.leases")
        assert {str(lease.ipv4) for lease in leases} >= addresses
        assert len({lease.mac for lease in leases}) >= count
        assert "udhcpc" in lxcpath.attach("b1", "ps").stdout
    finally:
        # 160 clean shutdowns one after another would take minutes: stop them all at once.
        lxcpath.cli("stop", "--all", check=False, timeout=300)


def test_doctor_reports_roots_inotify_instances_and_fix_raises_them_in_a_file(
    lxcpath: Lxc,
) -> None:
    found = limit_sysctls()  # put back whatever happens
    knob = Path("/proc/sys/fs/inotify/max_user_instances")
    try:
        knob.write_text("128\n")  # the kernel's default
        Path(hostlimits.SYSCTL_FILE).unlink(missing_ok=True)
        doctor = json.loads(lxcpath.cli("doctor", "--json", check=False).stdout)
        (f,) = [f for f in doctor["findings"] if f["id"] == "inotify-instances-low"]
        assert f["fix_kind"] == "sysctl" and f["severity"] == "warning"
        assert re.fullmatch(
            r"fs\.inotify\.max_user_instances: \d+ of 128 used, room for about \d+ more "
            r"systemd containers",
            f["message"],
        ), f["message"]

        # --only: this host has no default bridge, which a whole --fix would make.
        fix = ("doctor", "--fix", "--only", "inotify-instances-low", "--json")
        fixed = json.loads(lxcpath.cli(*fix, check=False).stdout)
        assert knob.read_text().strip() == "1024"
        assert any("fs.inotify.max_user_instances: 128 -> 1024" in a
                   for a in fixed["fix"]["applied"]), fixed  # fmt: skip
        text = Path(hostlimits.SYSCTL_FILE).read_text()
        assert "fs.inotify.max_user_instances = 1024" in text.splitlines()
        after = json.loads(lxcpath.cli("doctor", "--json", check=False).stdout)
        assert "inotify-instances-low" not in [f["id"] for f in after["findings"]]
    finally:
        found.restore()
