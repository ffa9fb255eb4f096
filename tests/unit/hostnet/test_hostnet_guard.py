"""The bridge's guard (pure JSON), the names dnsmasq serves, and the books behind both."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import json
import random
from pathlib import Path
from typing import Any

import pytest

from lxcprov.errors import MacInUseError, StateFileError
from lxcprov.system.hostnet import actions, addresses, guard, links, names, plan, settings
from lxcprov.system.hostnet.settings import NetSettings

A = ipaddress.IPv4Address
A6 = ipaddress.IPv6Address
PREFIX = ipaddress.IPv6Network("fd42:1:2:3::/64")
OWNERS = {"web@/l": "lxv000000000001", "db@/l": "lxv000000000002", "nomac@/l": "lxv00000000000f"}
MACS = {"web@/l": "00:16:3e:aa:bb:cc", "db@/l": "00:16:3e:00:00:01", "old@/l": "00:16:3e:0:0:9"}
BOOK = {"web@/l": "10.0.3.200", "old@/l": "10.0.3.201"}


def test_port_names_are_fixed_per_container_and_fit_the_kernel() -> None:
    port = names.port_name("web@/var/lib/lxc")
    assert port == names.port_name("web@/var/lib/lxc") and len(port) == 15
    assert port.startswith("lxv") and int(port[3:], 16) >= 0
    assert port != names.port_name("web@/srv/lxc") != names.port_name("web2@/var/lib/lxc")


def test_ports_of_the_books() -> None:
    ports = guard.ports_of(OWNERS, MACS, BOOK, PREFIX)
    # No MAC, no guard; a MAC without a recorded port (a container not yet started by this
    # lxcprov) is not guarded either: it may run on a port of another name.
    assert [p.name for p in ports] == ["lxv000000000002", "lxv000000000001"]
    db, web = ports
    assert web.ipv4 == A("10.0.3.200") and db.ipv4 is None  # an address not known: MAC only
    assert web.ipv6 == (A6("fe80::216:3eff:feaa:bbcc"), A6("fd42:1:2:3:216:3eff:feaa:bbcc"))
    assert guard.ports_of(OWNERS, MACS, BOOK, None)[1].ipv6 == (A6("fe80::216:3eff:feaa:bbcc"),)


def _wanted(prefix: ipaddress.IPv6Network | None = PREFIX) -> guard.Wanted:
    gw6 = prefix.network_address + 1 if prefix else None
    return guard.Wanted(A("10.0.3.1"), gw6, guard.ports_of(OWNERS, MACS, BOOK, prefix))


def _sets(objects: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {o["set"]["name"]: o["set"].get("elem", []) for o in objects if "set" in o}


def test_sets_hold_ports_macs_and_addresses() -> None:
    sets = _sets(guard.table_objects("br0", _wanted()))
    assert sets["ports"] == ["lxv000000000001", "lxv000000000002"]
    assert sets["ports_v4"] == ["lxv000000000001"]
    assert {"concat": ["lxv000000000001", "00:16:3e:aa:bb:cc"]} in sets["port_mac"]
    assert sets["port_ipv4"] == [{"concat": ["lxv000000000001", "10.0.3.200"]}]
    # The bridge's own addresses are owned by no port: nobody may send as them.
    assert sets["ipv4s"] == ["10.0.3.1", "10.0.3.200"]
    assert "fd42:1:2:3::1" in sets["ipv6s"] and len(sets["ipv6s"]) == 5
    assert sets["macs"] == ["00:16:3e:00:00:01", "00:16:3e:aa:bb:cc"]  # no bridge MAC known
    assert len(sets["port_ipv6"]) == 4


def test_two_chains_on_the_bridge_hooks_and_every_drop_counts() -> None:
    objects = guard.table_objects("br0", _wanted())
    chains = {o["chain"]["name"]: o["chain"] for o in objects if "chain" in o}
    assert sorted(chains) == ["forward", "prerouting"]
    for name, chain in chains.items():
        assert (chain["hook"], chain["prio"], chain["policy"]) == (name, -200, "accept")
    assert all(o[k]["family"] == "bridge" and o[k]["table"] == "lxcprov_br0"
               for o in objects for k in o)  # fmt: skip
    rules = [o["rule"] for o in objects if "rule" in o]
    for rule in rules:
        verdict = rule["expr"][-1]
        assert rule["comment"].startswith("lxcprov: ")
        assert "accept" in verdict or rule["expr"][-2] == {"counter": None}
    # The only accepts: DHCP before a lease, and DAD/RS/MLD from :: (after their checks).
    accepts = [r["comment"] for r in rules if "accept" in r["expr"][-1]]
    assert len(accepts) == 2
    # The forward chain: nothing but the host serves DHCP or routes to a guarded port.
    forward = [r for r in rules if r["chain"] == "forward"]
    assert len(forward) == 3
    assert all(r["expr"][0]["match"]["left"] == {"meta": {"key": "oifname"}} for r in forward)
    # Review of review 22's fixes: a VLAN tag (id 0) from an unguarded port moved the
    # ethertype every rule reads. The first rule of prerouting drops priority-tagged
    # frames (id 0, taken as untagged) from every port (no port condition: the chain sees
    # every bridge of the host, whose other VLANs are not lxcprov's), and forward drops
    # every tag towards a guarded port.
    first = next(r for r in rules if r["chain"] == "prerouting")
    vlan = {"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}},
                      "right": {"set": ["8021q", "8021ad"]}}}  # fmt: skip
    id0 = {"match": {"op": "==", "right": 0, "left": {"&": [
        {"payload": {"base": "ll", "offset": 112, "len": 16}}, 0x0FFF]}}}  # fmt: skip
    assert first["expr"] == [vlan, id0, {"counter": None}, {"drop": None}], first
    assert forward[0]["expr"][1] == vlan


def _rule(objects: list[dict[str, Any]], words: str) -> list[dict[str, Any]]:
    (rule,) = [o["rule"] for o in objects if "rule" in o and words in o["rule"]["comment"]]
    return list(rule["expr"])


def test_dhcp_requests_are_held_to_the_ports_mac_and_answers_to_the_host() -> None:
    objects = guard.table_objects("br0", _wanted())
    comments = [o["rule"]["comment"] for o in objects if "rule" in o]
    client = _rule(objects, "DHCP requests from a port name its container's MAC")
    # giaddr (0: no relay) and chaddr, 80 bits from byte 24 of the BOOTP message.
    assert client[2]["match"]["left"]["concat"][1] == {
        "payload": {"base": "th", "offset": 256, "len": 80}}  # fmt: skip
    assert {"concat": ["lxv000000000001", 0x00163EAABBCC]} in client[2]["match"]["right"]["set"]
    # Before the accept of DHCP from 0.0.0.0 (an accept ends the chain), and so is the
    # drop of fragmented requests whose MAC cannot be read.
    accept = comments.index("lxcprov: DHCP from 0.0.0.0 before a lease")
    assert comments.index(next(c for c in comments if "name its container's MAC" in c)) < accept
    assert comments.index(next(c for c in comments if "fragmented" in c)) < accept
    # Whatever the source port: nothing from a port to a client's port.
    answers = _rule(objects, "nothing to a DHCP or DHCPv6 client's port")
    assert answers[1]["match"] == {"op": "==", "left": {"payload": {"protocol": "udp",
                                   "field": "dport"}}, "right": {"set": [68, 546]}}  # fmt: skip
    # From any other port, no guarded MAC (nor the bridge's) as a DHCP client.
    owned = _rule(objects, "a guarded MAC asks for DHCP from its own port only")
    assert owned[0]["match"]["op"] == "!=" and owned[0]["match"]["right"] == "@ports"
    assert 0x00163EAABBCC in owned[2]["match"]["right"]["set"]


def test_the_bridges_own_mac_and_link_local_are_owned() -> None:
    mac = names.bridge_mac("br0")
    lls = guard.bridge_link_locals(mac, [A6("fe80::99")])
    assert lls == tuple(sorted([names.eui64(names.LINK_LOCAL, mac), A6("fe80::99")]))
    w = guard.Wanted(A("10.0.3.1"), None, guard.ports_of(OWNERS, MACS, BOOK, None), mac, lls)
    sets = _sets(guard.table_objects("br0", w))
    assert mac in sets["macs"] and all(str(a) in sets["ipv6s"] for a in lls)
    # No port has them: every rule about owned identities drops them from every port.
    assert all(mac not in e["concat"] for e in sets["port_mac"])
    na = _rule(guard.table_objects("br0", w), "neighbour advertisements for a guarded address")
    assert hex(int(lls[0])) in na[1]["match"]["right"]["set"]


def test_a_bridge_mac_is_fixed_per_name_unicast_and_local() -> None:
    mac = names.bridge_mac("lxcbr0")
    assert mac == names.bridge_mac("lxcbr0") != names.bridge_mac("lxcbr1")
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01


def test_without_containers_only_the_bridges_own_addresses_are_held() -> None:
    w = guard.Wanted(A("10.0.3.1"), None, ())
    objects = guard.table_objects("br0", w)
    assert _sets(objects)["ipv4s"] == ["10.0.3.1"]
    # No neighbour-target rules without targets (an empty anonymous set is no set at all).
    assert not any("neighbour" in o["rule"]["comment"] for o in objects if "rule" in o)


def test_replace_is_one_batch_on_the_guard_table_only() -> None:
    commands = guard.replace_commands("br0", _wanted())
    table = {"table": {"family": "bridge", "name": "lxcprov_br0"}}
    assert commands[:3] == [{"add": table}, {"delete": table}, {"add": table}]
    assert guard.delete_commands("br0") == [{"add": table}, {"delete": table}]


def _as_listed(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What `nft -j list` gives back for what was written: handles, counts, sets in the
    kernel's order, a set of one plain value as that value."""
    listed = []
    for n, obj in enumerate(copy.deepcopy(objects)):
        body = next(iter(obj.values()))
        body["handle"] = n + 1
        if "set" in obj and isinstance(body.get("elem"), list):
            random.Random(n).shuffle(body["elem"])
        if "rule" in obj:
            for e in body["expr"]:
                if "counter" in e:
                    e["counter"] = {"packets": 7, "bytes": 420}
                m = e.get("match", {})
                if isinstance(m.get("right"), dict) and "set" in m["right"]:
                    random.Random(n).shuffle(m["right"]["set"])
        listed.append(obj)
    return listed


def test_a_listing_of_what_was_written_compares_equal() -> None:
    w = _wanted()
    listed = _as_listed(guard.table_objects("br0", w))
    assert guard.contents(listed) == guard.wanted_contents("br0", w)
    assert plan.plan_guard("br0", w, guard.contents(listed)) == ()


def test_any_difference_rewrites_the_table() -> None:
    w = _wanted()
    assert plan.plan_guard("br0", w, None) == (actions.ReplaceGuardTable("br0", w),)
    fewer = guard.Wanted(w.gateway, w.gateway6, w.ports[:1])
    observed = guard.wanted_contents("br0", fewer)
    (action,) = plan.plan_guard("br0", w, observed)
    assert isinstance(action, actions.ReplaceGuardTable) and "2 containers" in action.description
    tampered = _as_listed(guard.table_objects("br0", w))
    tampered = [o for o in tampered if "rule" not in o or "MAC only" not in o["rule"]["comment"]]
    assert plan.plan_guard("br0", w, guard.contents(tampered)) != ()


def test_dhcp_hosts_give_every_mac_its_name_and_shared_names_to_nobody() -> None:
    macs = {"web@/a": "00:16:3e:00:00:01", "web@/b": "00:16:3e:00:00:02",
            "db@/a": "00:16:3e:00:00:03", "twin@/a": "00:16:3e:00:00:03"}  # fmt: skip
    book = {"web@/a": "10.0.3.5", "db@/a": "10.0.3.6"}
    text = names.dhcp_hosts_text(book, macs)
    # Two containers called web (two lxcpaths) on one bridge: neither gets the name, both
    # keep their addresses; a MAC twice (by hand) is served once.
    assert text.splitlines() == ["00:16:3e:00:00:03,10.0.3.6,db", "00:16:3e:00:00:01,10.0.3.5"]
    hosts = names.hosts_text(book, macs, None)
    assert "web" not in hosts and "10.0.3.6 db\n" in hosts


def test_a_ports_book_of_the_wrong_shape_is_a_named_error(tmp_path: Path) -> None:
    (tmp_path / names.PORTS).write_text(json.dumps({"web@/l": "eth0; rm -rf /"}))
    with pytest.raises(StateFileError, match=r"ports\.json"):
        names.read_ports(tmp_path)
    names.write_ports(tmp_path, {"web@/l": names.port_name("web@/l")})
    assert names.read_ports(tmp_path) == {"web@/l": names.port_name("web@/l")}


@pytest.fixture
def bridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    settings.save(NetSettings("nosuchbr9", ipaddress.IPv4Interface("10.50.0.1/24")))
    return "nosuchbr9"  # no such link: the books are written, no rule is


def _lease(bridge: str, mac: str, ip: str, expiry: int) -> None:
    path = settings.bridge_state_dir(bridge) / "dnsmasq.leases"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(f"{expiry} {mac} {ip} * *\n")


def test_a_dhcp_reservation_is_the_current_lease_else_a_free_unleased_address(
    bridge: str,
) -> None:
    later = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
    _lease(bridge, "00:16:3e:00:00:01", "10.50.0.140", later)  # a's lease now
    _lease(bridge, "00:16:3e:00:00:99", "10.50.0.128", later)  # a client lxcprov does not know
    _lease(bridge, "00:16:3e:00:00:98", "10.50.0.129", 1000)  # expired long ago
    got = addresses.register(bridge, "a@/l", "00:16:3E:00:00:01", "lxv00000000000a", reserve=True)
    assert got == A("10.50.0.140")
    got = addresses.register(bridge, "b@/l", "00:16:3e:00:00:02", "lxv00000000000b", reserve=True)
    assert got == A("10.50.0.129")
    # Again: nothing moves; a static container gets no reservation from register.
    again = addresses.register(bridge, "a@/l", "00:16:3e:00:00:01", reserve=True)
    assert again == A("10.50.0.140")
    assert addresses.register(bridge, "s@/l", "00:16:3e:00:00:03", "lxv00000000000c") is None
    directory = settings.bridge_state_dir(bridge)
    assert names.read_ports(directory)["a@/l"] == "lxv00000000000a"
    assert "00:16:3e:00:00:01,10.50.0.140,a\n" in (directory / "dhcp-hosts").read_text()
    # Gone: its port first, then its address and MAC.
    assert addresses.forget(bridge, "a@/l")
    assert "a@/l" not in names.read_ports(directory) and "a@/l" not in addresses.book(bridge)
    assert not addresses.forget(bridge, "a@/l")


def test_a_full_dhcp_range_gives_no_reservation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    settings.save(NetSettings("nosuchsmall", ipaddress.IPv4Interface("10.50.0.1/29")))
    got = [addresses.register("nosuchsmall", f"c{i}@/l", f"00:16:3e:00:00:0{i}", reserve=True)
           for i in range(4)]  # fmt: skip
    assert got == [A("10.50.0.4"), A("10.50.0.5"), A("10.50.0.6"), None]


def test_a_mac_is_one_containers_on_every_managed_bridge(
    bridge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.save(NetSettings("nosuchother", ipaddress.IPv4Interface("10.51.0.1/24")))
    mac = "00:16:3e:12:34:56"
    addresses.register(bridge, "web@/a", mac, "lxv00000000000a", reserve=True)
    directory = settings.bridge_state_dir(bridge)
    before = (directory / names.MACS).read_text()
    # The same container again (a restart, set bridge= back), in any case: fine.
    addresses.register(bridge, "web@/a", mac.upper(), "lxv00000000000a", reserve=True)
    # Another owner (another lxcpath, another name), on this bridge or another: refused,
    # and the books hold the MAC once.
    with pytest.raises(MacInUseError, match=r"00:16:3e:12:34:56 is already the MAC of web "
                                            r"\(in /a\) on nosuchbr9"):  # fmt: skip
        addresses.register(bridge, "web@/b", mac, "lxv00000000000b", reserve=True)
    with pytest.raises(MacInUseError, match="on nosuchbr9") as caught:
        addresses.register("nosuchother", "db@/a", mac)
    assert "--new-identity" in caught.value.hint
    assert (directory / names.MACS).read_text() == before
    assert names.read_macs(settings.bridge_state_dir("nosuchother")) == {}
    # The bridge's own MAC is nobody's.
    with monkeypatch.context() as patched:
        patched.setattr(links, "mac", lambda name: "02:aa:bb:cc:dd:ee")
        with pytest.raises(MacInUseError, match="the MAC of the bridge nosuchbr9 itself"):
            addresses.register(bridge, "db@/a", "02:aa:bb:cc:dd:ee")
    # Nor another managed bridge's (its guard owns it: the container would be cut off).
    with monkeypatch.context() as patched:
        other_mac = {"nosuchother": "02:aa:bb:cc:dd:01"}
        patched.setattr(links, "mac", lambda name: other_mac.get(name))
        with pytest.raises(MacInUseError, match="the MAC of the bridge nosuchother itself"):
            addresses.register(bridge, "db@/a", "02:aa:bb:cc:dd:01")
    # Once the holder is gone, the MAC is free.
    assert addresses.forget(bridge, "web@/a")
    addresses.register("nosuchother", "db@/a", mac)
    assert names.read_macs(settings.bridge_state_dir("nosuchother")) == {"db@/a": mac}


def test_the_bridges_mac_and_link_locals_are_read_from_the_kernels_files(tmp_path: Path) -> None:
    (tmp_path / "br7").mkdir()
    (tmp_path / "br7" / "address").write_text("02:AA:bb:cc:dd:ee\n")
    (tmp_path / "br7" / "addr_assign_type").write_text("0\n")
    assert links.mac("br7", tmp_path) == "02:aa:bb:cc:dd:ee"
    assert links.mac_fixed("br7", tmp_path) is False
    (tmp_path / "br7" / "addr_assign_type").write_text("3\n")
    assert links.mac_fixed("br7", tmp_path) is True
    assert links.mac("nosuch", tmp_path) is None and links.mac_fixed("../x", tmp_path) is None
    table = tmp_path / "if_inet6"
    table.write_text(
        "fe8000000000000000aabbfffeccddee 07 40 20 80      br7\n"
        "fd000000000000000000000000000001 07 40 00 80      br7\n"
        "fe800000000000000000000000000001 08 40 20 80     br77\n"
    )
    assert links.link_locals("br7", table) == (A6("fe80::aa:bbff:fecc:ddee"),)
    assert links.link_locals("br7", tmp_path / "none") == ()
