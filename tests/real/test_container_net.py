"""Containers on a real test bridge: leases, static addresses, pings, NAT, boots that never hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tests.real.console import login_and_run
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, sh
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real


def _ping(*argv: str) -> bool:
    return subprocess.run([*argv], capture_output=True, check=False, timeout=20).returncode == 0


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_dhcp_static_and_auto_addresses_with_pings_both_ways(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    pw = password_file[0]
    dhcp = net.new("bbdhcp", pw, "-t", "busybox")
    fixed_ip = str(net.subnet.network_address + 50)
    static = net.new("bbstatic", pw, "-t", "busybox", "--ip", fixed_ip)
    auto = net.new("bbauto", pw, "-t", "busybox", "--ip", "auto")
    deb = net.new("debdhcp", pw, "-t", "debian")

    for data in (dhcp, deb):
        (ip,) = data["ipv4"]
        assert IPv4Address(ip) >= net.subnet.network_address + 128, "from the DHCP range"
    assert static["ipv4"] == [fixed_ip]
    (auto_ip,) = auto["ipv4"]
    assert (
        IPv4Address(auto_ip) in net.subnet
        and IPv4Address(auto_ip) < net.subnet.network_address + 128
    )

    listed = {c["name"]: c["ipv4"] for c in json.loads(lxcpath.cli("ls", "--json").stdout)}
    assert listed["bbstatic"] == [fixed_ip] and listed["debdhcp"] == deb["ipv4"]

    for name, data in (("bbdhcp", dhcp), ("bbstatic", static), ("bbauto", auto)):
        (ip,) = data["ipv4"]
        assert _ping("lxc-attach", "-P", str(lxcpath.path), "-n", name, "--",
                     "ping", "-c", "1", "-W", "3", net.gw), f"{name} -> host"  # fmt: skip
        assert _ping("busybox", "ping", "-c", "1", "-W", "3", ip), f"host -> {name}"
    # The Debian one has no ping: it opens a TCP connection to the host's DNS server
    # (dnsmasq on the bridge address), and the host pings it.
    (deb_ip,) = deb["ipv4"]
    tcp = lxcpath.attach("debdhcp", "bash", "-c", f"echo > /dev/tcp/{net.gw}/53 && echo open")
    assert tcp.stdout.strip() == "open", tcp.stderr
    assert _ping("busybox", "ping", "-c", "1", "-W", "3", deb_ip), "host -> debdhcp"
    assert net.gw in lxcpath.attach("debdhcp", "cat", "/etc/resolv.conf").stdout
    # Names resolve through the bridge's dnsmasq: static ones from the address book,
    # DHCP ones from their leases (dhclient sends its hostname).
    for name, ip in (("bbstatic", fixed_ip), ("bbauto", auto_ip), ("debdhcp", deb_ip)):
        answer = lxcpath.attach("bbdhcp", "nslookup", name, net.gw).stdout
        state = Path(os.environ["LXCPROV_STATE_DIR"]) / "net" / net.bridge
        assert ip in answer, f"{name}: {answer}; " + " | ".join(
            (state / f).read_text()[-600:] for f in ("hosts", "dnsmasq.log")
        )


def test_parallel_auto_addresses_never_collide(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lxcprov",
                "new",
                f"par{i}",
                "-t",
                "busybox",
                "--bridge",
                net.bridge,
                "--ip",
                "auto",
                "--root-password-file",
                str(password_file[0]),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=lxcpath.env(),
        )
        for i in range(4)
    ]
    addresses = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        addresses += json.loads(out)["ipv4"]
    assert len(addresses) == 4 and len(set(addresses)) == 4, addresses


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_static_debian_on_a_bridge_without_dhcp_boots_to_login(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat", "--no-dhcp")
    refused = net.new("nolease", password_file[0], "-t", "busybox", check=False)
    assert "has no DHCP server" in str(refused["stderr"]) and lxcpath.names() == []
    ip = str(net.subnet.network_address + 20)
    data = net.new("debstatic", password_file[0], "-t", "debian", "--ip", f"{ip}/24")
    assert data["ipv4"] == [ip] and data["login_tty"] == 1
    out = login_and_run(lxcpath, "debstatic", password_file[1], "systemctl is-active networking")
    assert "active" in out.split()
    # No dnsmasq serves this bridge, so the static container gets the host's resolver.
    status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    resolv = lxcpath.attach("debstatic", "cat", "/etc/resolv.conf").stdout
    assert (
        not status["dnsmasq"]["dns"] and resolv.startswith("nameserver ") and net.gw not in resolv
    )


def test_container_reaches_the_outside_through_nat(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    outside = netlab.add_netns()
    out_net = free_subnet()
    uplink, out_if = netlab.veth(outside)
    host_ip, far_ip = str(out_net.network_address + 1), str(out_net.network_address + 2)
    sh("ip", "addr", "add", f"{host_ip}/24", "dev", uplink)
    sh("ip", "-n", outside, "addr", "add", f"{far_ip}/24", "dev", out_if)
    # The outside has no route back to the bridge subnet: only masquerading can answer.
    net = _bridge(netlab, lxcpath, "--uplink", uplink)
    net.new("natc", password_file[0], "-t", "busybox")
    server = netlab.spawn(
        sys.executable, "-c",
        "import socket\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('{far_ip}', 8765)); s.listen(1); s.settimeout(30)\n"
        "print('ready', flush=True)\n"
        "c,a=s.accept(); print(a[0], flush=True); c.sendall(b'hello-from-outside\\n'); c.close()\n",
        netns=outside,
    )  # fmt: skip
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    reply = lxcpath.attach("natc", "sh", "-c", f"echo hi | nc -w 5 {far_ip} 8765")
    assert "hello-from-outside" in reply.stdout, reply.stderr
    seen, _ = server.communicate(timeout=30)
    assert seen.split()[-1] == host_ip  # the listener saw the uplink's address: masqueraded


def test_a_configured_bridge_that_vanished_is_restored_by_new(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    sh("ip", "link", "del", net.bridge)  # what a reboot does to it
    data = net.new("after-reboot", password_file[0], "-t", "busybox")
    (ip,) = data["ipv4"]
    assert IPv4Address(ip) in net.subnet
    status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    assert status["exists"] and status["dnsmasq"]["pid"]
    assert os.path.exists(f"/sys/class/net/{net.bridge}/bridge")


def test_new_starts_a_dead_dnsmasq_again_and_says_why_an_address_never_came(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """A managed bridge whose dnsmasq was killed: `new` waited its whole boot timeout for
    a lease, then said only "no IPv4 address". It starts dnsmasq again first (`net setup`,
    as it remakes a vanished bridge). Where it cannot help (a bridge lxcprov does not
    manage, with no DHCP server), the timeout's error carries doctor's findings."""
    net = _bridge(netlab, lxcpath, "--no-nat")

    def dnsmasq_pid() -> int | None:
        status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
        pid: int | None = status["dnsmasq"]["pid"]
        return pid

    killed = dnsmasq_pid()
    assert killed is not None
    os.kill(killed, 9)
    proc = lxcpath.cli("new", "healed", "-t", "busybox", "--bridge", net.bridge,
                       "--root-password-file", str(password_file[0]), "--json")  # fmt: skip
    assert f"{net.bridge}'s dnsmasq is not running: starting it" in proc.stderr, proc.stderr
    (ip,) = json.loads(proc.stdout)["ipv4"]
    assert IPv4Address(ip) in net.subnet
    assert dnsmasq_pid() not in (None, killed)
    # A dnsmasq that will not start (its log path taken by a directory): a DHCP container
    # is refused, a static one boots with its address and the host's nameserver.
    state = Path(json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge,
                                        "--json").stdout)["state_dir"])  # fmt: skip
    os.kill(dnsmasq_pid() or 0, 9)
    log = state / "dnsmasq.log"
    log.unlink(missing_ok=True)
    log.mkdir()
    try:
        refused = net.new("nolease", password_file[0], "-t", "busybox", check=False)
        assert "did not start" in refused["stderr"], refused
        static = lxcpath.cli("new", "fixed", "-t", "busybox", "--bridge", net.bridge,
                             "--ip", "auto", "--root-password-file", str(password_file[0]),
                             "--json")  # fmt: skip
        assert "the static address stays, DNS is the host's" in static.stderr, static.stderr
        (fixed,) = json.loads(static.stdout)["ipv4"]
        assert IPv4Address(fixed) in net.subnet
    finally:
        log.rmdir()
    lxcpath.cli("net", "setup", "--bridge", net.bridge)
    assert dnsmasq_pid() is not None

    foreign = netlab.bridge()  # a bridge of the admin's: no DHCP server on it
    sh("ip", "link", "add", foreign, "type", "bridge")
    sh("ip", "link", "set", foreign, "up")
    failed = lxcpath.cli("new", "waits", "-t", "busybox", "--bridge", foreign,
                         "--boot-timeout", "4", check=False)  # fmt: skip
    said = " ".join(failed.stderr.split())
    # (busybox's init runs its DHCP client before the getty: no prompt comes either)
    assert failed.returncode != 0 and "after 4 s" in said, said
    assert "no-dhcp-server" in said, said
