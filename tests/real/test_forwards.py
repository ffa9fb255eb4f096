"""Published ports on real containers: reached from the host, from an "outside" network
namespace through the test's own uplink, and from another container (hairpin); kept
across a restart and a simulated host reboot; conflicts are one clear line.

Traffic stays on this machine: the uplink is a veth into a namespace the test made."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, sh, wait_for
from tests.real.netharness import Net
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real

PORT, UDP_PORT, BUSY_PORT = 18080, 15353, 18099


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _httpd(lxc: Lxc, name: str, text: str) -> None:
    """busybox httpd on port 80 inside name, serving text."""
    script = f"mkdir -p /www && echo {text} > /www/index.html && httpd -p 80 -h /www"
    out = lxc.attach(name, "/bin/sh", "-c", script)
    assert out.returncode == 0, out.stderr


def _get(url: str, netns: str | None = None) -> str:
    argv = ["curl", "-s", "-m", "3", url]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    return proc.stdout.strip()


def _get_inside(lxc: Lxc, name: str, url: str) -> str:
    # (busybox wget -T crashes on Debian 12; timeout bounds it instead)
    return lxc.attach(name, "timeout", "5", "wget", "-q", "-O", "-", url).stdout.strip()


def _outside(netlab: NetLab) -> tuple[str, str, str, str]:
    """A namespace standing for the outside world, reached through uplink."""
    outside = netlab.add_netns()
    net = free_subnet()
    uplink, out_if = netlab.veth(outside)
    host_ip, far_ip = str(net.network_address + 1), str(net.network_address + 2)
    sh("ip", "addr", "add", f"{host_ip}/24", "dev", uplink)
    sh("ip", "-n", outside, "addr", "add", f"{far_ip}/24", "dev", out_if)
    return outside, uplink, host_ip, far_ip


def _nft_rules(bridge: str) -> str:
    return sh("nft", "list", "table", "inet", f"lxcprov_{bridge}", check=False).stdout


def _simulate_reboot(net: Net) -> None:
    """What a reboot takes: the bridge, our nft table, the bridge's dnsmasq."""
    state = json.loads(net.lxc.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    sh("ip", "link", "del", net.bridge)
    sh("nft", "delete", "table", "inet", f"lxcprov_{net.bridge}")
    pid = state["dnsmasq"]["pid"]
    if pid:
        subprocess.run(["kill", str(pid)], check=False)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 5)


def test_published_port_from_everywhere_and_across_restarts(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    outside, uplink, host_ip, far_ip = _outside(netlab)
    net = _bridge(netlab, lxcpath, "--uplink", uplink)
    pw = password_file[0]
    web = net.new("web", pw, "-t", "busybox", "--publish", f"{PORT}:80", "--autostart", "yes")
    (listed,) = _json(lxcpath, "forward", "ls", "web", "--json")
    assert (listed["host_port"], listed["container_port"], listed["proto"]) == (PORT, 80, "tcp")
    # A DHCP container's published port goes to its reservation, which it got at start.
    assert web["ipv4"] == [listed["address"]]
    (row,) = _json(lxcpath, "ls", "--json")
    assert row["ports"] == [f"{PORT}->80/tcp"]
    _httpd(lxcpath, "web", "hello-web")

    def reachable(text: str = "hello-web") -> None:
        assert _get(f"http://{far_ip}:1/", outside) == ""  # sanity: the outside is separate
        assert _get(f"http://{host_ip}:{PORT}/", outside) == text, "from the outside"
        assert _get(f"http://{host_ip}:{PORT}/") == text, "from the host itself"
        assert _get(f"http://{net.gw}:{PORT}/") == text, "the host, by its bridge address"

    reachable()
    # Hairpin: another container reaches it through the host's addresses.
    net.new("client", pw, "-t", "busybox")
    assert _get_inside(lxcpath, "client", f"http://{host_ip}:{PORT}/") == "hello-web"
    assert _get_inside(lxcpath, "client", f"http://{net.gw}:{PORT}/") == "hello-web"
    # Loopback stays the host's: nothing listens there, so nothing answers.
    assert _get(f"http://127.0.0.1:{PORT}/") == ""

    # A running DHCP container keeps the address it has: no restart needed.
    (added,) = _json(lxcpath, "forward", "add", "client", "18082", "80", "--json")
    client_ip = _json(lxcpath, "show", "client", "--json")
    assert added["status"] == "changed", added
    assert [r["ipv4"] for r in _json(lxcpath, "ls", "--json") if r["name"] == "client"] == [
        [added["address"]]
    ], client_ip

    # UDP, to a listener in web's network namespace.
    lxcpath.cli("forward", "add", "web", str(UDP_PORT), "5353", "--udp")
    init = subprocess.run(["lxc-info", "-P", str(lxcpath.path), "-n", "web", "-p", "-H"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    server = ("import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('0.0.0.0', 5353)); print('ready', flush=True)\n"
              "data, peer = s.recvfrom(100); print(data.decode(), flush=True)\n")  # fmt: skip
    listener = netlab.spawn("nsenter", "-t", init, "-n", "python3", "-c", server)
    assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
    sh("ip", "netns", "exec", outside, "python3", "-c",
       "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
       f"s.sendto(b'udp-through', ('{host_ip}', {UDP_PORT}))\n")  # fmt: skip
    assert listener.stdout.readline().strip() == "udp-through"

    # Conflicts: one clear line, nothing made or changed.
    before = _nft_rules(net.bridge)
    taken = lxcpath.cli("forward", "add", "client", str(PORT), "80", check=False)
    assert taken.returncode != 0 and "already published for web" in taken.stderr
    again = net.new("other", pw, "-t", "busybox", "--publish", f"{PORT}:80", check=False)
    assert "already published for web" in str(again["stderr"])
    assert "other" not in lxcpath.names()
    holder = socket.socket()
    holder.bind(("0.0.0.0", BUSY_PORT))
    holder.listen()
    try:
        busy = lxcpath.cli("forward", "add", "client", str(BUSY_PORT), "80", check=False)
        assert busy.returncode != 0 and "in use by a service of the host" in busy.stderr
    finally:
        holder.close()
    bad = lxcpath.cli("forward", "add", "client", "99999", check=False)
    assert bad.returncode != 0 and "not a port number" in bad.stderr
    assert _nft_rules(net.bridge) == before
    # The rules are what `net setup` wants: a second setup changes nothing.
    assert "no change" in lxcpath.cli("net", "setup", "--bridge", net.bridge).stderr

    # A restart keeps the address and the forward.
    lxcpath.cli("stop", "web")
    lxcpath.cli("start", "web")
    _httpd(lxcpath, "web", "after-restart")
    reachable("after-restart")

    # A host reboot: bridge, table and dnsmasq gone; start --all brings everything back.
    lxcpath.cli("stop", "web")
    lxcpath.cli("stop", "client")
    _simulate_reboot(net)
    started = lxcpath.cli("start", "--all")
    assert "web" in started.stderr + started.stdout
    _httpd(lxcpath, "web", "after-reboot")
    reachable("after-reboot")
    doctor = json.loads(lxcpath.cli("doctor", "web", "--json", check=False).stdout)
    assert not [f for f in doctor["findings"] if f["id"].startswith("forward-")], doctor

    # rm takes the rule away; destroy takes the container's other ports with it.
    lxcpath.cli("forward", "rm", "web", str(PORT))
    assert _get(f"http://{host_ip}:{PORT}/", outside) == ""
    assert f"dport {PORT}" not in _nft_rules(net.bridge)
    lxcpath.cli("destroy", "--force", "web")
    left = _json(lxcpath, "forward", "ls", "--json")
    assert [f["container"] for f in left] == ["client"]
    assert f"dport {UDP_PORT}" not in _nft_rules(net.bridge)


def test_forward_follows_a_static_address_and_doctor_sees_a_broken_one(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    first = str(net.subnet.network_address + 20)
    data = net.new("st", password_file[0], "-t", "busybox", "--ip", first, "--publish", "18083:80")
    assert data["ipv4"] == [first]
    (fw,) = _json(lxcpath, "forward", "ls", "st", "--json")
    assert fw["address"] == first
    _httpd(lxcpath, "st", "static-one")
    assert _get(f"http://{net.gw}:18083/") == "static-one"
    # A new static address: the forward follows it.
    second = str(net.subnet.network_address + 21)
    out = lxcpath.cli("set", "st", f"address={second}")
    assert "now goes to" in out.stderr
    (fw,) = _json(lxcpath, "forward", "ls", "st", "--json")
    assert fw["address"] == second
    # A forward file edited by hand to a wrong address: doctor names it.
    state = Path(netlab.env()["LXCPROV_STATE_DIR"]) / "net" / net.bridge / "forwards.json"
    saved = json.loads(state.read_text())
    saved[0]["address"] = str(net.subnet.network_address + 99)
    state.write_text(json.dumps(saved))
    doctor = json.loads(lxcpath.cli("doctor", "st", "--json", check=False).stdout)
    (found,) = [f for f in doctor["findings"] if f["id"] == "forward-mismatch"]
    assert second in found["message"] and "forward add st 18083 80" in found["fix"]


ROUND_TRIP = """
import ipaddress
from lxcprov.system.hostnet import nat
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.hostnet.observe import nft_view
w = nat.Wanted(ipaddress.IPv4Network("10.233.0.0/24"), "lo",
               (Forward("a@/x", "tcp", 18080, 80, "10.233.0.5"),
                Forward("a@/x", "udp", 15353, 5353, "10.233.0.5", "10.233.0.1")),
               ipaddress.IPv6Network("fd11:2233:4455:1::/64"), "lo")
nat.run(nat.replace_commands("rtbr", w), "writing")
print(nft_view("rtbr")[0] == nat.wanted_contents("rtbr", w))
"""


def test_every_kind_of_rule_reads_back_as_written(netlab: NetLab) -> None:
    """What `net setup` compares (the kernel's listing against the wanted table) is equal
    right after writing, for every rule kind: else every setup would rewrite the table."""
    ns = netlab.add_netns()  # a namespace of its own: the host's ruleset is not touched
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c", ROUND_TRIP, env=netlab.env())
    assert out.stdout.strip() == "True", out.stdout + out.stderr
