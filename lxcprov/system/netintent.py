"""What network a container should have, decided once and kept next to its LXC config.

`new` decides (none, DHCP or a static address on a bridge) and records it in
`<lxcpath>/<name>/lxcprov.toml`; the network recipes read it back as facts, so `fix`
re-applies the same decision. A container made by plain lxc-create has no such file:
its intent is read from its LXC config (a veth on a bridge means DHCP, as lxc-net does).
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.errors import InvalidArgumentError

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
    target = path_for(container_dir)
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, target)


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


def load(container_dir: Path, config: dict[str, str]) -> NetIntent:
    try:
        data = tomllib.loads(path_for(container_dir).read_text()).get("network", {})
    except FileNotFoundError:
        return from_config(config)
    except tomllib.TOMLDecodeError:
        return from_config(config)
    known = {k: str(v) for k, v in data.items() if k in NetIntent.__dataclass_fields__}
    mode = known.pop("mode", "none")
    if mode not in ("none", "dhcp", "static"):
        mode = "none"
    return NetIntent(mode=mode, **known)  # type: ignore[arg-type]
