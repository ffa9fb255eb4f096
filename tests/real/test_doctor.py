"""doctor on a container made by plain `lxc-create -t debian` on a host without its network.

doctor lists the bridge, DHCP, console and root-login problems; `doctor --fix` with a
password makes it boot to a login prompt with an IPv4 address; a second doctor run finds
no error. Everything runs in a private lxcpath, on a private bridge and subnet, without
NAT (nothing leaves this machine).
"""

from __future__ import annotations

import json
import subprocess
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from lxcprov.system import lxc
from tests.real.console import login_and_run
from tests.real.harness import Lxc, lxc_create
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, gateway, link_exists
from tests.unit.doctor.minischema import validate

pytestmark = pytest.mark.real

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs/doctor.schema.json").read_text())


def doctor(lab: NetLab, lxcpath: Lxc, *args: str) -> subprocess.CompletedProcess[str]:
    """`lxcprov doctor ARGS` with the lab's config and state dirs and the private lxcpath."""
    return lxcpath.cli("doctor", *args, check=False)


def doctor_json(lab: NetLab, lxcpath: Lxc, *args: str) -> tuple[int, dict[str, Any]]:
    proc = doctor(lab, lxcpath, *args, "--json")
    assert proc.stdout.strip(), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert validate(data, SCHEMA) == []
    return proc.returncode, data


def errors(data: dict[str, Any]) -> set[str]:
    return {f["id"] for f in data["findings"] if f["severity"] == "error"}


def test_plain_lxc_create_debian_then_doctor_fix_boots_to_login_with_ipv4(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    lab = netlab
    pw_path, password = password_file
    bridge, subnet = lab.bridge(), free_subnet()
    conf = lxcpath.path / "net.conf"
    # What /etc/lxc/default.conf gives (lxc-net's lxcbr0), with a private bridge name.
    conf.write_text(f"lxc.net.0.type = veth\nlxc.net.0.link = {bridge}\nlxc.net.0.flags = up\n")
    lxc_create(lxcpath, "dplain", conf, "debian", "-r", "bookworm")

    code, before = doctor_json(lab, lxcpath, "dplain")
    assert code == 1 and before["ok"] is False
    assert {"bridge-missing", "no-dhcp-server", "console-empty", "root-locked"} <= errors(before)
    by_id = {f["id"]: f for f in before["findings"]}
    assert by_id["bridge-missing"]["fix"].endswith(f"net setup --bridge {bridge}")
    assert by_id["root-locked"]["needs_secret"] is True
    human = doctor(lab, lxcpath, "dplain")
    assert human.returncode == 1 and "console-empty" in human.stderr and "fix:" in human.stderr

    # Without a secret, --fix does the rest and says what it could not do.
    code, partial = doctor_json(
        lab, lxcpath, "dplain", "--fix", "--bridge-address", gateway(subnet), "--no-nat"
    )
    assert code == 1 and errors(partial) == {"root-locked"}
    assert any(s["id"] == "root-locked" for s in partial["fix"]["skipped"])
    assert link_exists(bridge)

    fixed = doctor(lab, lxcpath, "dplain", "--fix", "--root-password-file", str(pw_path))
    assert fixed.returncode == 0, fixed.stderr
    assert "root-access" in fixed.stderr

    code, after = doctor_json(lab, lxcpath, "dplain")
    assert code == 0 and after["ok"] is True and errors(after) == set(), after["findings"]

    lxcpath.cli("start", "dplain")  # through lxcprov: doctor has nothing left to stop it
    c = lxc.Container("dplain", lxcpath.path)
    lxc.wait_for_login(c, 1, 120)
    (ip,) = lxc.wait_for_ipv4(c, None, 120)
    assert IPv4Address(ip) in subnet
    assert "dplain" in login_and_run(lxcpath, "dplain", password, "hostname")
