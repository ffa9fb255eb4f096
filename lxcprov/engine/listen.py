"""Where `metrics --listen` listens: `[ADDR:]PORT`, loopback unless an address is written.

A bare port is 127.0.0.1 (what a Prometheus on the same host scrapes, and nothing else
can): what every container is called and uses is not for the network to read unless the
admin says so, by writing the address (`0.0.0.0:9100`, `[::]:9100`, one of the host's).
Only IP literals: a host name would be a DNS lookup at every start, and may resolve to
more than one address. Port 0 lets the kernel choose a free one (it is printed).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from lxcprov.errors import InvalidArgumentError

LOOPBACK = "127.0.0.1"
_EXAMPLES = "e.g. --listen 9100, --listen 127.0.0.1:9100, --listen [::1]:9100"


@dataclass(frozen=True)
class Listen:
    host: str  # an IP literal, IPv6 without brackets
    port: int  # 0: any free port

    @property
    def ipv6(self) -> bool:
        return ":" in self.host

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if self.ipv6 else self.host
        return f"http://{host}:{self.port if port is None else port}/metrics"


def parse(text: str) -> Listen:
    """`PORT`, `IPV4:PORT` or `[IPV6]:PORT`; InvalidArgumentError (one line) otherwise."""
    if ":" not in text:
        return Listen(LOOPBACK, _port(text, text))
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise InvalidArgumentError(f"--listen {text!r}: not [ADDR:]PORT", hint=_EXAMPLES)
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidArgumentError(f"--listen {text!r}: no closing ]", hint=_EXAMPLES)
        host = host[1:-1]
        if ":" not in host:
            raise InvalidArgumentError(f"--listen {text!r}: [...] is for IPv6", hint=_EXAMPLES)
    elif ":" in host:
        raise InvalidArgumentError(
            f"--listen {text!r}: an IPv6 address goes in brackets", hint="e.g. [::1]:9100"
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgumentError(
            f"--listen {text!r}: {host!r} is not an IP address (host names are not looked up)",
            hint=_EXAMPLES,
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise InvalidArgumentError(
            f"--listen {text!r}: a scoped IPv6 address is not supported", hint=_EXAMPLES
        )
    return Listen(str(address), _port(port, text))


def _port(word: str, text: str) -> int:
    if not word.isascii() or not word.isdigit() or int(word) > 65535:
        raise InvalidArgumentError(
            f"--listen {text!r}: the port must be a number from 0 to 65535", hint=_EXAMPLES
        )
    return int(word)
