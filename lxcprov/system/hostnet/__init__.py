"""Host networking for LXC containers: a bridge with NAT and DHCP, managed idempotently.

Public API (the CLI and the container side call only these)::

    load_settings(bridge=None) -> NetSettings | None
    bridge_state(name) -> BridgeState | None      (netlink: addresses too)
    link(name) -> Link | None                    (sysfs: exists, bridge, up)
    allocate_address(bridge, owner) -> IPv4Interface
    reserve_address(bridge, owner, address) -> IPv4Interface
    release_address(bridge, owner) -> None
    register(bridge, owner, mac, port, reserve=) / forget(bridge, owner)
                                  (names, reservations, the guard, forwards)
    forwards(bridge=None) / add_forward(bridge, fw) / remove_forwards(bridge, owner, ...)
    leases(bridge) -> list[Lease]
    setup(...) -> SetupResult        status(bridge=None) -> NetStatus
    health(bridge) -> BridgeHealth   (doctor's part of status: nftables and dnsmasq only)
    teardown(bridge=None) -> TeardownResult

Flow: observe (read-only snapshot) -> plan (pure diff) -> apply (the only mutator).
"""

# The API lives in api.py and is imported at the first use of one of its names: `ls`,
# `show` and shell completion read a state file or two of a bridge (forwards.py,
# settings.py) and must not pay for netlink, nftables and the planner.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxcprov.system.hostnet import settings
    from lxcprov.system.hostnet.api import (
        AddressSplit,
        BridgeHealth,
        BridgeState,
        Dnat,
        Forward,
        Lease,
        Link,
        NetSettings,
        NetStatus,
        SetupResult,
        TeardownResult,
        add_forward,
        address_book,
        allocate_address,
        bridge_state,
        default_bridge,
        dnsmasq_runs,
        forget,
        free_addresses,
        health,
        leases,
        link,
        list_forwards,
        load_settings,
        macs,
        pin_address,
        register,
        release_address,
        remove_forwards,
        reserve_address,
        serves_dns,
        setup,
        split,
        status,
        teardown,
    )


__all__ = [
    "AddressSplit",
    "BridgeHealth",
    "BridgeState",
    "Dnat",
    "Forward",
    "Lease",
    "Link",
    "NetSettings",
    "NetStatus",
    "SetupResult",
    "TeardownResult",
    "add_forward",
    "address_book",
    "allocate_address",
    "bridge_state",
    "default_bridge",
    "dnsmasq_runs",
    "forget",
    "free_addresses",
    "health",
    "leases",
    "link",
    "list_forwards",
    "load_settings",
    "macs",
    "pin_address",
    "register",
    "release_address",
    "remove_forwards",
    "reserve_address",
    "serves_dns",
    "settings",
    "setup",
    "split",
    "status",
    "teardown",
]


_SUBMODULES = frozenset(
    {"actions", "addresses", "api", "apply", "dnsmasq", "forwards", "guard", "links", "names",
     "nat", "netlink", "observe", "openings", "plan", "settings", "subnet"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    # import_module, not `from . import api`: that would ask this very __getattr__ for
    # "api" while the submodule is not loaded yet.
    if name in _SUBMODULES:
        # `from lxcprov.system.hostnet import forwards` asks here first: hand over the
        # submodule itself, without loading the API and everything it imports.
        return importlib.import_module(f"{__name__}.{name}")
    api = importlib.import_module("lxcprov.system.hostnet.api")

    try:
        return getattr(api, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
