"""What no single container shows: two containers claiming one static address (on one
bridge) or one host port."""

from __future__ import annotations

import ipaddress

from lxcprov.engine.apply.document.problems import Problems
from lxcprov.engine.apply.document.spec import ContainerSpec, static_ip
from lxcprov.engine.publish import Publish


def check_across(specs: list[ContainerSpec], problems: Problems) -> None:
    _addresses(specs, problems)
    _ports(specs, problems)


def _addresses(specs: list[ContainerSpec], problems: Problems) -> None:
    addresses: dict[tuple[str, ipaddress.IPv4Address], str] = {}
    for s in specs:
        if s.state == "absent" or s.from_count:  # a count with one address: said already
            continue
        ip = static_ip(s)
        if ip is None:
            continue
        key = (s.bridge or "", ip)
        if key in addresses:
            problems.add_at(s.at("address"), f"{s.name} and {addresses[key]} both claim {ip}")
        else:
            addresses[key] = s.name


def _ports(specs: list[ContainerSpec], problems: Problems) -> None:
    ports: list[tuple[Publish, str]] = []
    for s in specs:
        if s.state == "absent":
            continue
        for p in s.publish or ():
            for other, owner in ports:
                same_addr = not p.host_addr or not other.host_addr or p.host_addr == other.host_addr
                if (p.proto, p.host_port) == (other.proto, other.host_port) and same_addr:
                    problems.add_at(s.at("publish"), f"host port {p.host_port}/{p.proto} is "
                                    f"claimed by {owner} and {s.name}")  # fmt: skip
                    break
            ports.append((p, s.name))
