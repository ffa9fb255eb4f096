"""IPv6 on a real bridge: containers take SLAAC addresses from the bridge's /64 through
their distro's own configuration, ping6 and TCP work both ways, names resolve to them,
NAT66 reaches an "outside" namespace, and `--ipv6 none` takes it all away again."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import lxc as pylxc
import pytest

from lxcprov.system import lxc
from lxcprov.system.hostnet.names import eui64
from lxcprov.system.hostnet.settings import random_ula
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, sh, wait_for
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real


def _status(lxc: Lxc, bridge: str) -> Any:
    return json.loads(lxc.cli("net", "status", "--bridge", bridge, "--json").stdout)


def _ipv6_of(lxc: Lxc, name: str) -> list[str]:
    rows = json.loads(lxc.cli("ls", "--json").stdout)
    return next(r["ipv6"] for r in rows if r["name"] == name)


def _mac(lxc: Lxc, name: str) -> str:
    text = (lxc.path / name / "config").read_text()
    return next(ln.split("=", 1)[1].strip() for ln in text.splitlines()
                if ln.startswith("lxc.net.0.hwaddr"))  # fmt: skip


def _init_pid(lxc: Lxc, name: str) -> str:
    return subprocess.run(["lxc-info", "-P", str(lxc.path), "-n", name, "-p", "-H"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_slaac_ping6_tcp_and_names_over_ipv6(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat", "--ipv6", "auto")
    st = _status(lxcpath, net.bridge)
    prefix = ipaddress.IPv6Interface(st["settings"]["ipv6"])
    assert prefix.network.prefixlen == 64 and prefix.ip in ipaddress.IPv6Network("fc00::/7")
    assert str(prefix) in st["addresses6"] and st["pending"] == []
    gw6 = str(prefix.ip)
    pw = password_file[0]
    net.new("bb6", pw, "-t", "busybox")
    net.new("deb6", pw, "-t", "debian")
    # Each takes the address SLAAC gives it: the bridge's prefix and its MAC's EUI-64.
    for name in ("bb6", "deb6"):
        want = str(eui64(prefix.network, _mac(lxcpath, name)))
        assert wait_for(lambda n=name, w=want: w in _ipv6_of(lxcpath, n), 15), (
            name, _ipv6_of(lxcpath, name), want,
        )  # fmt: skip
    bb6, deb6 = (str(eui64(prefix.network, _mac(lxcpath, n))) for n in ("bb6", "deb6"))
    # ls reads addresses from /proc/PID/net: what liblxc's get_ips sees from inside.
    for name in ("bb6", "deb6"):
        _, v4, v6 = lxc.Container(name, lxcpath.path).summary()
        inside = pylxc.Container(name, str(lxcpath.path))
        assert v4 and sorted(v4) == sorted(inside.get_ips(family="inet"))
        assert sorted(v6) == sorted(a for a in inside.get_ips(family="inet6")
                                    if not a.startswith("fe80:"))  # fmt: skip
    # busybox's DHCP client kept its link-local address (it solicits routers with it).
    assert "inet6 fe80::" in lxcpath.attach("bb6", "ip", "-6", "addr", "show", "eth0").stdout
    # ping6 both ways.
    assert wait_for(lambda: sh("busybox", "ping6", "-c", "1", "-W", "1", bb6,
                               check=False).returncode == 0, 15)  # fmt: skip

    def back() -> bool:
        return lxcpath.attach("bb6", "busybox", "ping6", "-c", "1", "-W", "1", gw6).returncode == 0

    assert wait_for(back, 15)
    # TCP both ways with the Debian one: to a listener in its network namespace, and from
    # its bash to a listener on the host's bridge address.
    code = ("import socket\ns=socket.socket(socket.AF_INET6)\n"
            "s.bind(('::', 8086)); s.listen(); print('ready', flush=True)\n"
            "c, _ = s.accept(); c.sendall(b'hello over v6'); c.close()\n")  # fmt: skip
    pid = _init_pid(lxcpath, "deb6")
    server = netlab.spawn("nsenter", "-t", pid, "-n", sys.executable, "-c", code)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    with socket.create_connection((deb6, 8086), timeout=5) as conn:
        assert conn.recv(100) == b"hello over v6"
    host_side = socket.socket(socket.AF_INET6)
    host_side.bind((gw6, 0))
    host_side.listen()
    host_side.settimeout(10)
    port = host_side.getsockname()[1]
    try:
        sent = lxcpath.attach("deb6", "bash", "-c", f"echo from-deb > /dev/tcp/{gw6}/{port}")
        conn, peer = host_side.accept()
        with conn:
            assert conn.recv(100).strip() == b"from-deb" and peer[0] == deb6, (sent, peer)
    finally:
        host_side.close()
    # Names resolve to the IPv6 addresses too (AAAA from the bridge's dnsmasq).
    answer = lxcpath.attach("bb6", "nslookup", "deb6", net.gw).stdout
    assert deb6 in answer, answer
    # --ipv6 none takes it away: the bridge's address, and dnsmasq's router advertisements.
    lxcpath.cli("net", "setup", "--bridge", net.bridge, "--ipv6", "none")
    st = _status(lxcpath, net.bridge)
    assert st["settings"]["ipv6"] is None and st["addresses6"] == [] and st["pending"] == []


def test_nat66_reaches_the_outside(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    outside = netlab.add_netns()
    uplink, out_if = netlab.veth(outside)
    far_net = random_ula().network
    host6, far6 = far_net.network_address + 1, far_net.network_address + 2
    sh("ip", "-6", "addr", "add", f"{host6}/64", "dev", uplink, "nodad")
    sh("ip", "-n", outside, "-6", "addr", "add", f"{far6}/64", "dev", out_if, "nodad")
    # The outside has no route back to the bridge's prefix: only NAT66 can answer.
    net = _bridge(netlab, lxcpath, "--uplink", uplink, "--ipv6", "auto", "--nat6")
    assert Path("/proc/sys/net/ipv6/conf/all/forwarding").read_text().strip() == "1"
    net.new("n6", password_file[0], "-t", "busybox")
    assert wait_for(lambda: _ipv6_of(lxcpath, "n6") != [], 15)

    # Its address is usable once duplicate address detection is over (about a second).
    def ping() -> bool:
        out = lxcpath.attach("n6", "busybox", "ping6", "-c", "1", "-W", "1", str(far6))
        return out.returncode == 0

    assert wait_for(ping, 15), lxcpath.attach("n6", "ip", "-6", "route").stdout
