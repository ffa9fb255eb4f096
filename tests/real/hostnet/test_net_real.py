"""Real host networking: bridges, nftables, dnsmasq, DHCP clients and NAT in netns."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lxcprov.system import hostnet

from .hostnet_lab import (
    NetLab,
    free_subnet,
    gateway,
    link_exists,
    nft_tables,
    processes_mentioning,
    sh,
    wait_for,
)

pytestmark = pytest.mark.real

UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
"""

# Our own dhclient script: the stock one rewrites the host's /etc/resolv.conf.
DHCLIENT_SCRIPT = """#!/bin/sh
case "$reason" in
  PREINIT) ip link set "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    ip addr flush dev "$interface"
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
    ;;
esac
exit 0
"""


def status(lab: NetLab, bridge: str) -> dict[str, Any]:
    data = json.loads(lab.cli("status", "--bridge", bridge, "--json").stdout)
    assert isinstance(data, dict)
    return data


def ns_ipv4(netns: str, ifname: str = "eth0") -> str | None:
    out = sh("ip", "-n", netns, "-j", "addr", "show", "dev", ifname).stdout
    for info in json.loads(out)[0].get("addr_info", []):
        if info.get("family") == "inet":
            return str(info["local"])
    return None


def script(lab: NetLab, name: str, text: str) -> Path:
    path = lab.tmp / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_setup_twice_no_change_then_teardown_twice(lab: NetLab) -> None:
    bridge = lab.bridge()
    subnet = free_subnet()
    outside = lab.add_netns()
    uplink, _ = lab.veth(outside)

    first = lab.cli("setup", "--bridge", bridge, "--address", gateway(subnet), "--uplink", uplink)
    assert "create bridge" in first.stderr
    second = lab.cli("setup", "--bridge", bridge, "--json")
    assert "no change" in second.stderr
    data = json.loads(second.stdout)
    assert data["changed"] is False and data["actions"] == []
    assert data["uplink"] == uplink

    st = status(lab, bridge)
    assert st["exists"] and st["up"] and st["nat_table"] and st["ip_forward"]
    assert st["addresses"] == [gateway(subnet)]
    assert st["pending"] == []
    dm = st["dnsmasq"]
    assert isinstance(dm, dict) and dm["alive"]
    pid = int(dm["pid"])
    assert st["tx_checksum_offload"] is False
    assert ("inet", f"lxcprov_{bridge}") in nft_tables()
    # The saved settings survive in the config dir, not in /etc.
    assert hostnet.load_settings(bridge) == hostnet.NetSettings(
        bridge, ipaddress.IPv4Interface(gateway(subnet)), True, True, uplink
    )

    down = lab.cli("teardown", "--bridge", bridge)
    assert "delete bridge" in down.stderr
    assert not link_exists(bridge)
    assert ("inet", f"lxcprov_{bridge}") not in nft_tables()
    assert wait_for(lambda: not Path(f"/proc/{pid}/cmdline").exists() or _is_zombie(pid))
    assert processes_mentioning(str(lab.tmp / "var")) == []
    assert not (lab.tmp / "var" / "net" / bridge).exists()
    assert hostnet.load_settings(bridge) is None
    assert link_exists(uplink)  # not ours: untouched

    again = lab.cli("teardown", "--bridge", bridge)
    assert "nothing to remove" in again.stderr


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def test_converges_on_changed_address_and_restarts_dead_dnsmasq(lab: NetLab) -> None:
    bridge = lab.bridge()
    first_net, second_net = free_subnet(), free_subnet()
    lab.cli("setup", "--bridge", bridge, "--address", gateway(first_net), "--no-nat")
    pid1 = status(lab, bridge)["dnsmasq"]
    assert isinstance(pid1, dict)

    changed = lab.cli("setup", "--bridge", bridge, "--address", gateway(second_net), "--json")
    actions = json.loads(changed.stdout)["actions"]
    assert f"remove address {gateway(first_net)} from {bridge}" in actions
    assert f"add address {gateway(second_net)} to {bridge}" in actions
    st = status(lab, bridge)
    assert st["addresses"] == [gateway(second_net)]
    dm = st["dnsmasq"]
    assert isinstance(dm, dict) and dm["alive"] and dm["pid"] != pid1["pid"]
    cmdline = Path(f"/proc/{dm['pid']}/cmdline").read_bytes().decode()
    assert f"--listen-address={second_net.network_address + 1}" in cmdline

    # dnsmasq dies: status shows it, setup (no options) restarts it.
    os.kill(int(dm["pid"]), 9)
    assert wait_for(lambda: _is_zombie(int(dm["pid"])))
    st = status(lab, bridge)
    assert st["dnsmasq"] == {"pid": None, "alive": False, "dns": False}
    assert any("start dnsmasq" in p for p in st["pending"])
    restored = json.loads(lab.cli("setup", "--bridge", bridge, "--json").stdout)
    assert any(a.startswith("start dnsmasq") for a in restored["actions"])
    assert status(lab, bridge)["dnsmasq"]["alive"]
    assert json.loads(lab.cli("setup", "--bridge", bridge, "--json").stdout)["actions"] == []


def _bridge_with_client(lab: NetLab, *, nat_uplink: str | None = None) -> tuple[str, str, str]:
    bridge = lab.bridge()
    subnet = free_subnet()
    args = ["setup", "--bridge", bridge, "--address", gateway(subnet)]
    args += ["--uplink", nat_uplink] if nat_uplink else ["--no-nat"]
    lab.cli(*args)
    client = lab.add_netns()
    lab.veth(client, master=bridge)
    return bridge, str(subnet.network_address + 1), client


def test_udhcpc_gets_a_lease_and_pings(lab: NetLab) -> None:
    bridge, gw, client = _bridge_with_client(lab)
    udhcpc = script(lab, "udhcpc.sh", UDHCPC_SCRIPT)
    proc = sh(
        "ip", "netns", "exec", client,
        "busybox", "udhcpc", "-i", "eth0", "-q", "-n", "-f", "-t", "5", "-T", "1",
        "-s", str(udhcpc),
    )  # fmt: skip
    assert "lease of" in proc.stderr + proc.stdout
    ip = ns_ipv4(client)
    assert ip is not None
    split = hostnet.split(ipaddress.IPv4Interface(f"{gw}/24"))
    assert split.dhcp_first <= ipaddress.IPv4Address(ip) <= split.dhcp_last
    sh("ip", "netns", "exec", client, "busybox", "ping", "-c1", "-W2", gw)
    sh("busybox", "ping", "-c1", "-W2", ip)
    assert wait_for(lambda: any(str(le.ipv4) == ip for le in hostnet.leases(bridge)))
    leases = status(lab, bridge)["leases"]
    assert isinstance(leases, list) and leases[0]["ipv4"] == ip


def test_dhclient_gets_a_lease_and_pings(lab: NetLab) -> None:
    bridge, gw, client = _bridge_with_client(lab)
    dhscript = script(lab, "dhclient.sh", DHCLIENT_SCRIPT)
    (lab.tmp / "dhclient.conf").write_text('send host-name "dhtest";\n')
    pid_file = lab.tmp / "dhclient.pid"
    try:
        sh(
            "ip", "netns", "exec", client, "dhclient", "-1", "-v",
            "-cf", str(lab.tmp / "dhclient.conf"), "-lf", str(lab.tmp / "dhclient.leases"),
            "-pf", str(pid_file), "-sf", str(dhscript), "eth0",
            timeout=60,
        )  # fmt: skip
        ip = ns_ipv4(client)
        assert ip is not None
        sh("ip", "netns", "exec", client, "busybox", "ping", "-c1", "-W2", gw)
        sh("busybox", "ping", "-c1", "-W2", ip)
        assert wait_for(lambda: any(str(le.ipv4) == ip for le in hostnet.leases(bridge)))
        # A client lxcprov does not know gets an address, never the name it claims: names
        # on the bridge are the ones lxcprov's books give (docs/net.md).
        (lease,) = [le for le in hostnet.leases(bridge) if str(le.ipv4) == ip]
        assert lease.hostname is None
    finally:
        if pid_file.exists():  # dhclient stays in the background after it is bound
            subprocess.run(["kill", pid_file.read_text().strip()], check=False)


def test_forwarding_and_masquerade_to_the_outside_netns(lab: NetLab) -> None:
    outside = lab.add_netns()
    out_net = free_subnet()
    uplink, out_if = lab.veth(outside)
    host_ip = str(out_net.network_address + 1)
    far_ip = str(out_net.network_address + 2)
    sh("ip", "addr", "add", f"{host_ip}/24", "dev", uplink)
    sh("ip", "-n", outside, "addr", "add", f"{far_ip}/24", "dev", out_if)
    # The outside world has no route back to the bridge subnet: only NAT can answer.

    bridge, gw, client = _bridge_with_client(lab, nat_uplink=uplink)
    address = hostnet.allocate_address(bridge, "nat-client")
    sh("ip", "-n", client, "addr", "add", str(address), "dev", "eth0")
    sh("ip", "-n", client, "route", "add", "default", "via", gw)

    server = lab.spawn(
        "python3", "-c",
        "import socket,sys\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('{far_ip}', 8765)); s.listen(1); s.settimeout(20)\n"
        "print('ready', flush=True)\n"
        "c,a=s.accept(); print(a[0], flush=True); c.sendall(b'hello'); c.close()\n",
        netns=outside,
    )  # fmt: skip
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready"
    reply = sh(
        "ip", "netns", "exec", client, "python3", "-c",
        f"import socket; c=socket.create_connection(('{far_ip}', 8765), timeout=10);"
        "print(c.recv(10).decode())",
    )  # fmt: skip
    assert reply.stdout.strip() == "hello"
    seen, _ = server.communicate(timeout=20)
    assert seen.split() == ["ready", host_ip] or seen.split()[-1] == host_ip
    assert seen.split()[-1] == host_ip  # masqueraded to the uplink's host address
    st = status(lab, bridge)
    assert st["nat_table"] and st["uplink"] == uplink
    assert st["static_addresses"] == {"nat-client": str(address.ip)}


def test_two_bridges_side_by_side(lab: NetLab) -> None:
    a, b = lab.bridge(), lab.bridge()
    net_a, net_b = free_subnet(), free_subnet()
    lab.cli("setup", "--bridge", a, "--address", gateway(net_a), "--no-nat")
    lab.cli("setup", "--bridge", b, "--address", gateway(net_b), "--no-nat")
    assert hostnet.default_bridge() == a
    # A second bridge on an overlapping subnet is refused with a named error.
    clash = lab.cli("setup", "--bridge", lab.bridge(), "--address", gateway(net_a), check=False)
    assert clash.returncode != 0
    sa, sb = status(lab, a), status(lab, b)
    assert sa["dnsmasq"]["alive"] and sb["dnsmasq"]["alive"]
    pid_b = sb["dnsmasq"]["pid"]

    lab.cli("teardown")  # the default bridge: a
    assert not link_exists(a)
    assert link_exists(b)
    sb = status(lab, b)
    assert sb["exists"] and sb["up"] and sb["pending"] == []
    assert sb["dnsmasq"]["pid"] == pid_b
    assert hostnet.load_settings(b) is not None and hostnet.load_settings(a) is None
    # With the default gone, a bare teardown removes nothing else.
    bare = lab.cli("teardown", check=False)
    assert bare.returncode != 0 and "no default bridge" in bare.stderr
    assert link_exists(b)
    # b still serves DHCP
    client = lab.add_netns()
    lab.veth(client, master=b)
    udhcpc = script(lab, "udhcpc.sh", UDHCPC_SCRIPT)
    sh(
        "ip", "netns", "exec", client,
        "busybox", "udhcpc", "-i", "eth0", "-q", "-n", "-t", "5", "-T", "1", "-s", str(udhcpc),
    )  # fmt: skip
    ip = ns_ipv4(client)
    assert ip is not None and ipaddress.IPv4Address(ip) in net_b


def test_foreign_drop_policies_get_narrow_openings_that_teardown_removes(lab: NetLab) -> None:
    """A host firewall whose FORWARD and INPUT policies are drop (Docker style), in a
    namespace of its own: `net setup` lets the bridge's DHCP and forwarding through with
    marked rules at the top of those chains, a second setup changes nothing, teardown
    removes exactly its rules."""
    ns, client, outside = lab.add_netns(), lab.add_netns(), lab.add_netns()

    def nft(*args: str) -> str:
        return sh("ip", "netns", "exec", ns, "nft", *args).stdout

    nft("add table ip filter")
    nft("add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }")
    nft('add rule ip filter FORWARD iifname "nothing0" accept comment "the admin\'s own"')
    nft("add table inet hostfw")
    nft("add chain inet hostfw input { type filter hook input priority 0; policy drop; }")
    bridge, subnet = lab.bridge(), free_subnet()
    out_net = free_subnet()
    # The uplink: ns <-> outside; a client: client <-> the bridge in ns.
    sh("ip", "-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "eth0",
       "netns", outside)  # fmt: skip
    sh("ip", "-n", ns, "addr", "add", f"{out_net.network_address + 1}/24", "dev", "up0")
    sh("ip", "-n", ns, "link", "set", "up0", "up")
    far = str(out_net.network_address + 2)
    sh("ip", "-n", outside, "addr", "add", f"{far}/24", "dev", "eth0")
    sh("ip", "-n", outside, "link", "set", "eth0", "up")
    setup = lab.cli("setup", "--bridge", bridge, "--address", gateway(subnet), "--uplink", "up0",
                    netns=ns)  # fmt: skip
    said = " ".join(setup.stderr.split())  # (rich wraps long lines)
    assert "through nftables chain ip filter FORWARD (its policy is drop)" in said, said
    assert "through nftables chain inet hostfw input" in said
    forward = nft("list", "chain", "ip", "filter", "FORWARD")
    assert f'iifname "{bridge}" accept comment "lxcprov {bridge}"' in forward, forward
    assert f'oifname "{bridge}" accept comment "lxcprov {bridge}"' in forward
    assert "the admin's own" in forward
    # Through both drop policies: a DHCP lease (input), then the outside (forward).
    sh("ip", "-n", ns, "link", "add", "cl0", "type", "veth", "peer", "name", "eth0",
       "netns", client)  # fmt: skip
    sh("ip", "-n", ns, "link", "set", "cl0", "master", bridge, "up")
    sh("ip", "-n", client, "link", "set", "eth0", "up")
    udhcpc = script(lab, "udhcpc.sh", UDHCPC_SCRIPT)
    sh("ip", "netns", "exec", client, "busybox", "udhcpc", "-i", "eth0", "-q", "-n",
       "-t", "5", "-T", "1", "-s", str(udhcpc))  # fmt: skip
    ip = ns_ipv4(client)
    assert ip is not None and ipaddress.IPv4Address(ip) in subnet
    ping = sh("ip", "netns", "exec", client, "busybox", "ping", "-c", "1", "-W", "3", far,
              check=False)  # fmt: skip
    assert ping.returncode == 0, "forwarded through the FORWARD drop policy"
    st = json.loads(lab.cli("status", "--bridge", bridge, "--json", netns=ns).stdout)
    assert st["pending"] == [] and any("let this bridge through" in w for w in st["warnings"])
    health_is_status_without_netlink(lab, ns, bridge, str(ip))
    again = lab.cli("setup", "--bridge", bridge, netns=ns)
    assert "no change" in again.stderr, again.stderr
    lab.cli("teardown", "--bridge", bridge, netns=ns)
    forward = nft("list", "chain", "ip", "filter", "FORWARD")
    assert "lxcprov" not in forward and "policy drop" in forward and "the admin's own" in forward
    assert "lxcprov" not in nft("list", "chain", "inet", "hostfw", "input")
    tables = nft("list", "tables")
    assert "filter" in tables and "hostfw" in tables and f"lxcprov_{bridge}" not in tables


HEALTH_AND_STATUS = """
import json, sys
from lxcprov.system import hostnet
bridge = sys.argv[1]
health = hostnet.health(bridge)
netlink = sorted(m for m in sys.modules if m.startswith(("pyroute2", "asyncio")))
status = hostnet.status(bridge)
print(json.dumps({"netlink": netlink, "health": [health.nat_table, health.dnsmasq_pid,
    list(health.warnings), [str(d) for d in health.dnat_rules], len(health.forwards)],
    "status": [status.nat_table, status.dnsmasq_pid, list(status.warnings),
    [str(d) for d in status.dnat_rules], len(status.forwards)]}))
"""


def health_is_status_without_netlink(lab: NetLab, ns: str, bridge: str, address: str) -> None:
    """doctor's view of a bridge (`new` reads it while its container boots) says what
    status says of the same parts, and imports no netlink library."""
    forward = "web@/srv/lxc", "tcp", 8080, 80, address
    add = "from lxcprov.system import hostnet\n"
    add += f"hostnet.add_forward({bridge!r}, hostnet.Forward{forward!r})"
    sh("ip", "netns", "exec", ns, sys.executable, "-c", add, env=lab.env())
    argv = ["ip", "netns", "exec", ns, sys.executable, "-c", HEALTH_AND_STATUS, bridge]
    got = json.loads(sh(*argv, env=lab.env()).stdout)  # a fresh process: what it imports
    assert got["netlink"] == []
    health, status = got["health"], got["status"]
    assert health == status, (health, status)
    nat_table, dnsmasq_pid, warnings, dnat_rules, forwards = health
    assert nat_table and dnsmasq_pid and forwards == 1 and len(dnat_rules) >= 1
    assert any("let this bridge through" in w for w in warnings)


def test_port_53_taken_falls_back_to_dhcp_only(lab: NetLab) -> None:
    """In a namespace where something holds 0.0.0.0:53, dnsmasq runs with --port=0."""
    ns = lab.add_netns()
    holder = lab.spawn(
        "python3", "-c",
        "import socket,time\n"
        "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 53))\n"
        "print('ready', flush=True); time.sleep(60)\n",
        netns=ns,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    bridge = lab.bridge()
    setup = lab.cli(
        "setup", "--bridge", bridge, "--address", gateway(free_subnet()), "--no-nat", "--json",
        netns=ns,
    )  # fmt: skip
    data = json.loads(setup.stdout)
    assert data["dns"] is False
    assert any("port 53" in n for n in data["notes"])
    st = json.loads(lab.cli("status", "--bridge", bridge, "--json", netns=ns).stdout)
    assert st["dnsmasq"]["alive"] and st["dnsmasq"]["dns"] is False
    again = json.loads(lab.cli("setup", "--bridge", bridge, "--json", netns=ns).stdout)
    assert again["actions"] == []
    lab.cli("teardown", "--bridge", bridge, netns=ns)


def test_keeping_router_advertisements_survives_a_link_that_left(lab: NetLab) -> None:
    """NAT66 setup lists the host's links with accept_ra 1 and sets each to 2 before it
    turns IPv6 forwarding on. A container's veth in that list can leave before the write
    (its container stopped; seen in CI as ENOENT from a parallel test's veth): that link
    needs nothing kept, setup goes on and says so. One renamed meanwhile is followed."""
    from lxcprov.system.hostnet import actions, apply, observe

    gone, _ = lab.veth(lab.add_netns())
    stays, _ = lab.veth(lab.add_netns())
    moved, _ = lab.veth(lab.add_netns())
    for link in (gone, stays, moved):
        Path(f"/proc/sys/net/ipv6/conf/{link}/accept_ra").write_text("1\n")
    seen = dict(observe.observe(lab.bridge()).accept_ra_1)
    assert {gone, stays, moved} <= set(seen)
    sh("ip", "link", "del", gone)
    renamed = lab.bridge("lxptr")  # a fresh name the lab removes at the end
    sh("ip", "link", "set", moved, "name", renamed)
    keep = tuple(actions.KeepRouterAdverts(n, seen[n]) for n in (gone, stays, moved))
    done = apply.apply(keep)
    assert done[0] == f"passed over {gone}: it left before its accept_ra was set"
    assert done[1] == keep[1].description
    assert done[2].startswith(f"set net.ipv6.conf.{renamed}.accept_ra = 2 ({moved} was renamed")
    for link in (stays, renamed):
        assert Path(f"/proc/sys/net/ipv6/conf/{link}/accept_ra").read_text().strip() == "2"
    assert not link_exists(gone)


def test_nat6_without_an_ipv6_prefix_is_refused(lab: NetLab) -> None:
    """--nat6 on a bridge with no IPv6 (none given, or --ipv6 none) was silently dropped:
    the admin asked for NAT66 and got nothing. It is refused, before anything is made."""
    bridge, subnet = lab.bridge(), free_subnet()
    for extra in ((), ("--ipv6", "none")):
        argv = [sys.executable, "-m", "lxcprov", "net", "setup", "--bridge", bridge,
                "--address", gateway(subnet), "--no-nat", "--nat6", *extra]  # fmt: skip
        got = sh(*argv, env=lab.env(), check=False)  # the whole program: its error and exit
        assert got.returncode == 2, got.stderr
        assert f"--nat6 needs an IPv6 prefix on {bridge}" in " ".join(got.stderr.split())
        assert not link_exists(bridge)
