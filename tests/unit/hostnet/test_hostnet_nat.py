"""nftables JSON building (pure) and reading of listings."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

from lxcprov.system.hostnet import nat

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


def test_foreign_forward_drop_detection() -> None:
    chains: list[dict[str, Any]] = [
        {
            "chain": {
                "family": "ip",
                "table": "filter",
                "name": "FORWARD",
                "hook": "forward",
                "policy": "drop",
                "type": "filter",
                "prio": 0,
            }
        },
        {
            "chain": {
                "family": "ip",
                "table": "filter",
                "name": "INPUT",
                "hook": "input",
                "policy": "drop",
                "type": "filter",
                "prio": 0,
            }
        },
        {
            "chain": {
                "family": "inet",
                "table": "lxcprov_br9",
                "name": "forward",
                "hook": "forward",
                "policy": "drop",
            }
        },
        {
            "chain": {
                "family": "ip6",
                "table": "filter",
                "name": "FORWARD",
                "hook": "forward",
                "policy": "drop",
            }
        },
        {
            "chain": {
                "family": "inet",
                "table": "fw",
                "name": "fwd",
                "hook": "forward",
                "policy": "accept",
            }
        },
        {"chain": {"family": "ip", "table": "filter", "name": "DOCKER"}},
    ]
    found = nat.foreign_forward_drops(chains)
    assert [(f.family, f.table, f.chain) for f in found] == [("ip", "filter", "FORWARD")]
    assert "policy drop" in found[0].describe()
