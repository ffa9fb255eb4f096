"""nftables JSON building (pure) and reading of listings."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

from lxcprov.system.hostnet import nat, openings
from lxcprov.system.hostnet.forwards import Forward

SUBNET = ipaddress.IPv4Network("10.50.0.0/24")


def test_replace_is_one_batch_on_our_table_only() -> None:
    commands = nat.replace_commands("br9", nat.Wanted(SUBNET, "up0"))
    assert commands[:3] == [
        {"add": {"table": {"family": "inet", "name": "lxcprov_br9"}}},
        {"delete": {"table": {"family": "inet", "name": "lxcprov_br9"}}},
        {"add": {"table": {"family": "inet", "name": "lxcprov_br9"}}},
    ]
    for command in commands:
        (obj,) = command.values()
        (body,) = obj.values()
        assert body.get("table", body.get("name")) == "lxcprov_br9"
        assert body["family"] == "inet"


def test_masquerade_rule_matches_subnet_and_uplink() -> None:
    objects = nat.table_objects("br9", nat.Wanted(SUBNET, "up0"))
    rules = [o["rule"] for o in objects if "rule" in o]
    masq = next(r for r in rules if r["chain"] == "postrouting")
    assert masq["expr"][-1] == {"masquerade": None}
    text = json.dumps(masq["expr"])
    assert '"addr": "10.50.0.0", "len": 24' in text
    assert '"right": "up0"' in text
    forward = [r for r in rules if r["chain"] == "forward"]
    assert len(forward) == 2
    assert {
        "match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}
    } in forward[1]["expr"]


def test_chains_hook_forward_and_postrouting_with_accept_policy() -> None:
    chains = [
        o["chain"] for o in nat.table_objects("br9", nat.Wanted(SUBNET, "up0")) if "chain" in o
    ]
    assert {(c["name"], c["type"], c["hook"], c["prio"], c["policy"]) for c in chains} == {
        ("postrouting", "nat", "postrouting", 100, "accept"),
        ("forward", "filter", "forward", 0, "accept"),
    }


def test_listing_with_handles_compares_equal_to_wanted() -> None:
    listing = copy.deepcopy(nat.table_objects("br9", nat.Wanted(SUBNET, "up0")))
    for handle, obj in enumerate(listing, start=1):
        next(iter(obj.values()))["handle"] = handle
    listing.insert(0, {"table": {"family": "inet", "name": "lxcprov_br9", "handle": 9}})
    assert nat.contents(listing) == nat.wanted_contents("br9", nat.Wanted(SUBNET, "up0"))
    assert nat.contents(listing) != nat.wanted_contents("br9", nat.Wanted(SUBNET, "up1"))
    assert nat.contents(listing) != nat.wanted_contents(
        "br9", nat.Wanted(ipaddress.IPv4Network("10.51.0.0/24"), "up0")
    )


def test_delete_is_safe_when_absent() -> None:
    table = {"table": {"family": "inet", "name": "lxcprov_br9"}}
    assert nat.delete_commands("br9") == [{"add": table}, {"delete": table}]


def test_drop_chains_of_other_tables_and_our_rules_in_them() -> None:
    def chain(family: str, table: str, name: str, hook: str, policy: str) -> dict[str, Any]:
        return {"chain": {"family": family, "table": table, "name": name, "hook": hook,
                          "policy": policy, "type": "filter", "prio": 0}}  # fmt: skip

    ours = {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 7,
                     "comment": "lxcprov br9", "expr": [{"accept": None}]}}  # fmt: skip
    other_bridge = {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 8,
                             "comment": "lxcprov br8", "expr": [{"accept": None}]}}  # fmt: skip
    ruleset: list[dict[str, Any]] = [
        chain("ip", "filter", "FORWARD", "forward", "drop"),
        chain("ip", "filter", "INPUT", "input", "drop"),
        chain("ip", "filter", "OUTPUT", "output", "drop"),
        chain("inet", "lxcprov_br9", "forward", "forward", "drop"),
        chain("inet", "fw", "fwd", "forward", "accept"),
        chain("bridge", "b", "fwd", "forward", "drop"),
        {"chain": {"family": "ip", "table": "filter", "name": "DOCKER"}},
        ours,
        other_bridge,
    ]
    found = openings.drop_chains(ruleset, "br9")
    assert [(f.family, f.table, f.chain, f.hook) for f in found] == [
        ("ip", "filter", "FORWARD", "forward"),
        ("ip", "filter", "INPUT", "input"),
    ]
    assert found[0].ours == ((7, openings.canonical([{"accept": None}])),)
    assert not openings.is_open(found[0], "br9", ipv6=False)
    assert "policy drop" in found[0].describe()


def test_openings_are_narrow_and_marked() -> None:
    fwd = openings.ForeignChain("ip", "filter", "FORWARD", "forward", ((3, "x"),))
    commands = openings.open_commands(fwd, "br9", ipv6=False)
    assert commands[0] == {"delete": {"rule": {"family": "ip", "table": "filter",
                                               "chain": "FORWARD", "handle": 3}}}  # fmt: skip
    inserted = [c["insert"]["rule"] for c in commands[1:]]
    assert {r["comment"] for r in inserted} == {"lxcprov br9"}
    # Inserted in reverse so that they end up in wanted order at the top of the chain.
    assert [r["expr"] for r in reversed(inserted)] == openings.wanted_rules(fwd, "br9", False)
    text = json.dumps(inserted)
    assert '"right": "br9"' in text and "saddr" not in text
    inp = openings.ForeignChain("inet", "fw", "input", "input")
    v4 = json.dumps(openings.wanted_rules(inp, "br9", False))
    assert "67" in v4 and "ipv6-icmp" not in v4 and "547" not in v4
    v6 = json.dumps(openings.wanted_rules(inp, "br9", True))
    assert "ipv6-icmp" in v6 and "547" in v6
    # An ip6 FORWARD chain matters only to a bridge with IPv6.
    ip6 = openings.ForeignChain("ip6", "filter", "FORWARD", "forward")
    assert openings.wanted_rules(ip6, "br9", False) == []


def test_published_port_rules() -> None:
    fw = Forward("web@/l", "tcp", 8080, 80, "10.50.0.5")
    w = nat.Wanted(SUBNET, None, (fw,))
    objects = nat.table_objects("br9", w)
    chains = {o["chain"]["name"] for o in objects if "chain" in o}
    assert chains == {"prerouting", "output", "postrouting", "forward"}
    rules = [o["rule"] for o in objects if "rule" in o]
    dnat = [r for r in rules if r["chain"] in ("prerouting", "output")]
    assert len(dnat) == 2
    for r in dnat:
        assert r["expr"][-1] == {"dnat": {"family": "ip", "addr": "10.50.0.5", "port": 80}}
        assert '"right": 8080' in json.dumps(r["expr"])
        assert "127.0.0.0" in json.dumps(r["expr"])  # loopback stays the host's
    hairpin = next(r for r in rules if r["chain"] == "postrouting")
    assert hairpin["expr"][-1] == {"masquerade": None} and "hairpin" in hairpin["comment"]
    assert any(r["chain"] == "forward" and "dnat" in json.dumps(r["expr"]) for r in rules)
    one = Forward("web@/l", "udp", 5353, 53, "10.50.0.5", host_addr="192.0.2.7")
    expr = json.dumps(nat.table_objects("br9", nat.Wanted(SUBNET, None, (one,))))
    assert '"right": "192.0.2.7"' in expr and '"protocol": "udp"' in expr and "fib" not in expr
    assert nat.Wanted(SUBNET).empty and not w.empty


def test_ipv6_rules() -> None:
    net6 = ipaddress.IPv6Network("fd42:1:2:3::/64")
    objects = nat.table_objects("br9", nat.Wanted(SUBNET, None, (), net6, None))
    assert {o["chain"]["name"] for o in objects if "chain" in o} == {"input"}
    text = json.dumps(objects)
    assert "ipv6-icmp" in text and "masquerade" not in text
    with_nat6 = json.dumps(nat.table_objects("br9", nat.Wanted(SUBNET, None, (), net6, "up0")))
    assert '"addr": "fd42:1:2:3::", "len": 64' in with_nat6 and "masquerade" in with_nat6


def test_dnat_rules_are_read_back_from_the_table_as_published() -> None:
    web = Forward("web@/l", "tcp", 8080, 80, "10.50.0.5")
    dns = Forward("ns@/l", "udp", 5353, 53, "10.50.0.6", host_addr="192.0.2.7")
    table = nat.wanted_contents("br9", nat.Wanted(SUBNET, "up0", (web, dns)))
    found = nat.dnat_rules(table)
    # One per rule (prerouting and output), equal to the listed forward it came from; the
    # masquerade, hairpin and forward rules are no DNAT.
    assert sorted((d.chain, d) for d in found) == sorted(
        (c, nat.dnat_of(f)) for f in (web, dns) for c in ("output", "prerouting")
    )
    assert {d.host_addr for d in found} == {"", "192.0.2.7"}
    assert nat.dnat_of(web).label() == "8080/tcp -> web:80"
    assert found[0].label().endswith(f"-> {found[0].address}:{found[0].container_port}")
    # Another container port or address is another forward.
    assert nat.dnat_of(web) != nat.dnat_of(Forward("web@/l", "tcp", 8080, 81, "10.50.0.5"))
    assert nat.dnat_rules(None) == () and nat.dnat_rules(nat.wanted_contents(
        "br9", nat.Wanted(SUBNET, "up0"))) == ()  # fmt: skip
