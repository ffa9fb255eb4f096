"""The bridge's guard after review 22 (findings 1, 5, 7, 8, 9), on real containers.

The attacks are the reviewer's: raw frames written by a container's root (a Python with
an AF_PACKET socket run in the container's network namespace), or by a veth lxcprov did
not make (what a container started by plain lxc-start has). What arrives is read the same
way, by a packet socket in the victim's namespace, which sees a frame whatever its
checksums or addresses. Everything stays on the test's bridge and in its namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lxcprov.engine.archive import Manifest
from lxcprov.system.hostnet import names
from lxcprov.system.netintent import NetIntent
from tests import tarcraft as tc
from tests.real.harness import Lxc, destroy_all
from tests.real.hostnet.hostnet_lab import NetLab, sh, unique, wait_for
from tests.real.netharness import Net
from tests.real.netharness import bridge as _bridge
from tests.real.test_bridge_guard import _claim, _counters, _ip, _mac, _pid

pytestmark = pytest.mark.real

# Sends each hex frame of argv three times on eth0, as they are.
SEND_RAW = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(3):
    for frame in sys.argv[1:]:
        s.send(bytes.fromhex(frame))
"""

# Reads eth0 for argv[1] seconds; prints "ready", then the labels of the marked frames seen.
SNIFF = """
import select, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
print("ready", flush=True)
seen, end = set(), time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    if select.select([s], [], [], 0.1)[0]:
        frame = s.recv(65536)
        at = frame.find(b"fbmark:")
        if at >= 0:
            seen.add(frame[at + 7:].split(b".")[0].decode())
print(" ".join(sorted(seen)), flush=True)
"""

MARK = b"fbmark:"


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _csum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _ether(dst: str, src: str, kind: int, payload: bytes) -> bytes:
    return _mac_bytes(dst) + _mac_bytes(src) + struct.pack("!H", kind) + payload


def _udp4(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    """An IPv4 UDP datagram (UDP checksum 0: none, which IPv4 allows)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return head[:10] + struct.pack("!H", _csum(head)) + head[12:] + udp


def _ip6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    pseudo = s + d + struct.pack("!IxxxB", len(payload), next_header)
    at = 6 if next_header == 17 else 2  # where the checksum is: UDP, ICMPv6
    body = payload[:at] + struct.pack("!H", _csum(pseudo + payload)) + payload[at + 2 :]
    return struct.pack("!IHBB", 0x60000000, len(body), next_header, 255) + s + d + body


def _udp6(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    return _ip6(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data)


def _bootp(op: int, kind: int, chaddr: str, *, ciaddr: str = "0.0.0.0", yiaddr: str = "0.0.0.0",
           options: bytes = b"", mark: str = "") -> bytes:  # fmt: skip
    """A BOOTP/DHCP message of type kind (53), chaddr as the client's MAC."""
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, 0x12345678, 0, 0,
                        socket.inet_aton(ciaddr), socket.inet_aton(yiaddr), bytes(4), bytes(4),
                        _mac_bytes(chaddr), MARK + mark.encode() + b".", b"")  # fmt: skip
    return fixed + b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + options + b"\xff"


def _opt(code: int, data: bytes) -> bytes:
    return bytes([code, len(data)]) + data


def _hexes(*frames: bytes) -> list[str]:
    return [f.hex() for f in frames]


def _send_from_container(lxc: Lxc, name: str, *frames: bytes) -> None:
    out = sh("nsenter", "-t", _pid(lxc, name), "-n", sys.executable, "-c", SEND_RAW,
             *_hexes(*frames), check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr


def _send_from_netns(netns: str, *frames: bytes) -> None:
    out = sh("ip", "netns", "exec", netns, sys.executable, "-c", SEND_RAW, *_hexes(*frames),
             check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr


def _seen(lxc: Lxc, victim: str, send: list[tuple[str | Lxc, str, list[bytes]]]) -> set[str]:
    """The marked frames the victim's eth0 saw while each sender sent its frames: sender
    ("netns", name) or (lxc, container)."""
    return _sniffed(["nsenter", "-t", _pid(lxc, victim), "-n"], send)


def _sniffed(enter: list[str], send: list[tuple[str | Lxc, str, list[bytes]]]) -> set[str]:
    """The marked frames eth0 saw, in the namespace `enter` runs the sniffer in, while
    each sender sent its frames."""
    argv = [*enter, sys.executable, "-c", SNIFF, "3"]
    sniffer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sniffer.stdout is not None
        assert sniffer.stdout.readline().strip() == "ready"
        for who, name, frames in send:
            if isinstance(who, Lxc):
                _send_from_container(who, name, *frames)
            else:
                _send_from_netns(name, *frames)
        out, err = sniffer.communicate(timeout=30)
    finally:
        if sniffer.poll() is None:
            sniffer.kill()
            sniffer.wait()
    assert sniffer.returncode == 0, err
    return set(out.split())


def _link_local(mac: str) -> str:
    return str(names.eui64(names.LINK_LOCAL, mac))


def _net(netlab: NetLab, lxc: Lxc, *args: str) -> Net:
    return _bridge(netlab, lxc, "--no-nat", *args, prefix="fb")


def test_no_dhcp_answer_reaches_a_container_but_the_hosts(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """Finding 1: a DHCP ACK from port 1067 (or a DHCPv6 reply from 5470) sent by another
    container, or sent from a veth lxcprov did not make, never reaches a container."""
    net = _net(netlab, lxcpath, "--ipv6", "auto")
    pw = password_file[0]
    vip = _ip(net.new("fv", pw, "-t", "busybox"))
    aip = _ip(net.new("fa", pw, "-t", "busybox"))
    vmac, amac = _mac(lxcpath, "fv"), _mac(lxcpath, "fa")
    outside = netlab.add_netns()
    netlab.veth(outside, master=net.bridge)
    omac = sh("ip", "-n", outside, "-j", "link", "show", "eth0").stdout
    omac = json.loads(omac)[0]["address"]
    router = socket.inet_aton(aip)  # the rogue's offer: itself as router and DNS
    ack = _bootp(2, 5, vmac, yiaddr=vip, mark="ack1067",
                 options=_opt(1, bytes([255, 255, 255, 0])) + _opt(3, router) + _opt(6, router)
                 + _opt(51, struct.pack("!I", 3600)) + _opt(54, router))  # fmt: skip

    def ack_from(src_mac: str, src_ip: str, sport: int, dport: int, mark: str) -> bytes:
        body = ack.replace(MARK + b"ack1067.", MARK + mark.encode() + b".")
        return _ether(vmac, src_mac, 0x0800, _udp4(src_ip, vip, sport, dport, body))

    v6, a6 = _link_local(vmac), _link_local(amac)
    reply6 = b"\x07\x12\x34\x56" + MARK + b"reply5470."  # DHCPv6 REPLY, then the mark
    control6 = b"\x07\x12\x34\x56" + MARK + b"udp6ctl."
    seen = _seen(lxcpath, "fv", [
        (lxcpath, "fa", [
            ack_from(amac, aip, 1067, 68, "ack1067"),
            ack_from(amac, aip, 67, 68, "ack67"),
            ack_from(amac, aip, 1067, 6800, "udpctl"),  # not DHCP: passes (the path works)
            _ether(vmac, amac, 0x86DD, _udp6(a6, v6, 5470, 546, reply6)),
            _ether(vmac, amac, 0x86DD, _udp6(a6, v6, 5470, 5460, control6)),
        ]),
        ("netns", outside, [
            ack_from(omac, "0.0.0.0", 67, 68, "outack67"),
            ack_from(omac, "0.0.0.0", 1067, 6800, "outctl"),
        ]),
    ])  # fmt: skip
    assert seen == {"udpctl", "udp6ctl", "outctl"}, seen
    dropped = _counters(net.bridge)
    rule = "lxcprov: nothing to a DHCP or DHCPv6 client's port: the host is the only server"
    assert dropped[rule] >= 9, dropped
    assert dropped["lxcprov: a container takes DHCP and DHCPv6 answers from the host only"] >= 3
    # The host's own answers still come: the victim's client gets its own lease, with the
    # host as its router.
    out = _claim(lxcpath, "fv", "fv")
    assert f"lease of {vip} obtained" in out, out
    route = lxcpath.attach("fv", "ip", "route", "show", "default").stdout
    assert f"via {net.gw} " in route, route


def test_no_container_declines_or_releases_anothers_address(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """Finding 5: a DHCPDECLINE from 0.0.0.0 (or a RELEASE from its own address) naming
    another container's MAC is dropped at the sender's port; the victim keeps its
    reservation. The sender's own DHCP, with its own MAC, still works."""
    net = _net(netlab, lxcpath)
    pw = password_file[0]
    vip = _ip(net.new("fv5", pw, "-t", "busybox"))
    aip = _ip(net.new("fa5", pw, "-t", "busybox"))
    vmac, amac = _mac(lxcpath, "fv5"), _mac(lxcpath, "fa5")
    server = _opt(54, socket.inet_aton(net.gw))
    decline = _bootp(1, 4, vmac, options=_opt(50, socket.inet_aton(vip)) + server)
    release = _bootp(1, 7, vmac, ciaddr=vip, options=server)
    relayed = _bootp(1, 3, amac, options=_opt(50, socket.inet_aton(aip)))
    relayed = relayed[:24] + socket.inet_aton(aip) + relayed[28:]  # giaddr: "I am a relay"
    broadcast = "ff:ff:ff:ff:ff:ff"
    _send_from_container(
        lxcpath, "fa5",
        _ether(broadcast, amac, 0x0800, _udp4("0.0.0.0", "255.255.255.255", 68, 67, decline)),
        _ether(broadcast, amac, 0x0800, _udp4(aip, net.gw, 68, 67, release)),
        _ether(broadcast, amac, 0x0800, _udp4(aip, net.gw, 68, 67, relayed)),
    )  # fmt: skip
    # Without the rule dnsmasq disabled the static address for 10 minutes and the
    # victim's next request got another one.
    out = _claim(lxcpath, "fv5", "fv5")
    assert f"lease of {vip} obtained" in out, out
    out = _claim(lxcpath, "fa5", "fa5")
    assert f"lease of {aip} obtained" in out, out
    leases = Path(netlab.env()["LXCPROV_STATE_DIR"]) / "net" / net.bridge / "dnsmasq.leases"
    assert f"{vmac} {vip} " in leases.read_text(), leases.read_text()
    dropped = _counters(net.bridge)
    rule = "lxcprov: DHCP requests from a port name its container's MAC (no relay)"
    assert dropped[rule] >= 9, dropped


def test_nobody_sends_as_the_bridge_and_the_host_takes_no_advertisement(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """Finding 7: from a veth lxcprov did not make, frames with the bridge's MAC, an
    advertisement for its link-local address and a router advertisement sent as the
    bridge reach no container; the host's bridge takes no advertisement either."""
    net = _net(netlab, lxcpath)
    bridge = net.bridge
    sysfs = Path("/sys/class/net") / bridge
    pw = password_file[0]
    vip = _ip(net.new("fv7", pw, "-t", "busybox"))
    vmac = _mac(lxcpath, "fv7")
    outside = netlab.add_netns()
    netlab.veth(outside, master=bridge)
    bmac = (sysfs / "address").read_text().strip()  # with its ports (checked below)
    omac = json.loads(sh("ip", "-n", outside, "-j", "link", "show", "eth0").stdout)[0]["address"]
    shown = json.loads(sh("ip", "-j", "-6", "addr", "show", "dev", bridge, "scope", "link").stdout)
    bll, oll = shown[0]["addr_info"][0]["local"], _link_local(omac)  # the bridge's, as it is
    vpid = _pid(lxcpath, "fv7")

    def victims_entry() -> str:
        out = sh("nsenter", "-t", vpid, "-n", "ip", "-j", "-6", "neigh", "show", bll,
                 "dev", "eth0").stdout  # fmt: skip
        rows = json.loads(out or "[]")
        return str(rows[0].get("lladdr", "")) if rows else ""

    def pinged() -> bool:  # once its link-local address is no longer tentative
        argv = ["busybox", "ping6", "-c", "1", "-W", "1", "-I", "eth0", bll]
        return sh("nsenter", "-t", vpid, "-n", *argv, check=False).returncode == 0

    assert wait_for(pinged, 20)
    assert victims_entry() == bmac
    na = struct.pack("!BBHI16s", 136, 0, 0, 0x20000000, ipaddress.IPv6Address(bll).packed)
    na += struct.pack("!BB6s", 2, 1, _mac_bytes(omac))
    prefix = ipaddress.IPv6Network("fd31:0:0:7::/64")
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
    ra += struct.pack("!BB6s", 1, 1, _mac_bytes(bmac))
    ra += struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0, prefix.network_address.packed)
    as_bridge = MARK + b"asbridge."
    seen = _seen(lxcpath, "fv7", [("netns", outside, [
        _ether(vmac, bmac, 0x0800, _udp4(net.gw, vip, 5000, 5001, as_bridge)),
        _ether(vmac, omac, 0x0800, _udp4("0.0.0.0", vip, 5000, 5001, MARK + b"outctl.")),
        _ether("33:33:00:00:00:01", omac, 0x86DD, _ip6(oll, "ff02::1", 58, na)),
        _ether("33:33:00:00:00:01", bmac, 0x86DD, _ip6(bll, "ff02::1", 58, ra)),
        # The same advertisement with the sender's own MAC, to the host only.
        _ether(bmac, omac, 0x86DD, _ip6(oll, "ff02::1", 58, ra)),
    ])])  # fmt: skip
    assert seen == {"outctl"}, seen
    assert victims_entry() == bmac
    for where in (["nsenter", "-t", vpid, "-n"], []):
        addrs = sh(
            *where, "ip", "-6", "addr", "show", *(["dev", bridge] if not where else [])
        ).stdout
        assert "fd31:0:0:7:" not in addrs, addrs
    # The bridge's MAC is the one net setup gave it, kept as ports joined; the host's
    # bridge takes no advertisement.
    for sysctl in ("accept_ra", "autoconf"):
        assert Path(f"/proc/sys/net/ipv6/conf/{bridge}/{sysctl}").read_text().strip() == "0"
    assert (sysfs / "addr_assign_type").read_text().strip() == "3"  # set: kept whatever joins
    assert (sysfs / "address").read_text().strip() == bmac == names.bridge_mac(bridge)
    dropped = _counters(bridge)
    assert dropped["lxcprov: a container's (or the bridge's) MAC from its own port only"] >= 6
    assert (
        dropped["lxcprov: neighbour advertisements for a guarded address from its port only"] >= 3
    )


def test_an_import_never_shares_a_mac_nor_takes_an_unmanaged_bridge(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """Findings 8 and 9: an export imported into a second lxcpath on the same bridge is
    refused (the MAC is the first one's), with --new-identity it is fine; an archive naming
    an unmanaged bridge and an address of another network gets this host's default
    bridge and an address of its own, and the output says so."""
    net = _net(netlab, lxcpath)
    pw = password_file[0]
    ip1 = _ip(net.new("fm1", pw, "-t", "busybox"))
    mac1 = _mac(lxcpath, "fm1")
    lxcpath.cli("stop", "fm1")
    exported = tmp_path / "fm1.tar.zst"
    lxcpath.cli("export", "fm1", str(exported))
    other = Lxc(Path(tempfile.mkdtemp(prefix="fb-lxc2-", dir="/var/tmp")))
    env = other.env()
    try:
        proc = other.cli("import", str(exported), check=False, env=env)
        assert proc.returncode != 0
        assert (
            f"{mac1} is already the MAC of fm1 (in {lxcpath.path}) on {net.bridge}" in proc.stderr
        )
        assert "--new-identity" in proc.stderr, proc.stderr
        assert not (other.path / "fm1").exists()
        macs = json.loads((Path(env["LXCPROV_STATE_DIR"]) / "net" / net.bridge / names.MACS)
                          .read_text())  # fmt: skip
        assert [o for o, m in macs.items() if m == mac1] == [f"fm1@{lxcpath.path}"], macs
        done = json.loads(other.cli("import", str(exported), "--new-identity", "--json",
                                    env=env).stdout)  # fmt: skip
        assert done["mac"] != mac1
        # The crafted archive of the review.
        wish = Manifest(name="fm9", created="2026-01-01T00:00:00+00:00", ids=tc.MAP,
                        config="lxc.arch = amd64\n", mac="02:00:00:00:00:01",
                        network=NetIntent("static", "fbnotmanaged", "198.51.100.1/24",
                                          "198.51.100.254"))  # fmt: skip
        crafted = tc.write(tmp_path / "fm9.tar.zst", tc.header("rootfs/", b"5", mode=0o755),
                           meta=wish)  # fmt: skip
        proc = other.cli("import", str(crafted), "--json", env=env)
        got = json.loads(proc.stdout)
        config = (other.path / "fm9" / "config").read_text()
        assert "198.51.100.1" not in config and "fbnotmanaged" not in config, config
        assert f"lxc.net.0.link = {net.bridge}" in config, config
        assert (got["network"], got["bridge"]) == ("static", net.bridge), got
        address = ipaddress.IPv4Interface(got["address"])
        assert address.ip in net.subnet and str(address.ip) != ip1, got
        assert got["network_lines"][:2] == [
            f"bridge: {net.bridge} (the archive asked for fbnotmanaged: not a bridge lxcprov "
            "manages here)",
            f"address: {address} (the archive asked for 198.51.100.1/24: it belongs to "
            f"fbnotmanaged, not {net.bridge})",
        ], got
        assert "the archive asked for fbnotmanaged" in " ".join(proc.stderr.split())
    finally:
        destroy_all(other.path)
        shutil.rmtree(other.path, ignore_errors=True)


def _tagged(frame: bytes, *tpids: int) -> bytes:
    """frame with a VLAN tag of id 0 for each TPID, after the source MAC (outermost first)."""
    return frame[:12] + b"".join(struct.pack("!HH", tpid, 0) for tpid in tpids) + frame[12:]


# Alone: the any-port rule of every lxcprov bridge's guard sees every bridge of the host
# (the kernel here has no `meta ibrname`), so under parallel workers another test's guard
# would drop these frames first, counting them in its own table, not in this one's.
@pytest.mark.host_alone
def test_a_vlan_tag_hides_nothing_from_the_guard(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """The review of these fixes: frames with a VLAN tag of id 0 (which the receiving
    kernel strips, taking the frame as untagged) sent from a veth lxcprov did not make
    passed every rule that reads the ethertype or the protocol: a tagged ARP reply took
    the victim's entry for its gateway, a tagged router advertisement gave it a prefix
    and a route, a doubly tagged DHCP answer reached it. Now a tagged frame is dropped
    from every port, one tag or two, 802.1Q or 802.1ad."""
    net = _net(netlab, lxcpath, "--ipv6", "auto")
    pw = password_file[0]
    vip = _ip(net.new("fvt", pw, "-t", "busybox"))
    vmac = _mac(lxcpath, "fvt")
    outside = netlab.add_netns()
    netlab.veth(outside, master=net.bridge)
    omac = json.loads(sh("ip", "-n", outside, "-j", "link", "show", "eth0").stdout)[0]["address"]
    oll = _link_local(omac)
    vpid = _pid(lxcpath, "fvt")
    ack = _bootp(
        2,
        5,
        vmac,
        yiaddr=vip,
        mark="tagack",
        options=_opt(3, socket.inet_aton(vip)) + _opt(54, socket.inet_aton(vip)),
    )
    ack_frame = _ether(vmac, omac, 0x0800, _udp4("0.0.0.0", vip, 1067, 68, ack))
    arp = struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        2,
        _mac_bytes(omac),
        socket.inet_aton(net.gw),
        _mac_bytes(vmac),
        socket.inet_aton(vip),
    )
    prefix = ipaddress.IPv6Network("fd31:0:0:9::/64")
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
    ra += struct.pack("!BB6s", 1, 1, _mac_bytes(omac))
    ra += struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0, prefix.network_address.packed)
    ra_frame = _ether("33:33:00:00:00:01", omac, 0x86DD, _ip6(oll, "ff02::1", 58, ra))
    udp = _ether(vmac, omac, 0x0800, _udp4("0.0.0.0", vip, 5000, 5001, MARK + b"tagudp."))
    tags = [(0x8100,), (0x88A8,), (0x8100, 0x8100), (0x88A8, 0x8100)]
    frames = []
    for tpids in tags:
        frames += [
            _tagged(ack_frame, *tpids),
            _tagged(udp, *tpids),
            _tagged(_ether(vmac, omac, 0x0806, arp), *tpids),
            _tagged(ra_frame, *tpids),
        ]
    frames.append(_ether(vmac, omac, 0x0800, _udp4("0.0.0.0", vip, 5000, 5001, MARK + b"ctl.")))
    seen = _seen(lxcpath, "fvt", [("netns", outside, frames)])
    assert seen == {"ctl"}, seen  # the untagged control passes: the path works
    gw_entry = sh("nsenter", "-t", vpid, "-n", "ip", "neigh", "show", net.gw).stdout
    assert omac not in gw_entry, gw_entry
    addrs = sh("nsenter", "-t", vpid, "-n", "ip", "-6", "addr", "show").stdout
    routes = sh("nsenter", "-t", vpid, "-n", "ip", "-6", "route", "show").stdout
    assert "fd31:0:0:9:" not in addrs and oll not in routes, (addrs, routes)
    dropped = _counters(net.bridge)
    rule = "lxcprov: no VLAN-tagged frame from any port (a tag hides what the rules read)"
    assert dropped[rule] >= 3 * len(frames) - 3, dropped


def test_another_bridges_vlans_pass_while_a_guard_is_on(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """The admin's own bridge with VLANs (a trunk to VMs) keeps them when lxcprov guards a
    bridge of its own: the guard's chains see every bridge of the host, and only a
    priority tag (id 0, taken as untagged) is dropped from any port."""
    net = _net(netlab, lxcpath)
    net.new("gv1", password_file[0], "-t", "busybox")  # the guard has a port to hold
    trunk = unique("lxptb")
    sh("ip", "link", "add", trunk, "type", "bridge")
    netlab.links.append(trunk)
    sh("ip", "link", "set", trunk, "up")
    a, b = netlab.add_netns(), netlab.add_netns()
    netlab.veth(a, master=trunk)
    netlab.veth(b, master=trunk)
    amac, bmac = (json.loads(sh("ip", "-n", ns, "-j", "link", "show", "eth0").stdout)[0]["address"]
                  for ns in (a, b))  # fmt: skip

    def frame(word: bytes) -> bytes:
        return _ether(bmac, amac, 0x0800, _udp4("0.0.0.0", "192.0.2.9", 5000, 5001, MARK + word))

    vid5 = frame(b"vid5.")
    frames = [vid5[:12] + struct.pack("!HH", 0x8100, 5) + vid5[12:],
              _tagged(frame(b"vid0."), 0x8100), frame(b"ctl.")]  # fmt: skip
    seen = _sniffed(["ip", "netns", "exec", b], [("netns", a, frames)])
    assert seen == {"ctl", "vid5"}, seen  # VLAN 5 passes; a priority tag does not
