"""Netlink through pyroute2, imported on first use.

Importing pyroute2 takes about 0.17 s here, more than the rest of `lxcprov ls`; only the
commands that really talk to the kernel's network stack should pay for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lxcprov.system.hostnet.errors import from_netlink


@contextlib.contextmanager
def route(what: str) -> Iterator[Any]:
    """An IPRoute socket; a NetlinkError in the block becomes a named error about `what`."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ip:
            yield ip
    except NetlinkError as exc:
        raise from_netlink(exc, what) from None
