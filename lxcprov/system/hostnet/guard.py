"""The bridge's guard: who may send as whom on it, as nftables JSON (pure).

Table ``bridge lxcprov_<bridge>`` (the ``inet`` table of the same name is nat.py's), two
base chains: one on the bridge's prerouting hook, which sees every frame a bridge port
sends, to the host or to another port, before the bridge forwards it; one on its forward
hook, which sees each frame the bridge passes on from one port to another (the host's own
frames leave through the output hook and are looked at by neither).

A container lxcprov started has a port of a known name (``lxc.net.0.veth.pair``,
names.port_name) recorded in the bridge's books with its MAC and IPv4 (static address or
DHCP reservation). From such a port only these pass:

- frames with the container's MAC as source, and only IPv4, ARP and IPv6 (no VLAN tags);
- ARP whose sender MAC is the container's and whose sender IP is its address (or 0.0.0.0,
  an address probe);
- IPv4 from its address, or from 0.0.0.0 to a DHCP server (before it has a lease);
- DHCP requests that name the container's MAC as the client (chaddr) and no relay
  (giaddr 0.0.0.0), so no container can decline, release or request for another;
- IPv6 from its two EUI-64 addresses (link-local, and the bridge's /64 on an IPv6 bridge),
  or from :: for duplicate address detection, router solicitation and MLD reports;
  neighbour advertisements (and DAD solicitations) only for those two addresses;
- nothing to a DHCP or DHCPv6 client's port (68, 546), whatever the source port, no
  router advertisement and no redirect: the host is the only server and router.

From any other port (a container lxcprov did not start, a veth made by hand) a frame
whose source MAC, IPv4, ARP sender, IPv6 address or DHCP client MAC belongs to a guarded
container, or is the bridge's own (its MAC, IPv4, IPv6 and link-local addresses), is
dropped; a fragmented DHCP request (whose client MAC cannot be read) is dropped from every
port. And to a guarded port, the forward chain lets no DHCP answer, router advertisement
or redirect through, whichever port sent it. Each drop rule counts what it dropped.

The chains match port names, not the bridge: the kernel's ``meta ibrname`` is not in
every kernel (CONFIG_NFT_BRIDGE_META). Port names are unique on the host, so the port
rules only ever see this bridge's containers; the "owned identity" rules also see other
bridges' frames, where a container's MAC or this subnet's addresses have no business.
Neighbour-discovery targets and DHCP client MACs are matched as raw payload in anonymous
sets: libnftables 1.0.6 has no named field for either, and its JSON API cannot declare a
typed set for one (a raw payload against an ``ether_addr`` set is a datatype mismatch).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxcprov.system.hostnet.names import LINK_LOCAL, eui64

FAMILY = "bridge"
TABLE_PREFIX = "lxcprov_"
CHAIN = "prerouting"
FORWARD = "forward"
PRIORITY = -200  # the bridge family's "filter" priority: before anything else decides

Json = dict[str, Any]
IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address


@dataclass(frozen=True, order=True)
class Port:
    """A guarded container's port on the bridge and what it may send as."""

    name: str  # the veth's host-side name
    mac: str
    ipv4: IPv4 | None  # None: not known yet (held to its MAC and IPv6 only)
    ipv6: tuple[IPv6, ...]


@dataclass(frozen=True)
class Wanted:
    gateway: IPv4  # the bridge's own addresses: no port may send as them
    gateway6: IPv6 | None
    ports: tuple[Port, ...]
    mac: str | None = None  # the bridge's own MAC (None: not known, the bridge is absent)
    link_local: tuple[IPv6, ...] = ()  # the bridge's own link-local addresses

    def owned_ipv6(self) -> list[IPv6]:
        found = {a for p in self.ports for a in p.ipv6} | set(self.link_local)
        return sorted(found | ({self.gateway6} if self.gateway6 else set()))

    def owned_macs(self) -> list[str]:
        return sorted({p.mac for p in self.ports} | ({self.mac} if self.mac else set()))


def bridge_link_locals(mac: str | None, seen: Iterable[IPv6] = ()) -> tuple[IPv6, ...]:
    """The bridge's link-local addresses: the EUI-64 of its MAC (the kernel's default, there
    before the bridge has a carrier) and whatever it has now (another addr_gen_mode)."""
    found = set(seen) | ({eui64(LINK_LOCAL, mac)} if mac else set())
    return tuple(sorted(found))


def table_name(bridge: str) -> str:
    return TABLE_PREFIX + bridge


def ports_of(
    owners: dict[str, str],
    macs: dict[str, str],
    book: dict[str, str],
    prefix: ipaddress.IPv6Network | None,
) -> tuple[Port, ...]:
    """The guarded ports from the books: owners with a recorded port and MAC."""
    found = []
    for owner, port in sorted(owners.items()):
        mac = macs.get(owner)
        if mac is None:
            continue  # a port without a MAC cannot be held to one
        ip = book.get(owner)
        v6 = [eui64(LINK_LOCAL, mac)] + ([eui64(prefix, mac)] if prefix is not None else [])
        found.append(Port(port, mac, IPv4(ip) if ip else None, tuple(v6)))
    return tuple(found)


def _match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> Json:
    return {"meta": {"key": key}}


def _field(protocol: str, field: str) -> Json:
    return {"payload": {"protocol": protocol, "field": field}}


_IIF = _meta("iifname")
_UNSET = str(ipaddress.IPv4Address(0))  # a source of 0.0.0.0: no address yet (a match, not a bind)
_ND_TARGET = {"payload": {"base": "th", "offset": 64, "len": 128}}  # after type, code, sum, flags
# A BOOTP message starts after the 8 bytes of UDP header: giaddr at its byte 24, chaddr
# (the client's MAC, for Ethernet its first 6 bytes) right after it at byte 28.
_RELAY_AND_CLIENT = {"payload": {"base": "th", "offset": (8 + 24) * 8, "len": 80}}
_CLIENT_MAC = {"payload": {"base": "th", "offset": (8 + 28) * 8, "len": 48}}
# The outer tag's TCI (bytes 14-15 of the frame; nft rebuilds a tag the NIC took off) and
# its 12 bits of VLAN id.
_OUTER_TCI = {"payload": {"base": "ll", "offset": 14 * 8, "len": 16}}
_VLAN_ID = 0x0FFF
_MORE_FRAGMENTS = 0x2000  # the IPv4 MF flag, in the 16 bits nft calls frag-off


def _pair(right: Json) -> Json:
    return {"concat": [_IIF, right]}


def _from(port_set: str) -> Json:
    return _match(_IIF, f"@{port_set}")


def _hex(address: IPv6) -> str:
    return hex(int(address))


def _mac_int(mac: str) -> int:
    """A MAC as the integer nft lists a raw 48-bit payload as (and a zero giaddr before
    it leaves it unchanged)."""
    return int(mac.replace(":", ""), 16)


def _one_of(values: list[Any]) -> Any:
    """An anonymous set; nft turns a set of one plain value into that value (and lists
    it so), but wants a set of one concatenation kept a set."""
    single = len(values) == 1 and not isinstance(values[0], dict)
    return values[0] if single else {"set": values}


_SETS: tuple[tuple[str, str | list[str]], ...] = (
    ("ports", "ifname"),  # every guarded port
    ("ports_v4", "ifname"),  # those whose IPv4 is known
    ("port_mac", ["ifname", "ether_addr"]),
    ("port_ipv4", ["ifname", "ipv4_addr"]),
    ("port_ipv6", ["ifname", "ipv6_addr"]),
    ("macs", "ether_addr"),  # owned: only their port may send as them
    ("ipv4s", "ipv4_addr"),
    ("ipv6s", "ipv6_addr"),
)


def _elements(w: Wanted) -> dict[str, list[Any]]:
    with_v4 = [p for p in w.ports if p.ipv4 is not None]
    return {
        "ports": sorted(p.name for p in w.ports),
        "ports_v4": sorted(p.name for p in with_v4),
        "port_mac": [{"concat": [p.name, p.mac]} for p in w.ports],
        "port_ipv4": [{"concat": [p.name, str(p.ipv4)]} for p in with_v4],
        "port_ipv6": [{"concat": [p.name, str(a)]} for p in w.ports for a in p.ipv6],
        "macs": w.owned_macs(),
        "ipv4s": sorted({str(p.ipv4) for p in with_v4} | {str(w.gateway)}, key=IPv4),
        "ipv6s": [str(a) for a in w.owned_ipv6()],
    }


def _rules(w: Wanted) -> list[tuple[str, list[Json]]]:
    """(comment, expression) of each prerouting rule, in order; every drop counts."""
    drop: list[Json] = [{"counter": None}, {"drop": None}]
    accept: list[Json] = [{"accept": None}]
    ether_src, arp_mac, arp_ip = (_field("ether", "saddr"), _field("arp", "saddr ether"),
                                  _field("arp", "saddr ip"))  # fmt: skip
    ip_src, ip6_src = _field("ip", "saddr"), _field("ip6", "saddr")
    icmp6, dport = _field("icmpv6", "type"), _field("udp", "dport")
    targets = [{"concat": [p.name, _hex(a)]} for p in w.ports for a in p.ipv6]
    clients = [{"concat": [p.name, _mac_int(p.mac)]} for p in w.ports]
    rules: list[tuple[str, list[Json]]] = [
        # First, from every port, guarded or not: a priority tag (VLAN id 0, which the
        # receiving kernel strips and takes as untagged) moves the ethertype and the
        # headers every rule below reads (measured: a tagged ARP reply, router
        # advertisement, DHCP answer and release from an unguarded port all passed).
        # Only id 0: this chain sees every bridge of the host (no `meta ibrname` here),
        # and another bridge's VLANs are its admin's; a frame of another id is never
        # taken as untagged, and the forward chain keeps every tag from a container.
        ("lxcprov: no VLAN-tagged frame from any port (a tag hides what the rules read)",
         [_match(_field("ether", "type"), {"set": ["8021q", "8021ad"]}),
          _match({"&": [_OUTER_TCI, _VLAN_ID]}, 0), *drop]),
        ("lxcprov: a port sends with its container's MAC only",
         [_from("ports"), _match(_pair(ether_src), "@port_mac", "!="), *drop]),
        ("lxcprov: a port carries IPv4, ARP and IPv6 only (no VLAN tags)",
         [_from("ports"), _match(_field("ether", "type"), {"set": ["ip", "arp", "ip6"]}, "!="),
          *drop]),
        ("lxcprov: ARP sender MAC is the port's container's",
         [_from("ports"), _match(_pair(arp_mac), "@port_mac", "!="), *drop]),
        ("lxcprov: ARP sender IP is the port's container's (or 0.0.0.0, a probe)",
         [_from("ports_v4"), _match(arp_ip, _UNSET, "!="),
          _match(_pair(arp_ip), "@port_ipv4", "!="), *drop]),
    ]  # fmt: skip
    if clients:
        # Before the accept of DHCP from 0.0.0.0: a DECLINE or RELEASE naming another's
        # MAC would take its reservation or lease away (dnsmasq finds them by chaddr).
        client = _match(_pair(_RELAY_AND_CLIENT), _one_of(clients), "!=")
        rules.append(("lxcprov: DHCP requests from a port name its container's MAC (no relay)",
                      [_from("ports"), _match(dport, 67), client, *drop]))  # fmt: skip
    rules += [
        # The first fragment has the UDP header but not the client MAC; without it the
        # rest never reassembles. DHCP clients never fragment (a request is < 576 bytes).
        ("lxcprov: no fragmented DHCP request (its client MAC could not be read)",
         [_match(dport, 67),
          _match({"&": [_field("ip", "frag-off"), _MORE_FRAGMENTS]}, 0, "!="), *drop]),
        ("lxcprov: DHCP from 0.0.0.0 before a lease",
         [_from("ports"), _match(ip_src, _UNSET), _match(_field("udp", "sport"), 68),
          _match(dport, 67), *accept]),
        ("lxcprov: IPv4 from the port's container's address only",
         [_from("ports_v4"), _match(_pair(ip_src), "@port_ipv4", "!="), *drop]),
        # Whatever the source port: a client takes an answer from any (measured: busybox
        # udhcpc bound with a router and DNS server sent from port 1067).
        ("lxcprov: nothing to a DHCP or DHCPv6 client's port: the host is the only server",
         [_from("ports"), _match(dport, {"set": [68, 546]}), *drop]),
        ("lxcprov: the host is the only router (advertisements, redirects)",
         [_from("ports"), _match(icmp6, {"set": ["nd-router-advert", "nd-redirect"]}), *drop]),
    ]  # fmt: skip
    if targets:
        rules += [
            ("lxcprov: neighbour advertisements for the port's container's addresses only",
             [_from("ports"), _match(icmp6, "nd-neighbor-advert"),
              _match(_pair(_ND_TARGET), _one_of(targets), "!="), *drop]),
            ("lxcprov: duplicate address detection for the port's container's addresses only",
             [_from("ports"), _match(ip6_src, "::"), _match(icmp6, "nd-neighbor-solicit"),
              _match(_pair(_ND_TARGET), _one_of(targets), "!="), *drop]),
        ]  # fmt: skip
    nd_from_nowhere = {"set": ["nd-neighbor-solicit", "nd-router-solicit",
                               "mld-listener-report", "mld2-listener-report"]}  # fmt: skip
    rules += [
        ("lxcprov: from :: only DAD, router solicitations and MLD reports",
         [_from("ports"), _match(ip6_src, "::"), _match(icmp6, nd_from_nowhere), *accept]),
        ("lxcprov: IPv6 from the port's container's addresses only",
         [_from("ports"), _match(_pair(ip6_src), "@port_ipv6", "!="), *drop]),
        ("lxcprov: a container's (or the bridge's) MAC from its own port only",
         [_match(ether_src, "@macs"), _match(_pair(ether_src), "@port_mac", "!="), *drop]),
        ("lxcprov: ARP as a container's (or the bridge's) MAC from its own port only",
         [_match(arp_mac, "@macs"), _match(_pair(arp_mac), "@port_mac", "!="), *drop]),
        ("lxcprov: ARP as a container's (or the bridge's) address from its own port only",
         [_match(arp_ip, "@ipv4s"), _match(_pair(arp_ip), "@port_ipv4", "!="), *drop]),
        ("lxcprov: IPv4 from a container's (or the bridge's) address from its port only",
         [_match(ip_src, "@ipv4s"), _match(_pair(ip_src), "@port_ipv4", "!="), *drop]),
        ("lxcprov: IPv6 from a container's (or the bridge's) address from its port only",
         [_match(ip6_src, "@ipv6s"), _match(_pair(ip6_src), "@port_ipv6", "!="), *drop]),
    ]  # fmt: skip
    owned_macs = [_mac_int(m) for m in w.owned_macs()]
    if owned_macs:
        # From a guarded port the rule above holds the client MAC to the port's own.
        rules.append(("lxcprov: a guarded MAC asks for DHCP from its own port only",
                      [_match(_IIF, "@ports", "!="), _match(dport, 67),
                       _match(_CLIENT_MAC, _one_of(owned_macs)), *drop]))  # fmt: skip
    owned = [_hex(a) for a in w.owned_ipv6()]
    if owned:
        others = [_match(icmp6, "nd-neighbor-advert"), _match(_ND_TARGET, _one_of(owned))]
        if targets:
            others.append(_match(_pair(_ND_TARGET), _one_of(targets), "!="))
        rules.append(("lxcprov: neighbour advertisements for a guarded address from its port only",
                      [*others, *drop]))  # fmt: skip
    return rules


def _forward_rules() -> list[tuple[str, list[Json]]]:
    """(comment, expression) of each forward rule: what may reach a guarded port from
    another port (the host's own DHCP answers and advertisements come through output)."""
    drop: list[Json] = [{"counter": None}, {"drop": None}]
    to_guarded = _match(_meta("oifname"), "@ports")
    return [
        ("lxcprov: no VLAN-tagged frame to a container (a tag hides what the rules read)",
         [to_guarded, _match(_field("ether", "type"), {"set": ["8021q", "8021ad"]}), *drop]),
        ("lxcprov: a container takes DHCP and DHCPv6 answers from the host only",
         [to_guarded, _match(_field("udp", "dport"), {"set": [68, 546]}), *drop]),
        ("lxcprov: a container takes router advertisements and redirects from the host only",
         [to_guarded, _match(_field("icmpv6", "type"), {"set": ["nd-router-advert",
                                                                "nd-redirect"]}), *drop]),
    ]  # fmt: skip


def _table(bridge: str) -> Json:
    return {"family": FAMILY, "name": table_name(bridge)}


def table_objects(bridge: str, w: Wanted) -> list[Json]:
    """The sets, chain and rules of the guard table, as JSON objects (each under "add")."""
    where = {"family": FAMILY, "table": table_name(bridge)}
    objects: list[Json] = []
    elements = _elements(w)
    for name, kind in _SETS:
        body: Json = {**where, "name": name, "type": kind}
        if elements[name]:
            body["elem"] = elements[name]
        objects.append({"set": body})
    for chain, rules in ((CHAIN, _rules(w)), (FORWARD, _forward_rules())):
        objects.append({"chain": {**where, "name": chain, "type": "filter", "hook": chain,
                                  "prio": PRIORITY, "policy": "accept"}})  # fmt: skip
        for comment, expr in rules:
            objects.append({"rule": {**where, "chain": chain, "comment": comment, "expr": expr}})
    return objects


def replace_commands(bridge: str, w: Wanted) -> list[Json]:
    """One atomic batch: (re)create the guard table with exactly the wanted contents."""
    table = {"table": _table(bridge)}
    return [{"add": table}, {"delete": table}, {"add": table},
            *({"add": obj} for obj in table_objects(bridge, w))]  # fmt: skip


def delete_commands(bridge: str) -> list[Json]:
    """Delete the guard table; the leading add makes it a no-op when it is absent."""
    table = {"table": _table(bridge)}
    return [{"add": table}, {"delete": table}]


@dataclass(frozen=True)
class GuardContents:
    """Sets (with elements), chains and rules of the table, without handles or counts."""

    sets: tuple[tuple[str, str, str], ...]  # name, type, elements (canonical JSON, sorted)
    chains: tuple[tuple[str, str, str, int, str], ...]
    rules: tuple[tuple[str, str, str], ...]  # chain, expression (canonical JSON), comment


def _canonical(value: Any) -> Any:
    """A listing's form and ours made comparable: counters without counts, anonymous sets
    in one order, raw 128-bit values in one spelling."""
    if isinstance(value, dict):
        if "counter" in value and len(value) == 1:
            return {"counter": None}
        out = {k: _canonical(v) for k, v in value.items()}
        if "set" in out and isinstance(out["set"], list):
            out["set"] = sorted(out["set"], key=lambda e: json.dumps(e, sort_keys=True))
        return out
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return hex(int(value, 16))
        except ValueError:
            return value
    return value


def _dump(value: Any) -> str:
    return json.dumps(_canonical(value), sort_keys=True)


def _element_list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [raw] if raw is not None else []


def contents(objects: Iterable[Json]) -> GuardContents:
    """Normalise JSON objects (wanted ones or a listing's) into GuardContents."""
    sets, chains, rules = [], [], []
    for obj in objects:
        if "set" in obj:
            s = obj["set"]
            elements = sorted(_dump(e) for e in _element_list(s.get("elem")))
            sets.append((str(s.get("name")), _dump(s.get("type")), json.dumps(elements)))
        elif "chain" in obj:
            c = obj["chain"]
            chains.append((str(c.get("name")), str(c.get("type")), str(c.get("hook")),
                           int(c.get("prio", 0)), str(c.get("policy"))))  # fmt: skip
        elif "rule" in obj:
            r = obj["rule"]
            rules.append((str(r.get("chain")), _dump(r.get("expr")), str(r.get("comment", ""))))
    return GuardContents(tuple(sorted(sets)), tuple(sorted(chains)),
                         tuple(sorted(rules, key=lambda r: r[0])))  # fmt: skip


def wanted_contents(bridge: str, w: Wanted) -> GuardContents:
    return contents(table_objects(bridge, w))
