"""ls reads a running container's addresses from /proc/PID/net (the kernel's tables of its
network namespace) instead of forking into it through liblxc: the parsers, on the text
the kernel writes, and on this process's own namespace against `ip`."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess

from lxcprov.system import lxc

# /proc/net/fib_trie of a container with 10.0.3.5/24 and 10.0.3.77/24 on eth0, and a
# /31 whose leaf carries two lines.
FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.3.0/24 2 0 2
        +-- 10.0.3.0/28 2 0 2
           |-- 10.0.3.0
              /24 link UNICAST
           |-- 10.0.3.5
              /32 host LOCAL
        |-- 10.0.3.77
           /32 host LOCAL
        |-- 10.0.3.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     |-- 192.168.7.6
        /31 link UNICAST
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.0.3.5
        /32 host LOCAL
"""

IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fd4e2f1a00000000021600fffe3a1b2c 02 40 00 00     eth0
fe80000000000000021600fffe3a1b2c 02 40 20 80     eth0
fd4e2f1a00000000000000000000abcd 02 40 00 c0     eth0
"""


def test_ipv4_is_every_local_host_address_but_loopback_once() -> None:
    assert lxc._local_ipv4(FIB_TRIE) == ["10.0.3.5", "10.0.3.77", "192.168.7.6"]


def test_ipv6_is_every_address_but_loopback_and_link_local() -> None:
    assert lxc._global_ipv6(IF_INET6) == ["fd4e:2f1a::216:ff:fe3a:1b2c", "fd4e:2f1a::abcd"]


def test_garbage_is_no_address() -> None:
    assert lxc._local_ipv4("|-- not-an-address\n   /32 host LOCAL\n") == []
    assert lxc._global_ipv6("zz 1 2 3 4 eth0\nshort line\n") == []


def test_a_missing_process_is_none() -> None:
    assert lxc.netns_addresses(0) is None
    assert lxc.netns_addresses(2**22 + 1) is None  # above pid_max's ceiling


def test_this_namespace_agrees_with_ip() -> None:
    seen = lxc.netns_addresses(os.getpid())
    assert seen is not None
    out = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True,
                                    check=True).stdout)  # fmt: skip
    pairs = [(i["ifname"], a["family"], ipaddress.ip_address(a["local"]))
             for i in out for a in i.get("addr_info", [])]  # fmt: skip
    v4 = {str(ip) for _, fam, ip in pairs if fam == "inet" and not ip.is_loopback}
    v6 = {str(ip) for name, fam, ip in pairs
          if fam == "inet6" and name != "lo" and not ip.is_link_local}  # fmt: skip
    assert set(seen[0]) == v4 and set(seen[1]) == v6
