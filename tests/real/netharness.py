"""A test bridge made through `lxcprov net setup`, and `lxcprov new` on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, gateway


@dataclass
class Net:
    lab: NetLab
    lxc: Lxc
    bridge: str
    subnet: IPv4Network

    @property
    def gw(self) -> str:
        return str(self.subnet.network_address + 1)

    def new(self, name: str, pw: Path, *args: str, check: bool = True) -> dict[str, Any]:
        proc = self.lxc.cli(
            "new", name, "--bridge", self.bridge, "--root-password-file", str(pw), "--json",
            *args, check=check,
        )  # fmt: skip
        return json.loads(proc.stdout) if proc.returncode == 0 else {"stderr": proc.stderr}


def bridge(lab: NetLab, lxc: Lxc, *setup_args: str, prefix: str = "lxpt") -> Net:
    name, subnet = lab.bridge(prefix), free_subnet()
    lxc.cli("net", "setup", "--bridge", name, "--address", gateway(subnet), *setup_args)
    return Net(lab, lxc, name, subnet)
