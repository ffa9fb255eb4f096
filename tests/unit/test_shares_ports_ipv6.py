"""Pure parts of issue 12: mount specs, publish specs, IPv6 settings, names and dnsmasq
arguments on an IPv6 bridge, forwards files."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from lxcprov.engine import mounts
from lxcprov.errors import (
    ForwardError,
    InvalidArgumentError,
    InvalidNetSettingError,
    StateFileError,
)
from lxcprov.ops import forwards as forwards_op
from lxcprov.system.hostnet import dnsmasq, forwards, names, settings
from lxcprov.system.hostnet.forwards import Forward

IF6 = ipaddress.IPv6Interface


@pytest.mark.parametrize(
    ("spec", "target", "source", "ro"),
    [
        ("/srv/www:/var/www", "/var/www", "/srv/www", False),
        ("/srv/www:/var/www:ro", "/var/www", "/srv/www", True),
        ("/srv/www/:/var//www/:rw", "/var/www", "/srv/www", False),
        ("/a b:/c", "/c", "/a b", False),
    ],
)
def test_mount_specs(spec: str, target: str, source: str, ro: bool) -> None:
    m = mounts.parse_spec(spec)
    assert (m.target, m.source, m.ro) == (target, source, ro)
    # What goes into the config reads back as the same mount (spaces escaped).
    entry = m.entry("/l/.lxcprov/userns/1-1")
    assert "idmap=/l/.lxcprov/userns/1-1" in entry and " " not in entry.split()[0]
    assert mounts.from_entry(entry, unprivileged=True) == m
    assert mounts.from_entry(m.entry(None), unprivileged=False) == m


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("/srv", "not HOST_DIR:CONTAINER_DIR"),
        ("srv:/x", "must be an absolute path"),
        ("/srv:x", "must be absolute"),
        ("/srv:/x/../etc", "'..'"),
        ("/srv:/", "which the container needs"),
        ("/srv:/proc", "which the container needs"),
        ("/srv:/sys/fs", "which the container needs"),
        ("/srv:/dev/x", "which the container needs"),
        ("/srv:/x:rx", "not HOST_DIR:CONTAINER_DIR"),
    ],
)
def test_bad_mount_specs(spec: str, needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle.replace(".", r"\.")):
        mounts.parse_spec(spec)


def test_mount_lists() -> None:
    assert mounts.parse_specs("none") == [] and mounts.parse_specs("") == []
    two = mounts.parse_specs("/a:/x, /b:/y:ro")
    assert [m.target for m in two] == ["/x", "/y"]
    with pytest.raises(InvalidArgumentError, match="two mounts"):
        mounts.parse_specs("/a:/x,/b:/x")


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("8080:80", forwards_op.Publish(8080, 80)),
        ("8080", forwards_op.Publish(8080, 8080)),
        ("53:5353/udp", forwards_op.Publish(53, 5353, "udp")),
        ("192.0.2.7:8080:80/tcp", forwards_op.Publish(8080, 80, "tcp", "192.0.2.7")),
    ],
)
def test_publish_specs(spec: str, want: forwards_op.Publish) -> None:
    assert forwards_op.parse_publish(spec) == want


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("0:80", "not a port number"),
        ("65536:80", "not a port number"),
        ("80:http", "not a port number"),
        ("8080:80/sctp", "tcp or udp"),
        ("a:b:c:d", "is not"),
        ("::80", "is not"),
        ("fe80::1:8080:80", "is not"),
        ("host:8080:80", "not an IPv4 address"),
    ],
)
def test_bad_publish_specs(spec: str, needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        forwards_op.parse_publish(spec)


def test_host_port_clashes() -> None:
    a = Forward("a@/l", "tcp", 8080, 80, "10.0.3.5")
    assert a.clashes(Forward("b@/l", "tcp", 8080, 81, "10.0.3.6"))
    assert a.clashes(Forward("b@/l", "tcp", 8080, 81, "10.0.3.6", "192.0.2.1"))
    assert not a.clashes(Forward("b@/l", "udp", 8080, 81, "10.0.3.6"))
    one = Forward("a@/l", "tcp", 8080, 80, "10.0.3.5", "192.0.2.1")
    assert not one.clashes(Forward("b@/l", "tcp", 8080, 80, "10.0.3.6", "192.0.2.2"))
    with pytest.raises(ForwardError, match="already published for a"):
        forwards.check_free(Forward("b@/l", "tcp", 8080, 1, "10.0.3.9"), {"br0": [a]})
    forwards.check_free(Forward("a@/l", "tcp", 8080, 1, "10.0.3.5"), {"br0": [a]})  # its own


def test_forwards_file_round_trip_and_strictness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path))
    fw = [Forward("a@/l", "udp", 53, 5353, "10.0.3.5"), Forward("b@/l", "tcp", 80, 80, "10.0.3.6")]
    forwards.write("br0", fw)
    assert forwards.read("br0") == sorted(fw)
    path = settings.bridge_state_dir("br0") / forwards.FILE
    for bad in ([{"owner": "a"}], {"not": "a list"}, [{**json.loads(path.read_text())[0],
                                                       "proto": "icmp"}]):  # fmt: skip
        path.write_text(json.dumps(bad))
        with pytest.raises(StateFileError):
            forwards.read("br0")


def test_ipv6_settings() -> None:
    ula = settings.random_ula()
    assert ula.network.prefixlen == 64 and ula.ip in ipaddress.IPv6Network("fd00::/8")
    assert settings.random_ula() != ula
    assert settings.check_ipv6("fd42:1:2:3::1/64") == IF6("fd42:1:2:3::1/64")
    for bad, needle in (("fd42::1/48", "not a /64"), ("fe80::1/64", "cannot be"),
                        ("fd42::/64", "cannot be"), ("nonsense", "invalid IPv6")):  # fmt: skip
        with pytest.raises(InvalidNetSettingError, match=needle):
            settings.check_ipv6(bad)
    s = settings.NetSettings("br0", ipaddress.IPv4Interface("10.0.3.1/24"),
                             ipv6=IF6("fd42:1:2:3::1/64"), nat6=True)  # fmt: skip
    config = settings.NetConfig(default="br0", bridges={"br0": s})
    text = settings.render(config)
    assert 'ipv6 = "fd42:1:2:3::1/64"' in text and "nat6 = true" in text
    assert settings._parse(text, Path("net.toml")).bridges["br0"] == s


def test_slaac_names_and_reservations() -> None:
    net = ipaddress.IPv6Network("fd42:1:2:3::/64")
    # The kernel's EUI-64: U/L bit flipped, ff:fe in the middle.
    assert names.eui64(net, "00:16:3e:aa:bb:cc") == ipaddress.IPv6Address(
        "fd42:1:2:3:216:3eff:feaa:bbcc"
    )
    book = {"web@/l": "10.0.3.5", "db@/l": "10.0.3.6"}
    macs = {"web@/l": "00:16:3e:aa:bb:cc", "cache@/l": "00:16:3e:00:00:01"}
    hosts = names.hosts_text(book, macs, net)
    assert "10.0.3.5 web\n" in hosts and "fd42:1:2:3:216:3eff:feaa:bbcc web\n" in hosts
    assert "fd42:1:2:3:216:3eff:fe00:1 cache\n" in hosts
    assert ":" not in names.hosts_text(book, macs, None).replace("\n", "")
    # Every MAC gets its owner's name, and its book address when it has one.
    assert names.dhcp_hosts_text(book, macs) == (
        "00:16:3e:00:00:01,cache\n00:16:3e:aa:bb:cc,10.0.3.5,web\n"
    )


def test_dnsmasq_arguments_on_an_ipv6_bridge() -> None:
    paths = dnsmasq.DnsmasqPaths.under(Path("/state/net/br0"))
    base = settings.NetSettings("br0", ipaddress.IPv4Interface("10.0.3.1/24"))
    plain = dnsmasq.arguments(base, paths, dns=True)
    assert "--enable-ra" not in plain and f"--dhcp-hostsfile={paths.dhcp_hosts_file}" in plain
    six = settings.NetSettings("br0", base.ipv4, ipv6=IF6("fd42:1:2:3::1/64"))
    args = dnsmasq.arguments(six, paths, dns=True)
    assert "--enable-ra" in args and "--listen-address=fd42:1:2:3::1" in args
    # SLAAC only (stateless DHCPv6): a container's one address is its MAC's EUI-64.
    assert "--dhcp-range=fd42:1:2:3::,ra-stateless,64,1h" in args
    assert not any(a.startswith("--ra-param") for a in args)
    nat6 = settings.NetSettings("br0", base.ipv4, ipv6=six.ipv6, nat6=True)
    assert "--ra-param=br0,60,1800" in dnsmasq.arguments(nat6, paths, dns=True)
    # IPv6 without IPv4 DHCP: no IPv4 range, the RA still there.
    v6only = settings.NetSettings("br0", base.ipv4, dhcp=False, ipv6=six.ipv6)
    args = dnsmasq.arguments(v6only, paths, dns=True)
    assert "--enable-ra" in args and not any(a.startswith("--dhcp-range=10.") for a in args)


def test_a_spec_with_a_colon_in_a_path_points_to_mount_add() -> None:
    """Review of the share fixes: `new --mount` cannot take a path with ':' in it, and
    said only the form; `mount add` takes the two paths as they are."""
    from lxcprov.engine import mounts
    from lxcprov.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError) as caught:
        mounts.parse_spec("/srv/a:b:/data")
    assert "lxcprov mount add NAME HOST_DIR CONTAINER_DIR" in (caught.value.hint or "")
