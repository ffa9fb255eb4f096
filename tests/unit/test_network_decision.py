"""The network decision, one row per mode and per switch between modes (no host touched)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from lxcprov.engine import network
from lxcprov.engine.network import Bridge, Claim, Current, Request, decide
from lxcprov.errors import InvalidArgumentError, LxcprovError, NetworkError
from lxcprov.system.hostnet.names import port_name
from lxcprov.system.hostnet.settings import NetSettings
from lxcprov.system.netintent import NetIntent

OWNER = "c1@/var/lib/lxc"
MAC = "00:16:3e:aa:bb:cc"
OLD_MAC = "00:16:3e:11:22:33"
GW = ipaddress.IPv4Interface("10.9.0.1/24")

MANAGED = Bridge("br9", True, True, (GW,), NetSettings("br9", GW), dns=True)
MANAGED_NO_DHCP = Bridge("br9", True, True, (GW,), NetSettings("br9", GW, dhcp=False), dns=True)
MANAGED_NO_DNS = Bridge("br9", True, True, (GW,), NetSettings("br9", GW), dns=False)
VANISHED = Bridge("br9", exists=False, managed=NetSettings("br9", GW))
DNSMASQ_DEAD = Bridge("br9", True, True, (GW,), NetSettings("br9", GW), dnsmasq=False)
DNSMASQ_DEAD_NO_DHCP = Bridge(
    "br9", True, True, (GW,), NetSettings("br9", GW, dhcp=False), dnsmasq=False
)
FOREIGN = Bridge("br7", True, True, (ipaddress.IPv4Interface("10.7.0.1/24"),))
FOREIGN_BARE = Bridge("br7", True, True, ())
MISSING = Bridge("br7", exists=False)
NOT_A_BRIDGE = Bridge("eth9", True, is_bridge=False)
OTHER_MANAGED = Bridge(
    "br8",
    True,
    True,
    (ipaddress.IPv4Interface("10.8.0.1/24"),),
    NetSettings("br8", ipaddress.IPv4Interface("10.8.0.1/24")),
    dns=True,
)

NEW = Current()
DHCP_NOW = Current(NetIntent("dhcp", "br9", owner=OWNER), "eth0", OLD_MAC, exists=True)
STATIC_NOW = Current(
    NetIntent("static", "br9", "10.9.0.5/24", "10.9.0.1", "10.9.0.1", OWNER),
    "eth0",
    OLD_MAC,
    exists=True,
)
NONE_NOW = Current(NetIntent(), exists=True)
PLAIN_LXC = Current(NetIntent("dhcp", "br9"), "eth0", OLD_MAC, exists=True)  # by lxc-create


@dataclass
class Row:
    name: str
    request: Request
    current: Current
    bridge: Bridge | None
    mode: str = ""
    address: str = ""
    claim: Claim | None = None
    restore: str = ""
    release: bool = False
    changed: bool = True
    keys: dict[str, str | None] = field(default_factory=dict)
    dns: str = ""


ROWS = [
    # new, every mode
    Row("new none", Request("none"), NEW, None, "none", changed=False,
        keys={"lxc.net.0.type": "empty"}),
    Row("new dhcp managed", Request(), NEW, MANAGED, "dhcp",
        keys={"lxc.net.0.type": "veth", "lxc.net.0.link": "br9", "lxc.net.0.hwaddr": MAC}),
    Row("new dhcp foreign bridge", Request("br7"), NEW, FOREIGN, "dhcp"),
    Row("new auto", Request(address="auto"), NEW, MANAGED, "static", "",
        Claim("br9", OWNER, None), dns="10.9.0.1"),
    Row("new auto without dhcp", Request(address="auto"), NEW, MANAGED_NO_DHCP, "static", "",
        Claim("br9", OWNER, None)),
    Row("new static managed", Request(address="10.9.0.7"), NEW, MANAGED, "static",
        "10.9.0.7/24", Claim("br9", OWNER, ipaddress.IPv4Interface("10.9.0.7/24")),
        dns="10.9.0.1"),
    Row("new static, dnsmasq without DNS", Request(address="10.9.0.7/24"), NEW, MANAGED_NO_DNS,
        "static", "10.9.0.7/24", Claim("br9", OWNER, ipaddress.IPv4Interface("10.9.0.7/24")),
        dns="192.0.2.53"),
    Row("new static foreign (no claim)", Request("br7", "10.7.0.9"), NEW, FOREIGN, "static",
        "10.7.0.9/24", None, dns="192.0.2.53"),
    Row("new vanished bridge is restored", Request(), NEW, VANISHED, "dhcp", restore="br9"),
    Row("new on a bridge whose dnsmasq died restarts it", Request(), NEW, DNSMASQ_DEAD, "dhcp",
        restore="br9"),
    Row("auto on it too (its names are dnsmasq's)", Request(address="auto"), NEW, DNSMASQ_DEAD,
        "static", "", Claim("br9", OWNER, None), restore="br9"),
    Row("no DHCP and no IPv6: no dnsmasq to miss", Request(address="auto"), NEW,
        DNSMASQ_DEAD_NO_DHCP, "static", "", Claim("br9", OWNER, None)),
    # set: switching between modes
    Row("dhcp -> auto", Request(address="auto"), DHCP_NOW, MANAGED, "static", "",
        Claim("br9", OWNER, None), keys={"lxc.net.0.hwaddr": OLD_MAC}),
    Row("static -> dhcp releases", Request(address="dhcp"), STATIC_NOW, MANAGED, "dhcp",
        release=True),
    Row("static -> none releases", Request("none"), STATIC_NOW, None, "none", release=True,
        keys={"lxc.net.0.type": "empty", "lxc.net.0.link": None, "lxc.net.0.hwaddr": None}),
    Row("address=none means no network", Request(address="none"), DHCP_NOW, None, "none"),
    Row("keep none (start --all)", Request(), NONE_NOW, None, "none", changed=False),
    Row("none -> dhcp gets a new MAC", Request("br9"), NONE_NOW, MANAGED, "dhcp",
        keys={"lxc.net.0.hwaddr": MAC, "lxc.net.0.name": "eth0"}),
    Row("static -> other static on same bridge", Request(address="10.9.0.6"), STATIC_NOW,
        MANAGED, "static", "10.9.0.6/24",
        Claim("br9", OWNER, ipaddress.IPv4Interface("10.9.0.6/24")), dns="10.9.0.1"),
    Row("same static: nothing to do", Request(address="10.9.0.5/24"), STATIC_NOW, MANAGED,
        "static", "10.9.0.5/24", changed=False, keys={}),
    Row("keep (start --all) static", Request(), STATIC_NOW, MANAGED, "static", "10.9.0.5/24",
        changed=False, keys={}),
    Row("keep (start --all) dhcp", Request(), DHCP_NOW, MANAGED, "dhcp", changed=False),
    Row("keep static on a vanished bridge restores it", Request(), STATIC_NOW, VANISHED,
        "static", "10.9.0.5/24", changed=False, restore="br9", keys={}),
    Row("static moves bridge with auto", Request("br8", "auto"), STATIC_NOW, OTHER_MANAGED,
        "static", "", Claim("br8", OWNER, None), release=True, dns="10.8.0.1"),
    Row("dhcp moves bridge", Request("br8"), DHCP_NOW, OTHER_MANAGED, "dhcp",
        keys={"lxc.net.0.link": "br8", "lxc.net.0.hwaddr": OLD_MAC}),
    Row("plain lxc-create container gets an owner", Request(), PLAIN_LXC, MANAGED, "dhcp"),
    Row("an LXC-level address is dropped", Request(address="dhcp"), DHCP_NOW, MANAGED, "dhcp",
        changed=False, keys={"lxc.net.0.ipv4.address": None, "lxc.net.0.ipv4.gateway": None}),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_decision(row: Row) -> None:
    d = decide(
        row.request, row.current, row.bridge, owner=OWNER, new_mac=MAC, host_dns="192.0.2.53"
    )
    assert d.intent.mode == row.mode
    if row.mode == "static":
        assert d.intent.address == row.address
        assert d.intent.dns == row.dns or not row.dns
    assert d.claim == row.claim
    assert d.restore_bridge == row.restore
    assert (d.release is not None) == row.release
    if row.release:
        assert d.release == row.current.intent
    assert d.changed == row.changed
    for key, value in row.keys.items():
        assert d.keys.get(key, "absent") == value, key
    if row.mode in ("dhcp", "static") and d.keys:
        assert d.keys["lxc.net.0.type"] == "veth"
        assert d.keys["lxc.net.0.link"] == row.bridge.name if row.bridge else True
        # The host side of its veth has a name fixed per container: the bridge's guard
        # holds that port to the container's MAC and addresses.
        assert d.keys["lxc.net.0.veth.pair"] == port_name(OWNER)
    if row.mode == "none" and "lxc.net.0.link" in d.keys:
        assert d.keys["lxc.net.0.veth.pair"] is None


def test_claimed_address_fills_the_intent() -> None:
    d = decide(Request(address="auto"), NEW, MANAGED, owner=OWNER, new_mac=MAC)
    done = d.with_address(ipaddress.IPv4Interface("10.9.0.2/24"))
    assert done.intent.address == "10.9.0.2/24" and done.display == "10.9.0.2/24"
    assert done.intent.gateway == "10.9.0.1" and done.intent.owner == OWNER


ERRORS: list[tuple[str, Request, Current, Bridge | None, type[LxcprovError], str]] = [
    ("address without network", Request("none", "10.9.0.4"), NEW, None,
     InvalidArgumentError, "needs a network"),
    ("dhcp on a bridge without DHCP", Request(), NEW, MANAGED_NO_DHCP,
     NetworkError, "has no DHCP server"),
    ("missing foreign bridge", Request("br7"), NEW, MISSING, NetworkError, "does not exist"),
    ("not a bridge", Request("eth9"), NEW, NOT_A_BRIDGE, NetworkError, "is not a bridge"),
    ("auto on a foreign bridge", Request("br7", "auto"), NEW, FOREIGN,
     NetworkError, "needs a bridge managed by lxcprov"),
    ("static on a bridge without address", Request("br7", "10.7.0.9/24"), NEW, FOREIGN_BARE,
     NetworkError, "no IPv4 address to use as the gateway"),
    ("bare address on a bridge without address", Request("br7", "10.7.0.9"), NEW,
     FOREIGN_BARE, NetworkError, "gateway"),
    ("garbage address", Request(address="ten.nine"), NEW, MANAGED,
     InvalidArgumentError, "is not an IPv4 address"),
    ("empty address", Request(address=" "), DHCP_NOW, MANAGED,
     InvalidArgumentError, "empty"),
    ("static moves bridge without an address", Request("br8"), STATIC_NOW, OTHER_MANAGED,
     InvalidArgumentError, "has the static address 10.9.0.5/24 on br9"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "request_", "current", "bridge", "error", "text"), ERRORS,
                         ids=[e[0] for e in ERRORS])  # fmt: skip
def test_refused(
    name: str,
    request_: Request,
    current: Current,
    bridge: Bridge | None,
    error: type[LxcprovError],
    text: str,
) -> None:
    with pytest.raises(error) as exc:
        decide(request_, current, bridge, owner=OWNER, new_mac=MAC)
    assert text in exc.value.message
    assert exc.value.hint, "every refusal says what to do"


# --- an archive's network (review 22, finding 9): a wish, said back line by line ---

ARCHIVE_MAC = "02:00:00:00:00:01"


def test_an_archive_names_an_unmanaged_bridge_and_a_foreign_address() -> None:
    """The reviewer's archive: bridge r22bx (not managed here), 198.51.100.1/24. The
    container goes to the default bridge with an address of its own, and says why."""
    asked = NetIntent("static", "r22bx", "198.51.100.1/24", "198.51.100.254")
    wish = network.from_archive(asked, ARCHIVE_MAC, keep=True, managed={"br9"},
                                default_bridge="br9")  # fmt: skip
    assert wish.request == Request(bridge=None, address="auto")
    assert wish.why_bridge == "not a bridge lxcprov manages here"
    assert "r22bx" in wish.why_address and "br9" in wish.why_address
    assert wish.mac == ARCHIVE_MAC  # a unicast MAC is kept (registration refuses a taken one)
    got = NetIntent("static", "br9", "10.9.0.2/24", "10.9.0.1")
    lines = network.archive_lines(asked, ARCHIVE_MAC, got, ARCHIVE_MAC, wish)
    assert lines == [
        "bridge: br9 (the archive asked for r22bx: not a bridge lxcprov manages here)",
        "address: 10.9.0.2/24 (the archive asked for 198.51.100.1/24: it belongs to r22bx, "
        "not br9)",
        f"MAC: {ARCHIVE_MAC}, as the archive asked",
    ]
    # No managed default bridge either: DHCP, never the archive's address.
    none = network.from_archive(asked, ARCHIVE_MAC, keep=True, managed=(), default_bridge=None)
    assert none.request == Request(bridge=None, address="dhcp")


def test_an_archive_on_a_managed_bridge_keeps_what_it_asked() -> None:
    asked = NetIntent("static", "br9", "10.9.0.7/24", "10.9.0.1")
    wish = network.from_archive(asked, ARCHIVE_MAC, keep=True, managed={"br9"},
                                default_bridge="br8")  # fmt: skip
    # The address is asked for on its own bridge: reserve_address still refuses one
    # outside its subnet, in the DHCP range or taken.
    assert wish.request == Request(bridge="br9", address="10.9.0.7/24")
    assert (wish.mac, wish.why_bridge, wish.why_address, wish.why_mac) == (ARCHIVE_MAC, "", "", "")
    lines = network.archive_lines(asked, ARCHIVE_MAC, asked, ARCHIVE_MAC, wish)
    assert all(line.endswith("as the archive asked") for line in lines), lines
    # Another prefix than the bridge's: the address is kept, the prefix is said (the
    # review of these fixes: "10.9.0.7/24, as the archive asked" for a /16).
    wide = NetIntent("static", "br9", "10.9.0.7/16", "10.9.0.1")
    lines = network.archive_lines(wide, ARCHIVE_MAC, asked, ARCHIVE_MAC, wish)
    assert lines[1] == (
        "address: 10.9.0.7/24 (the archive asked for 10.9.0.7/16: the prefix is br9's, /24)"
    ), lines
    dhcp = network.from_archive(NetIntent("dhcp", "br9"), ARCHIVE_MAC, keep=True,
                                managed={"br9"}, default_bridge=None)  # fmt: skip
    assert dhcp.request == Request(bridge="br9", address="dhcp")
    assert network.from_archive(NetIntent("none"), ARCHIVE_MAC, keep=True, managed=(),
                                default_bridge=None).request == Request(bridge="none")  # fmt: skip


def test_new_identity_and_unusable_macs_get_new_ones() -> None:
    asked = NetIntent("static", "br9", "10.9.0.7/24", "10.9.0.1")
    fresh = network.from_archive(asked, ARCHIVE_MAC, keep=False, managed={"br9"},
                                 default_bridge=None)  # fmt: skip
    assert fresh.request == Request(bridge="br9", address="auto") and fresh.mac is None
    assert fresh.why_address == fresh.why_mac == "--new-identity"
    for bad in ("01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"):
        wish = network.from_archive(asked, bad, keep=True, managed={"br9"}, default_bridge=None)
        assert wish.mac is None and wish.why_mac == "not a unicast MAC", bad
