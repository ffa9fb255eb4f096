"""dnsmasq command line, lease file and /proc/net parsing."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from lxcprov.system.hostnet import dnsmasq
from lxcprov.system.hostnet.settings import NetSettings

PATHS = dnsmasq.DnsmasqPaths.under(Path("/s/net/br9"))
S = NetSettings("br9", ipaddress.IPv4Interface("10.50.0.1/24"))


def test_arguments_bind_to_the_bridge_only() -> None:
    args = dnsmasq.arguments(S, PATHS, dns=True)
    for expected in (
        "--conf-file=/dev/null",
        "--interface=br9",
        "--bind-interfaces",
        "--except-interface=lo",
        "--listen-address=10.50.0.1",
        "--pid-file=/s/net/br9/dnsmasq.pid",
        "--dhcp-leasefile=/s/net/br9/dnsmasq.leases",
        "--dhcp-range=10.50.0.128,10.50.0.254,255.255.255.0,1h",
        "--dhcp-option=option:router,10.50.0.1",
        "--dhcp-option=option:dns-server,10.50.0.1",
        # Names and leases are the MAC's: what a client claims (a name, a client
        # identifier) is not looked at.
        "--dhcp-ignore-names",
        "--dhcp-ignore-clid",
    ):
        assert expected in args
    assert "--port=0" not in args


def test_the_lease_limit_is_the_dhcp_ranges_size_not_dnsmasqs_150() -> None:
    def lease_max(address: str) -> int:
        args = dnsmasq.arguments(NetSettings("br9", ipaddress.IPv4Interface(address)), PATHS,
                                 dns=True)  # fmt: skip
        (arg,) = [a for a in args if a.startswith("--dhcp-lease-max=")]
        return int(arg.split("=", 1)[1])

    assert lease_max("10.50.0.1/24") == 127  # 10.50.0.128-10.50.0.254
    assert lease_max("10.126.4.1/22") == 511  # 10.126.6.0-10.126.7.254: past dnsmasq's 150
    assert lease_max("10.126.8.1/29") == 3  # 10.126.8.4-10.126.8.6
    assert lease_max("10.20.0.1/16") == 32767


def test_dhcp_only_arguments() -> None:
    args = dnsmasq.arguments(S, PATHS, dns=False)
    assert "--port=0" in args
    assert not any("dns-server" in a for a in args)


def test_is_ours() -> None:
    argv = ("/usr/sbin/dnsmasq", *dnsmasq.arguments(S, PATHS, dns=True))
    assert dnsmasq.is_ours(argv, PATHS.pid_file)
    assert not dnsmasq.is_ours(argv, Path("/other/dnsmasq.pid"))
    assert not dnsmasq.is_ours(("/bin/sleep", f"--pid-file={PATHS.pid_file}"), PATHS.pid_file)


def test_parse_leases() -> None:
    text = (
        "1732600000 52:54:00:ab:cd:ef 10.50.0.140 c1 01:52:54:00:ab:cd:ef\n"
        "0 52:54:00:AB:CD:00 10.50.0.141 * *\n"
        "duid 00:01:00:01:2c:aa\n"
        "1732600000 52:54:00:ab:cd:01 fd00::5 c6 *\n"
        "garbage\n"
    )
    leases = dnsmasq.parse_leases(text)
    assert leases == [
        dnsmasq.Lease(
            hostname="c1",
            mac="52:54:00:ab:cd:ef",
            ipv4=ipaddress.IPv4Address("10.50.0.140"),
            expiry=dt.datetime.fromtimestamp(1732600000, dt.UTC),
        ),
        dnsmasq.Lease(
            hostname=None,
            mac="52:54:00:ab:cd:00",
            ipv4=ipaddress.IPv4Address("10.50.0.141"),
            expiry=None,
        ),
    ]


def test_parse_proc_net_finds_port_53_listeners() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode\n"
        "   0: 0132320A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000"
        "     0        0 1111 2 0000000000000000 0\n"
        "   1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000"
        "     0        0 2222 2 0000000000000000 0\n"
        "   2: 0100007F:0050 00000000:0000 07 00000000:00000000 00:00000000 00000000"
        "     0        0 3333 2 0000000000000000 0\n"
    )
    found = dnsmasq.parse_proc_net(text, 53, "07")
    assert found == [
        (ipaddress.IPv4Address("10.50.50.1"), "1111"),
        (ipaddress.IPv4Address("0.0.0.0"), "2222"),
    ]


def test_process_argv_of_self_and_of_nothing() -> None:
    import os

    argv = dnsmasq.process_argv(os.getpid())
    assert argv is not None and "python" in Path(argv[0]).name
    assert dnsmasq.process_argv(2**22 + 12345) is None
