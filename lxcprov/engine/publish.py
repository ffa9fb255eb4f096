"""What a published port is asked as: `[HOST_ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]`.

Parsed here, once, for `new --publish`, `forward add` (lxcprov.ops.forwards) and the
`publish` key of an `apply` document (lxcprov.engine.apply); pure, so every form is a
row in a unit test.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from lxcprov.errors import InvalidArgumentError

Proto = Literal["tcp", "udp"]


@dataclass(frozen=True)
class Publish:
    """What `new --publish` and `forward add` ask for."""

    host_port: int
    container_port: int
    proto: Proto = "tcp"
    host_addr: str = ""

    def spec(self) -> str:
        """The text parse_publish reads back as this."""
        where = f"{self.host_addr}:" if self.host_addr else ""
        udp = "/udp" if self.proto == "udp" else ""
        return f"{where}{self.host_port}:{self.container_port}{udp}"


def _port(text: str, what: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise InvalidArgumentError(f"{what} {text!r} is not a port number (1-65535)")
    return port


def _addr(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise InvalidArgumentError(
            f"{text!r} is not an IPv4 address of the host",
            hint="published ports are IPv4: e.g. 192.0.2.10:8080, or just 8080 for every address",
        ) from None


def parse_host(text: str) -> tuple[str, int]:
    """[HOST_ADDR:]HOST_PORT."""
    addr, _, port = text.rpartition(":")
    return (_addr(addr) if addr else ""), _port(port, "host port")


def parse_publish(text: str) -> Publish:
    """`new --publish [HOST_ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]`."""
    body, _, proto = text.partition("/")
    if proto not in ("", "tcp", "udp"):
        raise InvalidArgumentError(f"--publish {text!r}: the protocol is tcp or udp")
    parts = body.split(":")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgumentError(
            f"--publish {text!r} is not [HOST_ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]",
            hint="e.g. --publish 8080:80",
        )
    addr = _addr(parts[0]) if len(parts) == 3 else ""
    if len(parts) == 3:
        parts = parts[1:]
    host = _port(parts[0], "host port")
    inside = _port(parts[1], "container port") if len(parts) == 2 else host
    return Publish(host, inside, "udp" if proto == "udp" else "tcp", addr)
