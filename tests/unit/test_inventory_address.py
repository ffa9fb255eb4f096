"""Where the Ansible inventory plugin sends a play (issue 22, row 10): lxcprov's records.

On main `ansible_host` was the first IPv4 the container reported (`ls` reads its network
namespace), so a container's root that added an address to its eth0 chose where a play
with `connection: ssh` (and its credentials) went. The address now comes from the bridge's
address book (static addresses and DHCP reservations) or the container's static network
record, and a container with neither gets none. The real check is in
tests/real/test_ansible.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "ansible/plugins/inventory/containers.py"
OWNER = "web1@/var/tmp/lxc"


def _plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lxcprov_inventory_containers", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("described", "book", "expected"),
    [
        # a static container on a managed bridge: its reservation in the book
        ({"bridge": "br1", "address": "10.200.1.10/24"}, {OWNER: "10.200.1.10"}, "10.200.1.10"),
        # a DHCP container with a reservation (a published port made one)
        ({"bridge": "br1", "address": "dhcp"}, {OWNER: "10.200.1.50"}, "10.200.1.50"),
        # a static container on a bridge lxcprov does not manage: its own record
        ({"bridge": "lxcbr9", "address": "10.200.9.7/24"}, {}, "10.200.9.7"),
        # a DHCP container without a reservation: nothing on record, no ansible_host
        ({"bridge": "br1", "address": "dhcp"}, {}, None),
        ({"bridge": "none"}, {}, None),
        ({}, {}, None),
        # another container's reservation is never this one's
        ({"bridge": "br1", "address": "dhcp"}, {"web2@/var/tmp/lxc": "10.200.1.51"}, None),
        ({"bridge": "br1", "address": "dhcp"}, {"web1@/elsewhere": "10.200.1.52"}, None),
    ],
)
def test_the_address_is_lxcprovs_record(
    described: dict[str, Any], book: dict[str, str], expected: str | None
) -> None:
    assert _plugin().recorded_address(described, book, OWNER) == expected


def test_what_the_container_reports_is_not_a_record() -> None:
    """The row `ls --json` gives (the container's own claim) is not an input at all."""
    plugin = _plugin()
    described = {"bridge": "br1", "address": "dhcp", "ipv4": ["10.199.0.9", "10.200.1.50"]}
    assert plugin.recorded_address(described, {}, OWNER) is None


def test_the_plugins_documentation_is_yaml_ansible_reads() -> None:
    """ansible-doc and the inventory loader parse DOCUMENTATION: a stray `: ` breaks it."""
    import yaml  # python3-yaml (a dependency of lxcprov), also ansible-core's

    doc = yaml.safe_load(_plugin().DOCUMENTATION)
    assert doc["name"] == "containers"
    assert any("ansible_host" in line for line in doc["description"])
