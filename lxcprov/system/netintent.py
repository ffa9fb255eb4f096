"""What network a container should have, decided once and kept next to its LXC config.

`new` decides (none, DHCP or a static address on a bridge) and records it in
`<lxcpath>/<name>/lxcprov.toml`; the network recipes read it back as facts, so `fix`
re-applies the same decision. A container made by plain lxc-create has no such file:
its intent is read from its LXC config (a veth on a bridge means DHCP, as lxc-net does).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.errors import InvalidArgumentError, StateFileError
from lxcprov.system import statefile

Mode = Literal["none", "dhcp", "static"]
INTENT_FILE = "lxcprov.toml"


@dataclass(frozen=True)
class NetIntent:
    mode: Mode = "none"
    bridge: str = ""
    address: str = ""  # CIDR, for static
    gateway: str = ""
    dns: str = ""  # space-separated nameservers, for static
    owner: str = ""  # the name the bridge's address book knows this container by


def parse_ip(value: str, bridge_net: ipaddress.IPv4Interface | None) -> ipaddress.IPv4Interface:
    """ADDR/PREFIX, or a bare ADDR taking the bridge's prefix."""
    try:
        if "/" in value:
            return ipaddress.IPv4Interface(value)
        if bridge_net is None:
            raise InvalidArgumentError(
                f"--ip {value}: give a prefix (ADDR/PREFIX) on a bridge lxcprov does not manage"
            )
        return ipaddress.IPv4Interface(f"{value}/{bridge_net.network.prefixlen}")
    except ValueError:
        raise InvalidArgumentError(
            f"--ip {value!r} is not an IPv4 address",
            hint="for example --ip 10.0.3.10/24 or --ip auto",
        ) from None


def path_for(container_dir: Path) -> Path:
    return container_dir / INTENT_FILE


def save(container_dir: Path, intent: NetIntent) -> None:
    lines = ["# Written by lxcprov: the network this container was created with.", "[network]"]
    for key, value in vars(intent).items():
        lines.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML basic string
    statefile.write_text(path_for(container_dir), "\n".join(lines) + "\n")


def from_config(config: dict[str, str]) -> NetIntent:
    """The intent a container made without lxcprov implies."""
    kind = config.get("lxc.net.0.type", "")
    if kind != "veth":
        return NetIntent()
    address = config.get("lxc.net.0.ipv4.address", "")
    if address:
        gateway = config.get("lxc.net.0.ipv4.gateway", "")
        return NetIntent("static", config.get("lxc.net.0.link", ""), address, gateway, gateway)
    return NetIntent("dhcp", config.get("lxc.net.0.link", ""))


def load_or_none(container_dir: Path) -> NetIntent | None:
    """The recorded intent, None when there is none; a file of the wrong shape is an error.

    A file lxcprov cannot read is never guessed around: a static address taken for DHCP
    would be replaced by `fix` and leaked by `destroy`.
    """
    path = path_for(container_dir)
    data = statefile.read_toml(path)
    if data is None:
        return None
    hint = f"fix or remove {path} (lxcprov set NAME address=... writes it again)"
    statefile.check_keys(data, {"network"}, path)
    net = statefile.field(data, "network", dict, path)
    if net is None:
        raise StateFileError(f"{path}: there is no [network] table", hint=hint)
    fields = set(NetIntent.__dataclass_fields__)
    statefile.check_keys(net, fields, path, "network")
    values = {k: statefile.field(net, k, str, path, "network") or "" for k in fields}
    mode = values.pop("mode")
    if mode not in ("none", "dhcp", "static"):
        raise StateFileError(
            f"{path}: network.mode must be none, dhcp or static, not {mode!r}", hint=hint
        )
    intent = NetIntent(mode=mode, **values)  # type: ignore[arg-type]
    if mode != "none" and not intent.bridge:
        raise StateFileError(f"{path}: network.bridge is empty for mode {mode}", hint=hint)
    if mode == "static":
        try:
            ipaddress.IPv4Interface(intent.address)
        except ValueError:
            raise StateFileError(
                f"{path}: network.address {intent.address!r} is not ADDR/PREFIX", hint=hint
            ) from None
    return intent


def load(container_dir: Path, config: dict[str, str]) -> NetIntent:
    """The recorded intent, or (for a container lxcprov did not make) what its config says."""
    found = load_or_none(container_dir)
    return found if found is not None else from_config(config)
