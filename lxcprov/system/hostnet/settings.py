"""Saved network settings, one TOML file for every managed bridge.

``$LXCPROV_CONFIG_DIR/net.toml`` (default /etc/lxcprov/net.toml)::

    default = "lxcbr0"

    [bridges.lxcbr0]
    address = "10.0.3.1/24"
    dhcp = true
    nat = true
    uplink = "eth0"        # absent: the interface of the default route, found at setup

Runtime state (dnsmasq pid and leases, the static address book) lives per bridge
under ``$LXCPROV_STATE_DIR/net/<bridge>/`` (default /var/lib/lxcprov).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import secrets
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import InvalidNetSettingError, StateFileError
from lxcprov.system import statefile

DEFAULT_BRIDGE = "lxcbr0"
DEFAULT_ADDRESS = ipaddress.IPv4Interface("10.0.3.1/24")

_BRIDGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")
# Smallest subnet that still leaves room for a static part and a DHCP part.
MAX_PREFIX = 29
MIN_PREFIX = 8


def config_dir() -> Path:
    return Path(os.environ.get("LXCPROV_CONFIG_DIR") or "/etc/lxcprov")


def state_dir() -> Path:
    return Path(os.environ.get("LXCPROV_STATE_DIR") or "/var/lib/lxcprov")


def settings_file() -> Path:
    return config_dir() / "net.toml"


def bridge_state_dir(bridge: str) -> Path:
    return state_dir() / "net" / check_bridge_name(bridge)


def check_bridge_name(name: str) -> str:
    if not _BRIDGE_RE.match(name) or name in {".", ".."}:
        raise InvalidNetSettingError(
            f"invalid bridge name {name!r}",
            hint="1 to 15 characters: letters, digits, '_', '.', '-'",
        )
    return name


def check_address(value: str | ipaddress.IPv4Interface) -> ipaddress.IPv4Interface:
    """Parse ADDRESS/PREFIX; the address must be a usable host address of its subnet."""
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError as exc:
        raise InvalidNetSettingError(
            f"invalid IPv4 address {value!s}: {exc}",
            hint="write it as ADDRESS/PREFIX, e.g. 10.0.3.1/24",
        ) from None
    net = iface.network
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
        raise InvalidNetSettingError(
            f"prefix /{net.prefixlen} is not supported",
            hint=f"use a prefix between /{MIN_PREFIX} and /{MAX_PREFIX}, e.g. /24",
        )
    if iface.ip in (net.network_address, net.broadcast_address):
        raise InvalidNetSettingError(
            f"{iface.ip} is the network or broadcast address of {net}",
            hint=f"use a host address, e.g. {net.network_address + 1}/{net.prefixlen}",
        )
    return iface


def random_ula() -> ipaddress.IPv6Interface:
    """A unique local /64 (RFC 4193: fd, a random 40-bit global ID, subnet 0), host ::1."""
    global_id = secrets.token_bytes(5)
    host = ipaddress.IPv6Address(bytes([0xFD]) + global_id + bytes(9) + bytes([1]))
    return ipaddress.IPv6Interface(f"{host}/64")


def check_ipv6(value: str | ipaddress.IPv6Interface) -> ipaddress.IPv6Interface:
    """A /64 for the bridge (ADDRESS/64, the bridge's own address in it), or "auto"."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return random_ula()
    try:
        iface = ipaddress.IPv6Interface(value)
    except ValueError as exc:
        raise InvalidNetSettingError(
            f"invalid IPv6 address {value!s}: {exc}",
            hint="write it as ADDRESS/64, e.g. fd42:1:2::1/64, or say auto (a random ULA)",
        ) from None
    if iface.network.prefixlen != 64:
        raise InvalidNetSettingError(
            f"{iface} is not a /64", hint="SLAAC needs a /64: e.g. fd42:1:2::1/64"
        )
    if iface.ip.is_link_local or iface.ip.is_multicast or iface.ip == iface.network.network_address:
        raise InvalidNetSettingError(
            f"{iface.ip} cannot be the bridge's address", hint="e.g. PREFIX::1/64"
        )
    return iface


@dataclass(frozen=True)
class NetSettings:
    bridge: str
    ipv4: ipaddress.IPv4Interface
    dhcp: bool = True
    nat: bool = True
    uplink: str | None = None  # None: the interface of the default route
    ipv6: ipaddress.IPv6Interface | None = None  # the bridge's /64 (SLAAC, DHCPv6, DNS)
    nat6: bool = False  # masquerade the IPv6 prefix out of the uplink


@dataclass(frozen=True)
class NetConfig:
    """Everything in net.toml."""

    default: str | None
    bridges: dict[str, NetSettings]


def _parse(text: str, source: Path) -> NetConfig:
    """net.toml, strictly: every bridge table with the types lxcprov writes.

    A file that does not say what lxcprov wrote stops the command (one line naming the
    key): an empty or mistyped file read as "nothing managed" would make `net setup`
    re-address a bridge and turn NAT on, and the next save would lose the rest.
    """
    hint = f"fix or remove {source}, then run: lxcprov net setup"
    if not text.strip():
        raise InvalidNetSettingError(
            f"{source} is empty", hint=f"remove it if no bridge is managed; else {hint}"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidNetSettingError(f"{source}: {exc}", hint=hint) from None
    _only(data, {"default", "bridges"}, source, "")
    raw_bridges = data.get("bridges", {})
    if not isinstance(raw_bridges, dict):
        raise InvalidNetSettingError(f"{source}: [bridges] must be a table", hint=hint)
    bridges: dict[str, NetSettings] = {}
    for name, raw in raw_bridges.items():
        if not isinstance(raw, dict):
            raise InvalidNetSettingError(f"{source}: bridges.{name} must be a table", hint=hint)
        where = f"bridges.{name}"
        _only(raw, {"address", "dhcp", "nat", "uplink", "ipv6", "nat6"}, source, where)
        address, dhcp = raw.get("address"), raw.get("dhcp", True)
        nat, uplink = raw.get("nat", True), raw.get("uplink")
        ipv6, nat6 = raw.get("ipv6"), raw.get("nat6", False)
        if ipv6 is not None and not isinstance(ipv6, str):
            raise InvalidNetSettingError(f"{source}: {where}.ipv6 must be a string", hint=hint)
        if not isinstance(nat6, bool):
            raise InvalidNetSettingError(
                f"{source}: {where}.nat6 must be true or false, not {nat6!r}", hint=hint
            )
        if not isinstance(address, str):
            raise InvalidNetSettingError(f"{source}: {where}.address must be a string", hint=hint)
        for key, value in (("dhcp", dhcp), ("nat", nat)):
            if not isinstance(value, bool):
                raise InvalidNetSettingError(
                    f"{source}: {where}.{key} must be true or false, not {value!r}", hint=hint
                )
        if uplink is not None and not isinstance(uplink, str):
            raise InvalidNetSettingError(f"{source}: {where}.uplink must be a string", hint=hint)
        bridges[name] = NetSettings(
            bridge=check_bridge_name(name),
            ipv4=check_address(address),
            dhcp=bool(dhcp),
            nat=bool(nat),
            uplink=uplink or None,
            ipv6=check_ipv6(ipv6) if ipv6 else None,
            nat6=nat6,
        )
    default = data.get("default")
    if default is not None and default not in bridges:
        raise InvalidNetSettingError(
            f"{source}: default = {default!r} names no bridge of the file", hint=hint
        )
    return NetConfig(default=default, bridges=bridges)


def _only(data: dict[str, object], known: set[str], source: Path, where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        place = f" in {where}" if where else ""
        raise InvalidNetSettingError(
            f"{source}: unknown key {unknown[0]!r}{place} (known: {', '.join(sorted(known))})",
            hint=f"fix or remove {source}",
        )


def _q(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value)


def render(config: NetConfig) -> str:
    lines = ["# Managed by lxcprov (lxcprov net setup / teardown).", ""]
    if config.default:
        lines += [f"default = {_q(config.default)}", ""]
    for name in sorted(config.bridges):
        s = config.bridges[name]
        lines.append(f"[bridges.{_q(name)}]")
        lines.append(f"address = {_q(str(s.ipv4))}")
        lines.append(f"dhcp = {'true' if s.dhcp else 'false'}")
        lines.append(f"nat = {'true' if s.nat else 'false'}")
        if s.uplink:
            lines.append(f"uplink = {_q(s.uplink)}")
        if s.ipv6 is not None:
            lines.append(f"ipv6 = {_q(str(s.ipv6))}")
            lines.append(f"nat6 = {'true' if s.nat6 else 'false'}")
        lines.append("")
    return "\n".join(lines)


def load_config() -> NetConfig:
    path = settings_file()
    try:
        text = statefile.read_text(path)
    except StateFileError as exc:
        raise InvalidNetSettingError(exc.message, hint=exc.hint) from None
    if text is None:
        return NetConfig(default=None, bridges={})
    return _parse(text, path)


def load(bridge: str | None = None) -> NetSettings | None:
    config = load_config()
    name = bridge if bridge is not None else config.default
    if name is None:
        return None
    return config.bridges.get(name)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".net.toml.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(config: NetConfig) -> None:
    statefile.write_text(settings_file(), render(config), mode=0o644)


def save(settings: NetSettings, make_default: bool = False) -> None:
    with _locked():
        config = load_config()
        bridges = dict(config.bridges)
        bridges[settings.bridge] = settings
        default = config.default
        if make_default or default is None:
            default = settings.bridge
        _write(NetConfig(default=default, bridges=bridges))


def forget(bridge: str) -> None:
    with _locked():
        config = load_config()
        if bridge not in config.bridges:
            return
        bridges = {k: v for k, v in config.bridges.items() if k != bridge}
        # No other bridge silently becomes the default: `teardown` twice must not remove
        # a second bridge. The next bridge set up becomes the default.
        default = None if config.default == bridge else config.default
        _write(NetConfig(default=default, bridges=bridges))
