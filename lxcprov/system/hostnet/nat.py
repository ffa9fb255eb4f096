"""Our nftables table per bridge, built as libnftables JSON (pure), and a thin runner.

Table ``inet lxcprov_<bridge>``:

- chain ``postrouting`` (nat, srcnat priority): masquerade the bridge subnet out of
  the uplink (traffic staying inside the subnet is left alone);
- chain ``forward`` (filter, priority 0, policy accept): accept bridge -> uplink, and
  uplink -> bridge for established/related connections and published ports;
- chains ``prerouting`` and ``output`` (nat, dstnat priority): published ports, DNAT from
  the host's addresses to a container, for arriving traffic and the host's own; a
  postrouting masquerade for the hairpin (a container reaching a published port through
  the host's address);
- chain ``input`` on an IPv6 bridge: ICMPv6, DHCPv6 and DNS from the containers; a
  masquerade of the bridge's /64 out of the uplink with NAT66.

An accept in our table cannot override a drop in another table (every base chain on
a hook sees the packet): openings.py adds marked accept rules to such chains. Nothing
here touches a table other than ours.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from lxcprov.errors import NftablesError
from lxcprov.system.hostnet.forwards import Forward

FAMILY = "inet"
TABLE_PREFIX = "lxcprov_"

Json = dict[str, Any]


def table_name(bridge: str) -> str:
    return TABLE_PREFIX + bridge


def _table(bridge: str) -> Json:
    return {"family": FAMILY, "name": table_name(bridge)}


def _chain(bridge: str, name: str, kind: str, hook: str, prio: int) -> Json:
    return {
        "chain": {
            "family": FAMILY,
            "table": table_name(bridge),
            "name": name,
            "type": kind,
            "hook": hook,
            "prio": prio,
            "policy": "accept",
        }
    }


def _match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> Json:
    return {"meta": {"key": key}}


def _ip(field: str) -> Json:
    return {"payload": {"protocol": "ip", "field": field}}


def _rule(bridge: str, chain: str, comment: str, expr: list[Json]) -> Json:
    return {
        "rule": {
            "family": FAMILY,
            "table": table_name(bridge),
            "chain": chain,
            "comment": comment,
            "expr": expr,
        }
    }


def _prefix(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Json:
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _dport(proto: str, port: int) -> Json:
    return _match({"payload": {"protocol": proto, "field": "dport"}}, port)


@dataclass(frozen=True)
class Wanted:
    """What the table is for; an empty table is no table at all."""

    subnet: ipaddress.IPv4Network
    uplink: str | None = None  # masquerade IPv4 out of it (NAT on)
    forwards: tuple[Forward, ...] = ()
    ipv6: ipaddress.IPv6Network | None = None  # the bridge's /64
    uplink6: str | None = None  # masquerade IPv6 out of it (NAT66 on)

    @property
    def empty(self) -> bool:
        return not (self.uplink or self.forwards or self.ipv6)


def table_objects(bridge: str, w: Wanted) -> list[Json]:
    """The chains and rules of our table, as JSON objects (each to go under "add")."""
    objects: list[Json] = []
    if w.forwards:
        objects += [
            _chain(bridge, "prerouting", "nat", "prerouting", -100),
            _chain(bridge, "output", "nat", "output", -100),
        ]
    if w.uplink or w.forwards or w.uplink6:
        objects += [
            _chain(bridge, "postrouting", "nat", "postrouting", 100),
            _chain(bridge, "forward", "filter", "forward", 0),
        ]
    if w.ipv6:
        objects.append(_chain(bridge, "input", "filter", "input", 0))
    if w.uplink:
        objects += _masquerade(bridge, w.subnet, w.uplink)
    for fw in w.forwards:
        objects += _forward(bridge, w.subnet, fw)
    if w.forwards:
        dnat = _match({"ct": {"key": "status"}}, "dnat", "in")
        objects.append(
            _rule(bridge, "forward", "lxcprov: published ports", [dnat, {"accept": None}])
        )
    if w.ipv6:
        objects += _ipv6_input(bridge)
    if w.ipv6 and w.uplink6:
        objects += _masquerade6(bridge, w.ipv6, w.uplink6)
    return objects


def _forward(bridge: str, subnet: ipaddress.IPv4Network, fw: Forward) -> list[Json]:
    """DNAT from the host's addresses (or one), for traffic that arrives and for the host's
    own; and the hairpin: a container reaching a published port through the host's address
    is masqueraded, or the answer would come straight from the other container."""
    to = {"dnat": {"family": "ip", "addr": fw.address, "port": fw.container_port}}
    if fw.host_addr:
        where = [_match(_ip("daddr"), fw.host_addr)]
    else:
        # Any of the host's own addresses but loopback: 127.0.0.1:PORT stays the host's
        # (a DNAT from a loopback source could not leave the host anyway).
        loopback = _prefix(ipaddress.IPv4Network("127.0.0.0/8"))
        # (The ip daddr match makes it IPv4 only: nft adds that dependency, and lists the
        # rule without it, so an explicit `meta nfproto` would never compare equal.)
        where = [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"),
                 _match(_ip("daddr"), loopback, "!=")]  # fmt: skip
    label = f"lxcprov: {fw.label()}"
    port = _dport(fw.proto, fw.host_port)
    return [
        _rule(bridge, "prerouting", label, [*where, port, to]),
        _rule(bridge, "output", label, [*where, port, to]),
        _rule(bridge, "postrouting", f"{label} (hairpin)", [
            _match(_ip("saddr"), _prefix(subnet)), _match(_ip("daddr"), fw.address),
            _dport(fw.proto, fw.container_port),
            _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None},
        ]),
    ]  # fmt: skip


def _ipv6_input(bridge: str) -> list[Json]:
    """What containers send the host on an IPv6 bridge: neighbour discovery and router
    solicitations (ICMPv6), DHCPv6, DNS. (An accept here cannot undo another table's drop;
    net status warns about those.)"""
    iif = _match(_meta("iifname"), bridge)
    return [
        _rule(bridge, "input", "lxcprov: ICMPv6 (neighbour discovery, router solicitation)",
              [iif, _match(_meta("l4proto"), "ipv6-icmp"), {"accept": None}]),
        _rule(bridge, "input", "lxcprov: DHCPv6", [iif, _dport("udp", 547), {"accept": None}]),
        _rule(bridge, "input", "lxcprov: DNS", [iif, _dport("udp", 53), {"accept": None}]),
        _rule(bridge, "input", "lxcprov: DNS over TCP",
              [iif, _dport("tcp", 53), {"accept": None}]),
    ]  # fmt: skip


def _masquerade6(bridge: str, net: ipaddress.IPv6Network, uplink: str) -> list[Json]:
    ip6 = {"payload": {"protocol": "ip6", "field": "saddr"}}
    ip6d = {"payload": {"protocol": "ip6", "field": "daddr"}}
    return [
        _rule(bridge, "postrouting", f"lxcprov: masquerade {net} out of {uplink}",
              [_match(ip6, _prefix(net)), _match(ip6d, _prefix(net), "!="),
               _match(_meta("oifname"), uplink), {"masquerade": None}]),
        _rule(bridge, "forward", f"lxcprov: {bridge} -> {uplink} (IPv6)",
              [_match(_meta("iifname"), bridge), _match(_meta("oifname"), uplink),
               _match(_meta("nfproto"), "ipv6"), {"accept": None}]),
    ]  # fmt: skip


def _masquerade(bridge: str, subnet: ipaddress.IPv4Network, uplink: str) -> list[Json]:
    prefix = _prefix(subnet)
    return [
        _rule(
            bridge,
            "postrouting",
            f"lxcprov: masquerade {subnet} out of {uplink}",
            [
                _match(_ip("saddr"), prefix),
                _match(_ip("daddr"), prefix, "!="),
                _match(_meta("oifname"), uplink),
                {"masquerade": None},
            ],
        ),
        _rule(
            bridge,
            "forward",
            f"lxcprov: {bridge} -> {uplink}",
            [_match(_meta("iifname"), bridge), _match(_meta("oifname"), uplink), {"accept": None}],
        ),
        _rule(
            bridge,
            "forward",
            f"lxcprov: {uplink} -> {bridge} established,related",
            [
                _match(_meta("iifname"), uplink),
                _match(_meta("oifname"), bridge),
                _match({"ct": {"key": "state"}}, ["established", "related"], "in"),
                {"accept": None},
            ],
        ),
    ]


def replace_commands(bridge: str, w: Wanted) -> list[Json]:
    """One atomic batch: (re)create our table with exactly the wanted contents."""
    table = {"table": _table(bridge)}
    return [
        {"add": table},
        {"delete": table},
        {"add": table},
        *({"add": obj} for obj in table_objects(bridge, w)),
    ]


def delete_commands(bridge: str) -> list[Json]:
    """Delete our table; the leading add makes it a no-op when the table is absent."""
    table = {"table": _table(bridge)}
    return [{"add": table}, {"delete": table}]


@dataclass(frozen=True)
class TableContents:
    """Chains and rules of a table, without handles, comparable for equality."""

    chains: tuple[tuple[str, str, str, int, str], ...]
    rules: tuple[tuple[str, str, str], ...]  # chain, expr as canonical JSON, comment


def contents(objects: list[Json]) -> TableContents:
    """Normalise JSON objects (wanted ones or a listing's) into TableContents."""
    chains = []
    rules = []
    for obj in objects:
        if "chain" in obj:
            c = obj["chain"]
            chains.append(
                (
                    str(c.get("name")),
                    str(c.get("type")),
                    str(c.get("hook")),
                    int(c.get("prio", 0)),
                    str(c.get("policy")),
                )
            )
        elif "rule" in obj:
            r = obj["rule"]
            rules.append(
                (
                    str(r.get("chain")),
                    json.dumps(r.get("expr"), sort_keys=True),
                    str(r.get("comment", "")),
                )
            )
    # A listing groups rules by chain; the order within a chain is what matters.
    return TableContents(tuple(sorted(chains)), tuple(sorted(rules, key=lambda r: r[0])))


def wanted_contents(bridge: str, w: Wanted) -> TableContents:
    return contents(table_objects(bridge, w))


def run(commands: list[Json], what: str) -> list[Json]:
    """Run a batch through libnftables' JSON API; return the listed objects."""
    try:
        import nftables  # Debian package python3-nftables
    except ImportError:
        raise NftablesError(
            "the python3-nftables module is missing",
            hint="apt-get install python3-nftables",
        ) from None
    nft = nftables.Nftables()
    nft.set_json_output(True)
    rc, output, error = nft.json_cmd({"nftables": commands})
    if rc != 0:
        raise NftablesError(f"{what} failed: {str(error).strip() or f'exit code {rc}'}")
    if isinstance(output, dict):
        objects = output.get("nftables", [])
        return [o for o in objects if isinstance(o, dict) and "metainfo" not in o]
    return []


@dataclass(frozen=True, order=True)
class Dnat:
    """A published port as a DNAT rule has it (or as forwards.json lists it): equal when
    the same traffic goes to the same place. chain and who are for the messages."""

    proto: str
    host_port: int
    address: str
    container_port: int
    host_addr: str = ""
    chain: str = field(default="", compare=False)  # the rule's chain ("": a listed one)
    who: str = field(default="", compare=False)  # the container's name, when known
    owner: str = field(default="", compare=False)  # name@lxcpath, for a listed one

    def label(self) -> str:
        where = f"{self.host_addr}:" if self.host_addr else ""
        to = f"{self.who or self.address}:{self.container_port}"
        return f"{where}{self.host_port}/{self.proto} -> {to}"


def dnat_of(fw: Forward) -> Dnat:
    name = fw.owner.split("@", 1)[0]
    return Dnat(fw.proto, fw.host_port, fw.address, fw.container_port, fw.host_addr, who=name,
                owner=fw.owner)  # fmt: skip


DNAT_CHAINS = ("prerouting", "output")


def dnat_rules(table: TableContents | None) -> tuple[Dnat, ...]:
    """The DNAT rules of our table's prerouting and output chains, one per rule, read from
    their expressions (not their comments: what is forwarded is what the rule does)."""
    found = []
    for chain, expr, _comment in table.rules if table is not None else ():
        if chain not in DNAT_CHAINS:
            continue
        dnat = _dnat_of_rule(chain, json.loads(expr))
        if dnat is not None:
            found.append(dnat)
    return tuple(found)


def _dnat_of_rule(chain: str, expr: object) -> Dnat | None:
    proto, port, host_addr, to = "", 0, "", None
    for item in expr if isinstance(expr, list) else ():
        if not isinstance(item, dict):
            continue
        match = item.get("match")
        if isinstance(match, dict) and match.get("op") == "==":
            payload = (match.get("left") or {}).get("payload") or {}
            right = match.get("right")
            if payload.get("field") == "dport" and isinstance(right, int):
                proto, port = str(payload.get("protocol")), right
            elif payload.get("field") == "daddr" and isinstance(right, str):
                host_addr = right
        if isinstance(item.get("dnat"), dict):
            to = item["dnat"]
    if to is None or not port:
        return None
    return Dnat(proto, port, str(to.get("addr")), int(to.get("port", port)), host_addr, chain)
