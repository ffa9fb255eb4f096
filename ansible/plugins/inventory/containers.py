# The containers of lxcprov hosts as Ansible hosts, with their addresses and the groups
# their apply document gives them.

from __future__ import annotations

DOCUMENTATION = r"""
---
name: containers
short_description: The LXC containers of lxcprov hosts
description:
  - Lists the containers of each host (C(lxcprov ls --json) for state and addresses,
    C(lxcprov export-spec --json) for the groups of the document that made them), as
    inventory hosts named by I(name_format), in the document's groups and in
    C(lxcprov_containers).
  - Hosts are given by I(hosts), or taken from the inventory sources before this one, as
    every host there with the variable C(lxcprov_lxcpath) (and optionally
    C(lxcprov_executable)).
  - The hosts are asked on this machine, so they must be local (C(ansible_connection)
    local), since the plugin runs lxcprov itself. A remote host's containers are reached
    through that host (see the collection's README).
  - Each container gets C(lxcprov_host) (the host it runs on, for C(delegate_to)),
    C(lxcprov_name), C(lxcprov_lxcpath), C(lxcprov_executable), C(lxcprov_state),
    C(lxcprov_ipv4) (the addresses the container reports, its own claim, for information)
    and C(lxcprov_groups), and C(ansible_connection) as I(connection) says.
  - C(ansible_host) comes from lxcprov's own records, never from what the container
    reports about itself (its root can add any address to its interfaces). It is the
    address reserved for the container in its bridge's address book (a static address,
    or a DHCP reservation), else the static address of its network record. A container
    with no recorded address gets no C(ansible_host); the default connection does not
    need one.
version_added: 0.1.0
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [lxcprov.lxcprov.containers]
  hosts:
    description: Hosts to list, each with its lxcpath and lxcprov command.
    type: dict
    default: {}
  from_inventory:
    description: Also list the hosts of earlier inventory sources that set lxcprov_lxcpath.
    type: bool
    default: true
  name_format:
    description: The inventory name of a container ({container}, {host}).
    type: str
    default: "{container}.{host}"
  connection:
    description:
      - How Ansible reaches the containers. The default runs tasks inside through
        C(lxcprov exec) (the collection's connection plugin); C(ssh) reaches them at
        C(ansible_host) when they run an SSH server; empty leaves it to the inventory.
    type: str
    default: lxcprov.lxcprov.lxcprov
author:
  - lxcprov developers
"""

EXAMPLES = r"""
# containers.lxcprov.yml, used after the hosts' own inventory:
#   ansible-inventory -i hosts.yml -i containers.lxcprov.yml --graph
plugin: lxcprov.lxcprov.containers
"""

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
from typing import Any  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.inventory.helpers import get_group_vars  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin  # noqa: E402
from ansible.utils.vars import combine_vars  # noqa: E402

_LOCAL = ("local",)


def _group_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def recorded_address(described: dict[str, Any], book: dict[str, str], owner: str) -> str | None:
    """The address lxcprov has on record for a container (None: none).

    described: the container in `export-spec --json`; book: the address book of its
    bridge (`net status --json` static_addresses: owner -> address), where static
    addresses and DHCP reservations (dnsmasq's dhcp-host) are kept; owner: name@lxcpath,
    as the book knows it. What the container reports (`ls` ipv4) is never used: a
    container's root can put any address on its eth0."""
    booked = book.get(owner)
    if booked:
        return str(booked)
    address = str(described.get("address") or "")
    if address and address not in ("dhcp", "none", "auto"):
        return address.split("/", 1)[0]
    return None


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]
    NAME = "lxcprov.lxcprov.containers"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("lxcprov.yml", "lxcprov.yaml"))

    def _hosts(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for name, spec in (self.get_option("hosts") or {}).items():
            found[name] = {"lxcpath": (spec or {}).get("lxcpath"),
                           "executable": (spec or {}).get("executable", "lxcprov"),
                           "connection": "local"}  # fmt: skip
        if self.get_option("from_inventory"):
            for name, host in self.inventory.hosts.items():
                # The host's own variables over its groups' (`all` included).
                hostvars = combine_vars(get_group_vars(host.get_groups()), host.get_vars())
                if "lxcprov_lxcpath" not in hostvars or name in found:
                    continue
                found[name] = {"lxcpath": hostvars["lxcprov_lxcpath"],
                               "executable": hostvars.get("lxcprov_executable", "lxcprov"),
                               "connection": hostvars.get("ansible_connection", "ssh")}  # fmt: skip
        return found

    def _lxcprov(self, host: str, spec: dict[str, Any], *args: str, need: bool = True) -> Any:
        argv = [spec["executable"]]
        if spec.get("lxcpath"):
            argv += ["--lxcpath", str(spec["lxcpath"])]
        argv += list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0 and not need:
            return None
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
            raise AnsibleParserError(
                f"lxcprov on {host} ({' '.join(argv)}): "
                + (lines[-1] if lines else proc.stderr.strip()[-300:])
            )
        return json.loads(proc.stdout)

    def _owner_path(self, spec: dict[str, Any]) -> str:
        """The lxcpath as lxcprov writes it into owners (name@lxcpath): absolute, the
        option, else LXCPROV_LXCPATH, else LXC's own default."""
        given = spec.get("lxcpath") or os.environ.get("LXCPROV_LXCPATH")
        if not given:
            proc = subprocess.run(["lxc-config", "lxc.lxcpath"], capture_output=True,
                                  text=True, check=False)  # fmt: skip
            given = proc.stdout.strip() or "/var/lib/lxc"
        return os.path.abspath(str(given))

    def _books(self, host: str, spec: dict[str, Any], bridges: set[str]) -> dict[str, Any]:
        """bridge -> its address book (owner -> address), for the bridges given that
        lxcprov manages (others have none: their containers' static records still count)."""
        found: dict[str, Any] = {}
        for bridge in sorted(bridges):
            status = self._lxcprov(host, spec, "net", "status", "--bridge", bridge, "--json",
                                   need=False)  # fmt: skip
            if isinstance(status, dict) and status.get("configured"):
                found[bridge] = dict(status.get("static_addresses") or {})
        return found

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        fmt = self.get_option("name_format")
        self.inventory.add_group("lxcprov_containers")
        for host, spec in self._hosts().items():
            if spec["connection"] not in _LOCAL:
                raise AnsibleParserError(
                    f"{host}: the lxcprov inventory plugin asks hosts on this machine, and "
                    f"{host} is reached by {spec['connection']}; list its containers on the "
                    "host itself (run ansible-inventory there), or use a local connection"
                )
            rows = self._lxcprov(host, spec, "ls", "--json")
            document = self._lxcprov(host, spec, "export-spec", "--json")
            described = document.get("containers", {})
            bridges = {str(d.get("bridge")) for d in described.values()
                       if d.get("bridge") and d.get("bridge") != "none"}  # fmt: skip
            books = self._books(host, spec, bridges)
            lxcpath = self._owner_path(spec)
            for row in rows:
                name = row["name"]
                inv_name = fmt.format(container=name, host=host)
                self.inventory.add_host(inv_name, group="lxcprov_containers")
                groups = list(described.get(name, {}).get("groups", []))
                for group in groups:
                    self.inventory.add_group(_group_name(group))
                    self.inventory.add_child(_group_name(group), inv_name)
                ipv4 = list(row.get("ipv4") or [])
                variables = {
                    "lxcprov_host": host,
                    "lxcprov_name": name,
                    "lxcprov_lxcpath": spec.get("lxcpath"),
                    "lxcprov_executable": spec["executable"],
                    "lxcprov_state": row.get("state"),
                    "lxcprov_ipv4": ipv4,
                    "lxcprov_groups": groups,
                }
                mine = described.get(name, {})
                book = books.get(str(mine.get("bridge")), {})
                address = recorded_address(mine, book, f"{name}@{lxcpath}")
                if address:
                    variables["ansible_host"] = address
                if self.get_option("connection"):
                    # Never the host's own connection (a group's `local` would run the
                    # container's tasks on the host).
                    variables["ansible_connection"] = self.get_option("connection")
                for key, value in variables.items():
                    self.inventory.set_variable(inv_name, key, value)
