"""Names and identities on a bridge are owned (issue 22, row 5), on real containers.

A container's DNS name is the one lxcprov gave it, whatever its DHCP client claims; a
busybox DHCP container (whose udhcpc sends no name) is found by name too; the host's
/etc/hosts is not served. A container cannot send as another container (MAC, IPv4, ARP,
IPv6, neighbour advertisements), nor can a veth lxcprov did not make. The spoofing is
done by the container's own root: with its tools (`ip`, `arping`, `udhcpc`) or, for
crafted packets, with a Python run in the container's network namespace (what its root
can do with a raw socket). Everything stays on the test's bridge and in its namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lxcprov.system.hostnet import names
from tests.real.harness import Lxc, wait_for_fault
from tests.real.hostnet.hostnet_lab import REPO, NetLab, free_subnet, gateway, sh, wait_for
from tests.real.netharness import Net
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real

# Sends UDP datagrams from an address to a host and port: argv src dst port payload.
SEND = """
import socket, sys
src, dst, port, payload = sys.argv[1:5]
s = socket.socket(socket.AF_INET6 if ":" in src else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
for _ in range(3):
    s.sendto(payload.encode(), (dst, int(port)))
"""

# An unsolicited neighbour advertisement (override) for argv[1] with argv[2] as its MAC,
# to all nodes: what poisons neighbour caches.
NA = """
import socket, struct, sys
target = socket.inet_pton(socket.AF_INET6, sys.argv[1])
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
msg = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + target + bytes([2, 1]) + mac
for _ in range(3):
    s.sendto(msg, ("ff02::1", 0, 0, socket.if_nametoindex("eth0")))
"""


# Writes the guard for every shape of books (no port, one, two; IPv6 or not; an address
# known or not) and compares the kernel's listing with what `net setup` wants.
ROUND_TRIP = """
import ipaddress, itertools
from lxcprov.system.hostnet import guard, nat
from lxcprov.system.hostnet.observe import guard_table
pre = ipaddress.IPv6Network("fd11:2233:4455:1::/64")
owners = {"a@/x": "lxv000000000001", "b@/x": "lxv000000000002"}
macs = {"a@/x": "00:16:3e:00:00:01", "b@/x": "00:16:3e:00:00:02"}
same = []
for n, prefix, book in itertools.product((0, 1, 2), (None, pre), ({}, {"a@/x": "10.233.0.5"})):
    gw6 = prefix.network_address + 1 if prefix else None
    ports = guard.ports_of(dict(list(owners.items())[:n]), macs, book, prefix)
    w = guard.Wanted(ipaddress.IPv4Address("10.233.0.1"), gw6, ports)
    nat.run(guard.replace_commands("rtbr", w), "writing")
    same.append(guard_table("rtbr") == guard.wanted_contents("rtbr", w))
nat.run(guard.delete_commands("rtbr"), "deleting")
print(same, guard_table("rtbr"))
"""


def _mac(lxc: Lxc, name: str) -> str:
    text = (lxc.path / name / "config").read_text()
    return next(ln.split("=", 1)[1].strip() for ln in text.splitlines()
                if ln.startswith("lxc.net.0.hwaddr"))  # fmt: skip


def _pid(lxc: Lxc, name: str) -> str:
    return sh("lxc-info", "-P", str(lxc.path), "-n", name, "-p", "-H").stdout.strip()


def _in_netns(pid: str, code: str, *args: str) -> None:
    """Run code as root in that network namespace (and nothing else of the container)."""
    out = sh("nsenter", "-t", pid, "-n", sys.executable, "-c", code, *args, check=False)
    assert out.returncode == 0, out.stderr


def _ip(data: dict[str, Any]) -> str:
    (ip,) = data["ipv4"]
    return str(ip)


def _resolve(lxc: Lxc, via: str, name: str, server: str) -> list[str]:
    """The addresses the bridge's dnsmasq gives for name (asked from inside a container)."""
    out = lxc.attach(via, "nslookup", name, server).stdout
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return [ln.split()[-1] for ln in answer.splitlines() if ln.startswith("Address")]


class Listener:
    """A UDP socket on the host's bridge address: what arrives, and from where."""

    def __init__(self, address: str) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET,
                                  socket.SOCK_DGRAM)  # fmt: skip
        self.sock.bind((address, 0))
        self.sock.settimeout(0.2)
        self.port = str(self.sock.getsockname()[1])
        self.seen: list[tuple[str, str]] = []

    def got(self, payload: str) -> list[str]:
        """The sources payload came from, once the sender is done (it sent three copies
        right away; a datagram that arrives at all is there well within the wait)."""
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                data, peer = self.sock.recvfrom(200)
            except TimeoutError:
                continue
            self.seen.append((data.decode(), str(peer[0])))
        return sorted({src for text, src in self.seen if text == payload})

    def close(self) -> None:
        self.sock.close()


def _counters(bridge: str) -> dict[str, int]:
    """Packets each drop rule of the bridge's guard has dropped, by its comment."""
    out = json.loads(sh("nft", "-j", "list", "table", "bridge", f"lxcprov_{bridge}").stdout)
    found = {}
    for obj in out["nftables"]:
        rule = obj.get("rule")
        if rule is not None:
            count = next((e["counter"]["packets"] for e in rule["expr"] if "counter" in e), 0)
            found[rule.get("comment", "")] = int(count)
    return found


def _guarded_ports(bridge: str) -> list[str]:
    out = json.loads(sh("nft", "-j", "list", "set", "bridge", f"lxcprov_{bridge}", "ports").stdout)
    (body,) = [o["set"] for o in out["nftables"] if "set" in o]
    elem = body.get("elem", [])
    return sorted(elem if isinstance(elem, list) else [elem])


def _neighbour(address: str, bridge: str) -> str:
    """The MAC the host's neighbour table has for address on bridge ("" when none)."""
    rows = json.loads(sh("ip", "-j", "neigh", "show", address, "dev", bridge).stdout or "[]")
    return str(rows[0].get("lladdr", "")) if rows else ""


def _claim(lxc: Lxc, name: str, claimed: str) -> str:
    """name's DHCP client asks for a lease under the host name claimed."""
    out = lxc.attach(name, "udhcpc", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0",
                     "-x", f"hostname:{claimed}", "-s", "/etc/udhcpc/lxcprov.script")  # fmt: skip
    return out.stdout + out.stderr


def _net(netlab: NetLab, lxc: Lxc, *args: str) -> Net:
    return _bridge(netlab, lxc, "--no-nat", *args, prefix="sbb")


def test_the_guard_reads_back_as_written(netlab: NetLab) -> None:
    """What `net setup` and every registration compare (the kernel's listing against the
    wanted guard) is equal right after writing: else each would rewrite the table."""
    ns = netlab.add_netns()  # a namespace of its own: the host's ruleset is not touched
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c", ROUND_TRIP, env=netlab.env())
    assert out.stdout.strip() == f"{[True] * 12} None", out.stdout + out.stderr


def test_names_are_the_containers_own_whatever_their_clients_claim(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _net(netlab, lxcpath)
    pw = password_file[0]
    ip1 = _ip(net.new("gb1", pw, "-t", "busybox"))
    ip2 = _ip(net.new("gb2", pw, "-t", "busybox"))
    ip3 = _ip(net.new("gst", pw, "-t", "busybox", "--ip", "auto"))
    # busybox's udhcpc sends no host name: the DHCP container is found by name anyway.
    assert _resolve(lxcpath, "gb2", "gb1", net.gw) == [ip1]
    assert _resolve(lxcpath, "gb1", "gb2", net.gw) == [ip2]
    # gb2's root makes its DHCP client claim gb1's name, the static one's and a name
    # nobody has: each lease is granted (its address stays its own), no name moves.
    for claim in ("gb1", "gst", "nobody1"):
        out = _claim(lxcpath, "gb2", claim)
        assert f"lease of {ip2} obtained" in out, out
    assert _resolve(lxcpath, "gb1", "gb1", net.gw) == [ip1]
    assert _resolve(lxcpath, "gb1", "gst", net.gw) == [ip3]
    assert _resolve(lxcpath, "gb1", "nobody1", net.gw) == []
    assert _resolve(lxcpath, "gb1", "gb2", net.gw) == [ip2]
    # A stopped container's name is not free for the taking either.
    lxcpath.cli("stop", "gb1")
    out = _claim(lxcpath, "gb2", "gb1")
    assert f"lease of {ip2} obtained" in out, out
    assert _resolve(lxcpath, "gb2", "gb1", net.gw) == [ip1]
    # A copy has a name (and a port, MAC and address) of its own; gone with it.
    lxcpath.cli("copy", "gb1", "gb1c")
    copy_ip = _resolve(lxcpath, "gb2", "gb1c", net.gw)
    assert len(copy_ip) == 1 and copy_ip != [ip1] and copy_ip != [ip2]
    owner = f"gb1c@{lxcpath.path}"
    assert names.port_name(owner) in _guarded_ports(net.bridge)
    assert (
        f"lxc.net.0.veth.pair = {names.port_name(owner)}"
        in (lxcpath.path / "gb1c" / "config").read_text()
    )
    lxcpath.cli("destroy", "gb1c")
    assert _resolve(lxcpath, "gb2", "gb1c", net.gw) == []
    assert names.port_name(owner) not in _guarded_ports(net.bridge)
    # What the books hold is what is set up: a second `net setup` changes nothing.
    again = json.loads(lxcpath.cli("net", "setup", "--bridge", net.bridge, "--json").stdout)
    assert again["actions"] == []


def test_the_hosts_own_etc_hosts_is_not_served(netlab: NetLab) -> None:
    """`net setup` run where /etc/hosts names a test-only host: dnsmasq does not answer it
    (with the file served, it would)."""
    lab = netlab
    bridge, subnet = lab.bridge("sbb"), free_subnet()
    fake = str(subnet.network_address + 77)
    hosts = lab.tmp / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{fake} sbbhostonly\n")
    hosts.chmod(0o644)
    code = "from lxcprov.cli.net import app; app()"
    env = lab.env()
    env["PYTHONPATH"] = str(REPO)
    # Its own mount namespace (a slave: the bind stays in it), other tests' images let go.
    sh(sys.executable, "-m", "tests.real.apart", "", "sh", "-c",
       'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts),
       sys.executable, "-c", code, "setup", "--bridge", bridge, "--address", gateway(subnet),
       "--no-nat", env=env, timeout=60)  # fmt: skip
    gw = str(subnet.network_address + 1)
    out = sh("busybox", "nslookup", "sbbhostonly", gw, check=False)
    assert "Server:" in out.stdout and gw in out.stdout, out.stdout + out.stderr  # it answered
    assert fake not in out.stdout, out.stdout


def test_a_container_cannot_send_as_another_over_ipv4(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _net(netlab, lxcpath)
    pw = password_file[0]
    vip = _ip(net.new("sv", pw, "-t", "busybox"))
    aip = _ip(net.new("sa", pw, "-t", "busybox"))
    vmac, amac = _mac(lxcpath, "sv"), _mac(lxcpath, "sa")
    apid = _pid(lxcpath, "sa")
    # A veth lxcprov did not make, with an address of the static range nobody holds.
    outside = netlab.add_netns()
    netlab.veth(outside, master=net.bridge)
    oip = str(net.subnet.network_address + 100)
    sh("ip", "-n", outside, "addr", "add", f"{oip}/24", "dev", "eth0")
    host = Listener(net.gw)
    try:
        # Each sends as itself: all arrive (the guard lets a container be itself).
        _in_netns(apid, SEND, aip, net.gw, host.port, "a-as-a")
        assert host.got("a-as-a") == [aip]
        sh("ip", "netns", "exec", outside, sys.executable, "-c", SEND, oip, net.gw, host.port,
           "o-as-o")  # fmt: skip
        assert host.got("o-as-o") == [oip]
        # The attacker's root adds the victim's address and sends from it: nothing arrives.
        lxcpath.attach("sa", "ip", "addr", "add", f"{vip}/32", "dev", "eth0")
        _in_netns(apid, SEND, vip, net.gw, host.port, "a-as-v")
        assert host.got("a-as-v") == []
        # Nor from the veth lxcprov did not make.
        sh("ip", "-n", outside, "addr", "add", f"{vip}/32", "dev", "eth0")
        sh("ip", "netns", "exec", outside, sys.executable, "-c", SEND, vip, net.gw, host.port,
           "o-as-v")  # fmt: skip
        assert host.got("o-as-v") == []
        # ... and its gratuitous ARP for the victim's address (said, not left to its
        # neighbour cache: the bridge's MAC is now fixed, so its entry for the gateway
        # stays valid and it has no reason to ask again as the victim).
        sh("ip", "netns", "exec", outside, "busybox", "arping", "-U", "-c", "2", "-s", vip,
           "-I", "eth0", vip, check=False)  # fmt: skip
        # Gratuitous ARP for the victim's address: the host's neighbour entry stays the
        # victim's (ARP updates an entry at most once a second: wait that out first).
        sh("busybox", "ping", "-c", "1", "-W", "2", vip)
        assert _neighbour(vip, net.bridge) == vmac
        time.sleep(1.5)
        lxcpath.attach("sa", "arping", "-U", "-c", "2", "-s", vip, "-I", "eth0", vip)
        assert _neighbour(vip, net.bridge) == vmac
        # The attacker takes the victim's MAC: its frames, even with its own address, are
        # dropped at its port.
        lxcpath.attach("sa", "ip", "addr", "del", f"{vip}/32", "dev", "eth0")
        lxcpath.attach("sa", "ip", "link", "set", "eth0", "address", vmac)
        _in_netns(apid, SEND, aip, net.gw, host.port, "a-with-vmac")
        assert host.got("a-with-vmac") == []
        lxcpath.attach("sa", "ip", "link", "set", "eth0", "address", amac)
    finally:
        host.close()
    dropped = _counters(net.bridge)
    for rule in (
        "lxcprov: a port sends with its container's MAC only",
        "lxcprov: ARP sender IP is the port's container's (or 0.0.0.0, a probe)",
        "lxcprov: ARP as a container's (or the bridge's) address from its own port only",
    ):
        assert dropped[rule] > 0, (rule, dropped)  # fmt: skip
    # The victim was never cut off.
    assert lxcpath.attach("sv", "ping", "-c", "1", "-W", "2", net.gw).returncode == 0


def test_a_container_cannot_send_as_another_over_ipv6(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _net(netlab, lxcpath, "--ipv6", "auto")
    st = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    prefix = ipaddress.IPv6Interface(st["settings"]["ipv6"])
    pw = password_file[0]
    net.new("sv6", pw, "-t", "busybox")
    net.new("sa6", pw, "-t", "busybox")
    vmac, amac = _mac(lxcpath, "sv6"), _mac(lxcpath, "sa6")
    v6, a6 = (str(names.eui64(prefix.network, m)) for m in (vmac, amac))
    apid = _pid(lxcpath, "sa6")

    def has(name: str, address: str) -> bool:
        out = lxcpath.attach(name, "ip", "-6", "addr", "show", "eth0").stdout
        return address in out and "tentative" not in out

    assert wait_for(lambda: has("sv6", v6) and has("sa6", a6), 20)
    host = Listener(str(prefix.ip))
    try:
        assert wait_for(lambda: sh("busybox", "ping6", "-c", "1", "-W", "1", v6,
                                   check=False).returncode == 0, 15)  # fmt: skip
        assert _neighbour(v6, net.bridge) == vmac
        _in_netns(apid, SEND, a6, str(prefix.ip), host.port, "a-as-a")
        assert host.got("a-as-a") == [a6]
        # The attacker's root takes the victim's address (no duplicate detection) and sends.
        # (iproute2's ip in its namespace: busybox's has no nodad)
        sh("nsenter", "-t", apid, "-n", "ip", "-6", "addr", "add", f"{v6}/128", "dev", "eth0",
           "nodad")  # fmt: skip
        _in_netns(apid, SEND, v6, str(prefix.ip), host.port, "a-as-v")
        assert host.got("a-as-v") == []
        # It advertises the victim's address as its own: the host's entry stays the victim's.
        _in_netns(apid, NA, v6, amac)
        assert _neighbour(v6, net.bridge) == vmac
    finally:
        host.close()
    dropped = _counters(net.bridge)
    assert dropped["lxcprov: IPv6 from the port's container's addresses only"] > 0, dropped
    rule = "lxcprov: neighbour advertisements for the port's container's addresses only"
    assert dropped[rule] > 0, dropped


def test_a_new_killed_between_its_books_and_the_guard_is_finished_by_net_setup(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _net(netlab, lxcpath)
    env = lxcpath.env(LXCPROV_FAULT_AT="guard-rules")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", "new", "gk", "-t", "busybox", "--bridge", net.bridge,
         "--root-password-file", str(password_file[0])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_fault(proc, "guard-rules", "new gk", 300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    port = names.port_name(f"gk@{lxcpath.path}")
    assert port not in _guarded_ports(net.bridge)  # recorded in the books, no rule yet
    status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    assert any("held to their own MAC" in p for p in status["pending"]), status["pending"]
    first = json.loads(lxcpath.cli("net", "setup", "--bridge", net.bridge, "--json").stdout)
    assert any("held to their own MAC" in a for a in first["actions"]), first
    assert port in _guarded_ports(net.bridge)
    again = json.loads(lxcpath.cli("net", "setup", "--bridge", net.bridge, "--json").stdout)
    assert again["actions"] == []
    # dnsmasq's files lost or stale (a command killed between its books and them): setup
    # writes them again from the books.
    state = Path(os.environ["LXCPROV_STATE_DIR"]) / "net" / net.bridge
    wanted = (state / "dhcp-hosts").read_text()
    assert "gk" in wanted
    (state / "dhcp-hosts").unlink()
    fixed = json.loads(lxcpath.cli("net", "setup", "--bridge", net.bridge, "--json").stdout)
    assert any("names and reservations dnsmasq serves" in a for a in fixed["actions"]), fixed
    assert (state / "dhcp-hosts").read_text() == wanted
    # What the killed `new` left is removed, its guard entries with it.
    lxcpath.cli("destroy", "--force", "gk")
    assert port not in _guarded_ports(net.bridge)
    for book in ("addresses.json", "macs.json", "ports.json"):
        assert "gk@" not in (state / book).read_text(), book
