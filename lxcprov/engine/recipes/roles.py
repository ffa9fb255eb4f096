"""What a recipe provides, named by purpose, so Python never depends on recipe file names.

A recipe says `provides = ["console"]`; `set ttys=`, doctor and `new` ask for the recipes
that provide a role. Renaming or replacing a recipe file (an admin's own in
/etc/lxcprov/recipes) keeps working as long as it provides the same role.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal[
    "console", "tty-devices", "root-terminals", "hostname", "network", "root-access", "boot"
]

ROLES: dict[Role, str] = {
    "console": "a login prompt (getty) on the console and on every LXC tty",
    "tty-devices": "device nodes for the LXC ttys when LXC does not make them",
    "root-terminals": "root may log in on the console and the LXC ttys",
    "hostname": "the hostname, and that it resolves",
    "network": "eth0 configured inside as lxcprov decided (DHCP, static, none)",
    "root-access": "root can log in: password hash, SSH keys",
    "boot": "the init does no work at boot that a container cannot use (a faster boot)",
}
assert set(ROLES) == set(get_args(Role))

# The roles `lxcprov set ttys=N` re-runs: the terminals change with it.
TERMINAL_ROLES: tuple[Role, ...] = ("console", "tty-devices", "root-terminals")


def parse_role(value: object) -> Role | None:
    for role in ROLES:
        if value == role:
            return role
    return None
