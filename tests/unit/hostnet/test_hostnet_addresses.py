"""Address split and the static address book (including concurrent processes)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lxcprov.errors import AddressPoolError, NotConfiguredError
from lxcprov.system.hostnet import addresses, settings, subnet
from lxcprov.system.hostnet.settings import NetSettings

A = ipaddress.IPv4Address


def test_split_of_a_24() -> None:
    sp = subnet.split(ipaddress.IPv4Interface("10.0.3.1/24"))
    assert (sp.gateway, sp.static_first, sp.static_last) == (
        A("10.0.3.1"),
        A("10.0.3.2"),
        A("10.0.3.127"),
    )
    assert (sp.dhcp_first, sp.dhcp_last) == (A("10.0.3.128"), A("10.0.3.254"))


def test_split_keeps_gateway_out_of_the_dhcp_range() -> None:
    sp = subnet.split(ipaddress.IPv4Interface("10.0.3.254/24"))
    assert (sp.dhcp_first, sp.dhcp_last) == (A("10.0.3.128"), A("10.0.3.253"))
    assert (sp.static_first, sp.static_last) == (A("10.0.3.1"), A("10.0.3.127"))
    sp = subnet.split(ipaddress.IPv4Interface("10.0.3.150/24"))
    assert (sp.dhcp_first, sp.dhcp_last) == (A("10.0.3.151"), A("10.0.3.254"))


def test_split_of_a_29() -> None:
    sp = subnet.split(ipaddress.IPv4Interface("10.0.3.1/29"))
    assert (sp.static_first, sp.static_last) == (A("10.0.3.2"), A("10.0.3.3"))
    assert (sp.dhcp_first, sp.dhcp_last) == (A("10.0.3.4"), A("10.0.3.6"))


@pytest.fixture
def bridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    settings.save(NetSettings("br9", ipaddress.IPv4Interface("10.50.0.1/24")))
    return "br9"


def test_allocate_is_stable_per_owner_and_skips_gateway(bridge: str) -> None:
    first = addresses.allocate(bridge, "c1")
    assert first == ipaddress.IPv4Interface("10.50.0.2/24")
    assert addresses.allocate(bridge, "c1") == first
    assert addresses.allocate(bridge, "c2").ip == A("10.50.0.3")
    addresses.release(bridge, "c1")
    assert addresses.allocate(bridge, "c3").ip == A("10.50.0.2")
    assert addresses.book(bridge) == {"c2": A("10.50.0.3"), "c3": A("10.50.0.2")}


def test_pool_runs_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    settings.save(NetSettings("small", ipaddress.IPv4Interface("10.50.0.1/29")))
    assert [addresses.allocate("small", f"c{i}").ip for i in range(2)] == [
        A("10.50.0.2"),
        A("10.50.0.3"),
    ]
    with pytest.raises(AddressPoolError, match="no free static address"):
        addresses.allocate("small", "c9")


def test_reserve_rules(bridge: str) -> None:
    assert addresses.reserve(bridge, "web", "10.50.0.20") == ipaddress.IPv4Interface(
        "10.50.0.20/24"
    )
    assert addresses.reserve(bridge, "web", "10.50.0.20/24").ip == A("10.50.0.20")  # again: fine
    with pytest.raises(AddressPoolError, match="taken by web"):
        addresses.reserve(bridge, "db", "10.50.0.20")
    with pytest.raises(AddressPoolError, match="gateway"):
        addresses.reserve(bridge, "db", "10.50.0.1")
    with pytest.raises(AddressPoolError, match="network or broadcast"):
        addresses.reserve(bridge, "db", "10.50.0.0")
    with pytest.raises(AddressPoolError, match="outside the subnet"):
        addresses.reserve(bridge, "db", "10.51.0.5")
    with pytest.raises(AddressPoolError, match="DHCP range"):
        addresses.reserve(bridge, "db", "10.50.0.200")
    with pytest.raises(AddressPoolError, match="invalid"):
        addresses.reserve(bridge, "db", "nonsense")
    # allocation goes around a reserved address
    for i in range(18):
        addresses.allocate(bridge, f"c{i}")
    assert addresses.allocate(bridge, "next").ip == A("10.50.0.21")


def test_unconfigured_bridge(bridge: str) -> None:
    with pytest.raises(NotConfiguredError):
        addresses.allocate("nope", "c1")


_CHILD = """
import json, sys
from lxcprov.system.hostnet import addresses
sys.stdin.readline()  # start together
out = {o: str(addresses.allocate("br9", o).ip) for o in sys.argv[1:]}
print(json.dumps(out))
"""


def test_concurrent_processes_never_share_an_address(bridge: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, *(f"p{n}-c{i}" for i in range(10))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results: dict[str, str] = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        results.update(json.loads(out))
    assert len(results) == 80
    assert len(set(results.values())) == 80
    assert {A(v) for v in results.values()} == {A("10.50.0.2") + i for i in range(80)}
    assert {k: str(v) for k, v in addresses.book(bridge).items()} == results


def test_a_claim_published_by_the_registration_that_follows(
    bridge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`new` claims a static address without publishing it and registers the MAC with
    publish: dnsmasq and the guard are told once, and of both; the book has the address
    from the claim on (a kill in between: recovery's forget publishes the book)."""
    published: list[tuple[dict[str, str], dict[str, str]]] = []
    monkeypatch.setattr(
        addresses, "_publish", lambda _b, book, macs: published.append((dict(book), dict(macs)))
    )
    got = addresses.allocate(bridge, "c1", publish=False)
    assert published == [] and addresses.book(bridge) == {"c1": got.ip}
    addresses.reserve(bridge, "c2", "10.50.0.40", publish=False)
    assert published == []
    addresses.register(bridge, "c1", "02:00:00:00:00:01", publish=True)
    assert published == [({"c1": str(got.ip), "c2": "10.50.0.40"}, {"c1": "02:00:00:00:00:01"})]
    # With nothing new to register, publish still publishes (the claim before it was not).
    addresses.register(bridge, "c1", "02:00:00:00:00:01", publish=True)
    assert len(published) == 2
    # Without it, an unchanged registration publishes nothing; a claim by default does.
    addresses.register(bridge, "c1", "02:00:00:00:00:01")
    assert len(published) == 2
    addresses.allocate(bridge, "c3")
    assert len(published) == 3
