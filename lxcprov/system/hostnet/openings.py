"""Openings: our accept rules at the top of another table's chain whose policy is drop.

nftables evaluates every base chain on a hook, and a drop in any of them is final: the
accepts in our own table cannot let a container's traffic through a host firewall whose
FORWARD (or INPUT) policy is drop, Docker's being the usual one. lxc-net inserts
``-i lxcbr0 -j ACCEPT`` rules into the host's FORWARD and INPUT chains for the same
reason; lxcprov does the same with nftables, as narrowly as it can:

- forward hook: traffic from the bridge, and traffic to it (replies, published ports);
- input hook: what containers need from the host: DHCP, DNS, DHCPv6, ICMPv6.

Every rule carries the comment ``lxcprov <bridge>``, so it is found again (and only it
is ever removed: `net teardown` deletes the rules by handle). Matches are plain
interface names, which iptables-nft also reads, so a Docker host's iptables keeps working.
Pure: building and reading JSON; nat.run carries it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
FAMILIES = ("ip", "ip6", "inet")


def marker(bridge: str) -> str:
    return f"lxcprov {bridge}"


@dataclass(frozen=True)
class ForeignChain:
    """A base chain of another table on the forward or input hook, with policy drop."""

    family: str
    table: str
    chain: str
    hook: str  # "forward" | "input"
    ours: tuple[tuple[int, str], ...] = ()  # our rules in it: (handle, canonical expr)

    def where(self) -> str:
        return f"{self.family} {self.table} {self.chain}"

    def describe(self) -> str:
        return (
            f"nftables chain {self.where()} (hook {self.hook}) has policy drop: container "
            f"traffic is dropped there unless a rule accepts it (Docker does this)"
        )


def _match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _iif(bridge: str) -> Json:
    return _match({"meta": {"key": "iifname"}}, bridge)


def _oif(bridge: str) -> Json:
    return _match({"meta": {"key": "oifname"}}, bridge)


def _dports(proto: str, ports: list[int]) -> Json:
    right: Any = ports[0] if len(ports) == 1 else {"set": ports}
    return _match({"payload": {"protocol": proto, "field": "dport"}}, right)


def wanted_rules(chain: ForeignChain, bridge: str, ipv6: bool) -> list[list[Json]]:
    """The expressions of our rules for chain (empty: this chain needs no opening)."""
    accept: Json = {"accept": None}
    if chain.hook == "forward":
        if chain.family == "ip6" and not ipv6:
            return []
        return [[_iif(bridge), accept], [_oif(bridge), accept]]
    rules: list[list[Json]] = []
    if chain.family != "ip6":
        rules += [[_iif(bridge), _dports("udp", [53, 67]), accept],
                  [_iif(bridge), _dports("tcp", [53]), accept]]  # fmt: skip
    if ipv6 and chain.family != "ip":
        icmp6 = _match({"meta": {"key": "l4proto"}}, "ipv6-icmp")
        rules += [[_iif(bridge), _dports("udp", [53, 547]), accept],
                  [_iif(bridge), icmp6, accept]]  # fmt: skip
    return rules


def canonical(expr: list[Json]) -> str:
    return json.dumps(expr, sort_keys=True)


def is_open(chain: ForeignChain, bridge: str, ipv6: bool) -> bool:
    return [e for _, e in chain.ours] == [canonical(r) for r in wanted_rules(chain, bridge, ipv6)]


def drop_chains(ruleset: list[Json], bridge: str) -> list[ForeignChain]:
    """The drop-policy forward/input chains of other tables, with our rules found in each."""
    chains: dict[tuple[str, str, str], Json] = {}
    ours: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for obj in ruleset:
        c = obj.get("chain")
        if (isinstance(c, dict) and c.get("policy") == "drop"
                and c.get("hook") in ("forward", "input") and c.get("family") in FAMILIES
                and not str(c.get("table", "")).startswith("lxcprov_")):  # fmt: skip
            chains[(str(c["family"]), str(c["table"]), str(c["name"]))] = c
        r = obj.get("rule")
        if isinstance(r, dict) and r.get("comment") == marker(bridge):
            key = (str(r.get("family")), str(r.get("table")), str(r.get("chain")))
            ours.setdefault(key, []).append((int(r.get("handle", 0)), canonical(r["expr"])))
    return [
        ForeignChain(
            family, table, name, str(c["hook"]), tuple(ours.get((family, table, name), ()))
        )
        for (family, table, name), c in sorted(chains.items())
    ]


def open_commands(chain: ForeignChain, bridge: str, ipv6: bool) -> list[Json]:
    """One batch: drop our old rules in chain, insert the wanted ones at its top (in order)."""
    commands = close_commands(chain)
    for expr in reversed(wanted_rules(chain, bridge, ipv6)):  # each insert goes first
        commands.append({"insert": {"rule": {
            "family": chain.family, "table": chain.table, "chain": chain.chain,
            "comment": marker(bridge), "expr": expr,
        }}})  # fmt: skip
    return commands


def close_commands(chain: ForeignChain) -> list[Json]:
    where = {"family": chain.family, "table": chain.table, "chain": chain.chain}
    return [{"delete": {"rule": {**where, "handle": handle}}} for handle, _ in chain.ours]
