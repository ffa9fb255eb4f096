"""The network of a container, decided in one place.

`new --network/--bridge/--ip`, `set bridge=/address=`, `start --all` and doctor all ask
`decide()`: what the user asked for (a Request), what the container has now (Current)
and what the bridge is (Bridge, observed by the caller) in; out comes a Decision: the
intent recorded next to the container, the `lxc.net.0.*` keys, and what the caller must
do on the host to make it true (restore a configured bridge that vanished, claim or give
back a static address in the bridge's address book). Nothing here touches the host, so
every mode and every switch between modes is a row in a unit test.

The modes: none (loopback only: its own namespace, `lxc.net.0.type = empty`), DHCP from
the bridge's dnsmasq, or a static address, either given or `auto` (the lowest free one of
the bridge's static range, under the address book's lock). A static address is written
into the container's own network configuration by the network recipes, never as an
LXC-level `lxc.net.0.ipv4.address`, which an init's DHCP client would remove.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from lxcprov.errors import InvalidArgumentError, NetworkError
from lxcprov.system.hostnet.names import port_name as port_name
from lxcprov.system.hostnet.settings import DEFAULT_BRIDGE, NetSettings
from lxcprov.system.netintent import NetIntent, parse_ip

# The lxc.net.0.* keys lxcprov manages; a switch to `none` removes all but the type.
_VETH_KEYS = ("link", "flags", "name", "hwaddr", "veth.pair", "ipv4.address", "ipv4.gateway")


@dataclass(frozen=True)
class Request:
    """What the user asked for; None keeps what the container has (DHCP for a new one).

    bridge: a bridge name or "none". address: "dhcp", "auto", "none" or ADDR[/PREFIX].
    """

    bridge: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Current:
    """The container's network now; Current() is a container being made."""

    intent: NetIntent = field(default_factory=NetIntent)
    # Its veth's name and MAC, kept across changes: DHCP leases follow the MAC.
    veth_name: str | None = None
    mac: str | None = None
    exists: bool = False  # an existing container keeps `none` when nothing is asked


@dataclass(frozen=True)
class Bridge:
    """What the decision needs to know about a bridge (observed by the caller)."""

    name: str
    exists: bool
    is_bridge: bool = True
    addresses: tuple[ipaddress.IPv4Interface, ...] = ()
    managed: NetSettings | None = None  # its saved `lxcprov net setup` settings
    dns: bool = False  # the managed dnsmasq answers DNS on the bridge address
    dnsmasq: bool = True  # the managed bridge's dnsmasq runs (False: it died or was killed)


@dataclass(frozen=True)
class Claim:
    """A static address to take in the bridge's address book (None: a free one)."""

    bridge: str
    owner: str
    address: ipaddress.IPv4Interface | None


@dataclass(frozen=True)
class Decision:
    intent: NetIntent
    keys: dict[str, str | None]  # lxc.net.0.* to write (None removes a key)
    display: str
    changed: bool = True
    restore_bridge: str = ""  # a configured bridge that is absent: `net setup` it first
    claim: Claim | None = None  # to take before the config is written
    release: NetIntent | None = None  # an old static address to give back once committed

    def with_address(self, address: ipaddress.IPv4Interface) -> Decision:
        """The decision once the claim gave an address."""
        intent = replace(self.intent, address=str(address))
        return replace(self, intent=intent, display=str(address))


def random_mac() -> str:
    # 00:16:3e is the prefix LXC's own templates use for containers.
    return "00:16:3e:" + ":".join(f"{b:02x}" for b in os.urandom(3))


def owner_of(name: str, lxcpath: str) -> str:
    """The name a bridge's address book knows a container by."""
    return f"{name}@{lxcpath}"


def target_bridge(request: Request, current: Current, default_bridge: str | None) -> str | None:
    """The bridge the decision is about (None: no network at all)."""
    if request.bridge == "none" or (request.bridge is None and request.address == "none"):
        return None
    if request == Request() and current.exists and current.intent.mode == "none":
        return None
    if request.bridge:
        return request.bridge
    if current.intent.bridge:
        return current.intent.bridge
    return default_bridge or DEFAULT_BRIDGE


def _none(request: Request, current: Current) -> Decision:
    if request.address not in (None, "none"):
        raise InvalidArgumentError(
            "an address needs a network", hint="drop the address, or name a bridge"
        )
    keys: dict[str, str | None] = {"lxc.net.0.type": "empty"}
    if current.intent.mode != "none" or current.veth_name:
        keys.update({f"lxc.net.0.{k}": None for k in _VETH_KEYS})
    old = current.intent
    release = old if old.mode == "static" else None
    return Decision(NetIntent(), keys, "none", changed=old.mode != "none", release=release)


def _usable(bridge: Bridge) -> str:
    """Check the bridge can take a container; returns the bridge to restore first (absent,
    or its dnsmasq not running), or ""."""
    if not bridge.exists and bridge.managed is not None:
        return bridge.name
    managed = bridge.managed
    if bridge.exists and managed and (managed.dhcp or managed.ipv6) and not bridge.dnsmasq:
        # Its DHCP server (or IPv6 advertisements) is gone: the container would wait the
        # whole boot timeout for an address. `net setup` starts it again, as it remakes a
        # vanished bridge.
        return bridge.name
    if not bridge.exists:
        flag = "" if bridge.name == DEFAULT_BRIDGE else f" --bridge {bridge.name}"
        raise NetworkError(
            f"bridge {bridge.name!r} does not exist, so the container could not start",
            hint=f"create it with: lxcprov net setup{flag}"
            " (or use --network none for a container without network)",
        )
    if not bridge.is_bridge:
        raise NetworkError(f"{bridge.name!r} is not a bridge", hint="name a bridge with --bridge")
    return ""


def _wanted_ip(request: Request, current: Current, bridge: str) -> str | None:
    """The static address asked for ("auto" or ADDR[/P]), or None for DHCP."""
    old = current.intent
    if request.address is None:
        if old.mode == "static" and bridge != old.bridge:
            raise InvalidArgumentError(
                f"the container has the static address {old.address} on {old.bridge}",
                hint="give the address on the new bridge too: address=auto, dhcp or ADDR",
            )
        return old.address if old.mode == "static" else None
    if request.address.strip() == "":
        raise InvalidArgumentError("the address is empty", hint="use dhcp, auto or ADDR/PREFIX")
    low = request.address.strip().lower()
    return None if low == "dhcp" else low if low == "auto" else request.address.strip()


def decide(
    request: Request,
    current: Current,
    bridge: Bridge | None,
    *,
    owner: str,
    new_mac: str,
    host_dns: str = "",
) -> Decision:
    """The network the container gets; raises a one-line error when it cannot work.

    bridge is the observed state of target_bridge(...) (None when that is None).
    """
    if bridge is None:
        return _none(request, current)
    old = current.intent
    restore = _usable(bridge)
    ip = _wanted_ip(request, current, bridge.name)
    if ip is not None and ip == old.address and old.mode == "static" and bridge.name == old.bridge:
        # The same static address on the same bridge: nothing to claim, nothing to write.
        return Decision(old, {}, old.address, changed=False, restore_bridge=restore)
    gateway = bridge.managed.ipv4 if bridge.managed else (bridge.addresses or (None,))[0]
    claim: Claim | None = None
    if ip is None:
        if bridge.managed is not None and not bridge.managed.dhcp:
            raise NetworkError(
                f"bridge {bridge.name!r} has no DHCP server: the container would wait for a lease",
                hint=f"give it an address with --ip auto (or --ip ADDR), or: "
                f"lxcprov net setup --bridge {bridge.name} --dhcp",
            )
        intent = NetIntent("dhcp", bridge.name, owner=owner)
        display = f"dhcp on {bridge.name}"
    else:
        if gateway is None:
            raise NetworkError(
                f"bridge {bridge.name!r} has no IPv4 address to use as the gateway",
                hint=f"set one up with: lxcprov net setup --bridge {bridge.name}",
            )
        address: ipaddress.IPv4Interface | None = None
        if ip == "auto":
            if bridge.managed is None:
                raise NetworkError(
                    f"--ip auto needs a bridge managed by lxcprov; {bridge.name!r} is not",
                    hint=f"lxcprov net setup --bridge {bridge.name}, or give --ip ADDR/PREFIX",
                )
        else:
            address = parse_ip(ip, gateway)
        if bridge.managed is not None:
            claim = Claim(bridge.name, owner, address)
        dns = str(gateway.ip) if bridge.managed is not None and bridge.dns else host_dns
        intent = NetIntent("static", bridge.name, str(address or ""), str(gateway.ip), dns, owner)
        display = str(address) if address else "auto"
    keys: dict[str, str | None] = {
        "lxc.net.0.type": "veth",
        "lxc.net.0.link": bridge.name,
        "lxc.net.0.flags": "up",
        "lxc.net.0.name": current.veth_name or "eth0",
        "lxc.net.0.hwaddr": current.mac or new_mac,
        # The host side of the veth gets a name fixed per container (not LXC's random one
        # per start): the bridge's guard holds that port to this MAC and its addresses.
        "lxc.net.0.veth.pair": port_name(owner),
        # An LXC-level address is undone by the init's DHCP client; ours lives in the rootfs.
        "lxc.net.0.ipv4.address": None,
        "lxc.net.0.ipv4.gateway": None,
    }
    moved = old.mode == "static" and (intent.mode != "static" or bridge.name != old.bridge)
    return Decision(
        intent,
        keys,
        display,
        changed=intent != old,
        restore_bridge=restore,
        claim=claim,
        release=old if moved else None,
    )


@dataclass(frozen=True)
class FromArchive:
    """What an archive's network becomes here: the request to decide with, the MAC to
    keep (None: a new one), and why each is not what the archive asked ("": it is)."""

    request: Request
    mac: str | None
    why_bridge: str = ""
    why_address: str = ""
    why_mac: str = ""


def unicast_mac(mac: str) -> bool:
    """A MAC an interface can have: not a group address, not all zeros."""
    octets = [int(b, 16) for b in mac.split(":")]
    return not octets[0] & 1 and any(octets)


def from_archive(
    asked: NetIntent,
    mac: str,
    *,
    keep: bool,
    managed: Collection[str],
    default_bridge: str | None,
) -> FromArchive:
    """An archive's network is a wish, not an order (anyone may have made it): its bridge
    only if lxcprov manages a bridge of that name here (else the default bridge, as `new`
    would pick), its static address only on that bridge and only if the address book lets
    it have it (reserve_address refuses one outside the subnet, in the DHCP range or
    taken), its MAC only if it is a unicast one and no other container's (register
    refuses that). keep False (--new-identity): a new address and a new MAC."""
    if asked.mode == "none":
        return FromArchive(Request(bridge="none"), None)
    bridge: str | None = asked.bridge
    why_bridge = why_address = why_mac = ""
    if asked.bridge not in managed:
        bridge, why_bridge = None, "not a bridge lxcprov manages here"
    target = bridge or default_bridge or DEFAULT_BRIDGE
    address = "dhcp"
    if asked.mode == "static":
        if not keep:
            address, why_address = "auto", "--new-identity"
        elif bridge is None:
            # An address of another network means nothing on this one.
            address = "auto" if target in managed else "dhcp"
            why_address = f"it belongs to {asked.bridge or 'another bridge'}, not {target}"
        else:
            address = asked.address
    kept = mac if keep and mac else None
    if mac and not keep:
        why_mac = "--new-identity"
    elif kept is not None and not unicast_mac(kept):
        kept, why_mac = None, "not a unicast MAC"
    return FromArchive(Request(bridge=bridge, address=address), kept, why_bridge, why_address,
                       why_mac)  # fmt: skip


def archive_lines(asked: NetIntent, mac: str, got: NetIntent, got_mac: str,
                  plan: FromArchive) -> list[str]:  # fmt: skip
    """One line each for the bridge, address and MAC: what the archive asked for, and
    what the container got (for the output of `import`)."""
    if asked.mode == "none":
        return ["network: none, as the archive asked"]

    def line(what: str, wanted: str, given: str, same: bool, why: str) -> str:
        if same:
            return f"{what}: {given}, as the archive asked"
        if not wanted:
            return f"{what}: {given} (the archive had none)"
        return f"{what}: {given} (the archive asked for {wanted}: {why or 'not kept'})"

    def address(intent: NetIntent) -> str:
        return intent.address if intent.mode == "static" else intent.mode.upper()

    same_address = asked.mode == got.mode and (
        asked.mode != "static" or asked.address == got.address
    )
    why_address = plan.why_address
    if not why_address and asked.mode == got.mode == "static":
        # The address kept, its prefix the bridge's: said, not passed off as asked.
        why_address = f"the prefix is {got.bridge}'s, /{got.address.partition('/')[2]}"
    return [
        line("bridge", asked.bridge, got.bridge, asked.bridge == got.bridge, plan.why_bridge),
        line("address", address(asked), address(got), same_address, why_address),
        line("MAC", mac, got_mac, mac == got_mac, plan.why_mac),
    ]
