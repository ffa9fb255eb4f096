"""Make a container's network decision true on the host.

lxcprov.engine.network decides (pure); this module observes the bridge it needs, restores
a configured bridge that vanished (after a reboot), and claims or gives back static
addresses in the bridge's address book. `new`, `set`, `start --all` and doctor use it.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable
from pathlib import Path

from lxcprov.engine import network
from lxcprov.engine.network import Current, Decision, Request
from lxcprov.errors import AddressPoolError, LxcprovError, MacInUseError
from lxcprov.ops.progress import Progress
from lxcprov.system import hostnet, lxc, lxcconf, netintent
from lxcprov.system.netintent import NetIntent


def observe_bridge(name: str) -> network.Bridge:
    """What the decision needs to know about bridge name, read from the kernel and net.toml."""
    link = hostnet.link(name)
    saved = hostnet.load_settings(name)
    if link is None:
        return network.Bridge(name, exists=False, managed=saved)
    dns = saved is not None and hostnet.serves_dns(name)
    dnsmasq = saved is None or dns or hostnet.dnsmasq_runs(name)
    # The kernel's addresses are the gateway only on a bridge lxcprov does not manage (a
    # managed one's is in net.toml): only then is netlink asked (its import is 0.15 s).
    addresses: tuple[ipaddress.IPv4Interface, ...] = ()
    if saved is None and link.is_bridge:
        state = hostnet.bridge_state(name)
        addresses = state.ipv4 if state is not None else ()
    return network.Bridge(name, True, link.is_bridge, addresses, saved, dns, dnsmasq)


def host_nameserver() -> str:
    """The host's first non-loopback nameserver, for a static container on a foreign bridge."""
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] == "nameserver" and not words[1].startswith("127."):
            return words[1]
    return ""


def current_of(container: lxc.Container) -> Current:
    """The container's network now: its recorded intent and its veth's name and MAC."""
    config = container.config()
    intent = netintent.load(container.lxcpath / container.name, config)
    if config.get("lxc.net.0.type") != "veth":
        # An `empty` network reports name "lo": never take anything over from one.
        return Current(intent, exists=True)
    name, mac = config.get("lxc.net.0.name") or None, config.get("lxc.net.0.hwaddr")
    return Current(intent, name, mac, exists=True)


def _decide(
    name: str, lxcpath: Path, request: Request, current: Current
) -> tuple[Decision, network.Bridge | None]:
    target = network.target_bridge(request, current, hostnet.default_bridge())
    bridge = observe_bridge(target) if target else None
    decision = network.decide(
        request,
        current,
        bridge,
        owner=network.owner_of(name, str(lxcpath)),
        new_mac=network.random_mac(),
        host_dns=host_nameserver(),
    )
    return decision, bridge


def preview(name: str, lxcpath: Path, request: Request, current: Current) -> Decision:
    """The decision without touching the host (for --dry-run): no restore, no claim."""
    return _decide(name, lxcpath, request, current)[0]


def prepare(
    name: str,
    lxcpath: Path,
    request: Request,
    current: Current,
    progress: Progress | None = None,
    on_claim: Callable[[str, str], None] = lambda _bridge, _owner: None,
) -> Decision:
    """Decide, restore a vanished configured bridge, and claim a static address.

    on_claim(bridge, owner) is called before the claim is made (a journal records it, so a
    killed command's address is given back). The caller owns the claim from here on.
    """
    decision, seen = _decide(name, lxcpath, request, current)
    if decision.restore_bridge:
        _restore(decision, seen is not None and seen.exists, progress)
        decision, _ = _decide(name, lxcpath, request, current)  # its dnsmasq runs now
    claim = decision.claim
    # The claim's book change is published with the registration that follows, when
    # there is one on the same bridge: one guard rewrite and one dnsmasq reload, not two.
    later = claim is not None and _registers(decision) and decision.intent.bridge == claim.bridge
    if claim is not None:
        on_claim(claim.bridge, claim.owner)
        if claim.address is None:
            address = hostnet.allocate_address(claim.bridge, claim.owner, publish=not later)
        else:
            address = hostnet.reserve_address(
                claim.bridge, claim.owner, claim.address, publish=not later
            )
        decision = decision.with_address(address)
    _register(name, lxcpath, decision, publish=later)
    return decision


def _restore(decision: Decision, exists: bool, progress: Progress | None) -> None:
    """`net setup` of a configured bridge that vanished, or whose dnsmasq is not running.
    A dnsmasq that will not start stops a DHCP container (it would wait for a lease that
    never comes), not a static one: that one boots with its address and the host's
    nameserver, and is told."""
    restored = decision.restore_bridge
    if exists:
        why = f"{restored}'s dnsmasq is not running: starting it"
    else:
        why = f"bridge {restored} is configured but absent: restoring it"
    if progress is not None:
        progress.phase(f"{why} (lxcprov net setup)")
    try:
        hostnet.setup(restored)
    except LxcprovError as exc:
        if not exists or decision.intent.mode != "static":
            raise
        if progress is not None:
            progress.phase(f"warning: {exc.message}; the static address stays, DNS is the host's")


def _registers(decision: Decision) -> bool:
    """Whether _register records anything for decision (a MAC on a managed bridge)."""
    bridge, mac = decision.intent.bridge, decision.keys.get("lxc.net.0.hwaddr")
    if decision.intent.mode == "none" or not bridge or not mac:
        return False
    return hostnet.load_settings(bridge) is not None


def _register(name: str, lxcpath: Path, decision: Decision, *, publish: bool = False) -> None:
    """The bridge's books learn the container's MAC (its name by DHCP, its IPv6 name), its
    port (the guard holds it to them) and, for DHCP, a reservation: the address the guard
    lets it send from. Removal forgets it by owner on every bridge.

    A running container keeps the port it started with until its next start: its port
    is recorded then (guard_at_start), so its traffic is never held to a port it has not."""
    bridge, mac = decision.intent.bridge, decision.keys.get("lxc.net.0.hwaddr")
    saved = hostnet.load_settings(bridge) if bridge else None
    if decision.intent.mode == "none" or saved is None or not mac:
        return
    port = decision.keys.get("lxc.net.0.veth.pair")
    if port is not None and running_port(lxc.Container(name, lxcpath)) not in (None, port):
        port = None
    owner = network.owner_of(name, str(lxcpath))
    dhcp = decision.intent.mode == "dhcp"
    if hostnet.register(bridge, owner, mac, port, reserve=dhcp, publish=publish) is None and dhcp:
        sp = hostnet.split(saved.ipv4)
        raise AddressPoolError(
            f"no free address left in the DHCP range {sp.dhcp_first}-{sp.dhcp_last} of "
            f"{bridge} for {name}'s reservation (every DHCP container keeps one)",
            hint="give this one a static address (--ip auto: a destroyed container's is free at "
            "once), destroy containers no longer needed (their DHCP address is free again "
            "when its lease ends, within the hour), or set the bridge up on a larger subnet",
        )


def running_port(container: lxc.Container) -> str | None:
    """The host-side name of a running container's veth (None: not running, or no veth)."""
    with contextlib.suppress(LxcprovError, KeyError, ValueError, SystemError):
        handle = container.handle
        if handle.running:
            value = handle.get_running_config_item("lxc.net.0.veth.pair")
            if isinstance(value, str) and value:
                return value
    return None


def guard_at_start(container: lxc.Container) -> list[str]:
    """Before lxcprov starts a container on a bridge it manages: its config names its
    port (lxc.net.0.veth.pair) and its bridge's books hold its MAC, port and address, so
    the guard holds it to them from its first frame. A container made before lxcprov
    guarded bridges, or by plain lxc-create, is brought in here. Never stops a start:
    what cannot be done is said (the container is then held to its MAC only)."""
    current = current_of(container)
    intent = current.intent
    settings = hostnet.load_settings(intent.bridge) if intent.bridge else None
    if intent.mode == "none" or settings is None or not current.mac:
        return []
    owner = network.owner_of(container.name, str(container.lxcpath))
    port = network.port_name(owner)
    if container.config_item("lxc.net.0.veth.pair") != port:
        text = lxcconf.read(container.config_path)
        lxcconf.write(container.config_path,
                      lxcconf.update(text, {"lxc.net.0.veth.pair": port}))  # fmt: skip
    notes = []
    if intent.mode == "static" and owner not in hostnet.address_book(intent.bridge):
        try:
            hostnet.reserve_address(intent.bridge, owner, intent.address)
        except AddressPoolError as exc:
            notes.append(f"{container.name}'s address is not held for it: {exc.message}")
    dhcp = intent.mode == "dhcp"
    try:
        held = hostnet.register(intent.bridge, owner, current.mac, port, reserve=dhcp)
    except MacInUseError as exc:
        # Its frames are another's MAC's: the guard drops them at its port (and the other's
        # port keeps the MAC). Said, not stopped: a start never fails on the guard.
        notes.append(f"{container.name} is not guarded and has no network on "
                     f"{intent.bridge}: {exc.message} ({exc.hint})")  # fmt: skip
        return notes
    if held is None and dhcp:
        notes.append(
            f"no free address in the DHCP range of {intent.bridge} to reserve for "
            f"{container.name}: it is held to its MAC, not to an address"
        )
    return notes


def unclaim(claimed: NetIntent, before: NetIntent) -> None:
    """Undo a claim this command made: the address book holds what it held before.

    An owner has one entry per bridge, so a claim on the bridge of an old static address
    replaced it: that one is put back, never simply released.
    """
    if before.mode == "static" and before.bridge == claimed.bridge and before.owner:
        hostnet.reserve_address(before.bridge, before.owner, before.address)
    else:
        release(claimed)


def release(intent: NetIntent) -> None:
    """Give a static address back to its bridge's address book."""
    if intent.mode == "static" and intent.owner and hostnet.load_settings(intent.bridge):
        hostnet.release_address(intent.bridge, intent.owner)
