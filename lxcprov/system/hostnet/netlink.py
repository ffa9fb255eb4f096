"""Netlink through pyroute2, imported on first use.

Importing pyroute2 takes about 0.17 s here, more than the rest of `lxcprov ls`; only the
commands that really talk to the kernel's network stack should pay for it.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any

from lxcprov.errors import (
    AddressInUseError,
    LinkExistsError,
    LxcprovError,
    NetPermissionError,
    NetworkError,
    NoSuchLinkError,
)

_NETLINK_ERRORS: dict[int, type[NetworkError]] = {
    errno.EPERM: NetPermissionError,
    errno.EACCES: NetPermissionError,
    errno.EEXIST: LinkExistsError,
    errno.ENODEV: NoSuchLinkError,
    errno.EADDRINUSE: AddressInUseError,
    errno.EADDRNOTAVAIL: AddressInUseError,
}


def from_netlink(exc: Exception, what: str) -> LxcprovError:
    """Turn a pyroute2 NetlinkError (or OSError) into a named error saying what failed."""
    code = getattr(exc, "code", None)
    if code is None:
        code = getattr(exc, "errno", None)
    cls = _NETLINK_ERRORS.get(code if isinstance(code, int) else -1, NetworkError)
    reason = errno.errorcode.get(code, str(code)) if isinstance(code, int) else str(exc)
    detail = str(exc).strip() or reason
    return cls(f"{what} failed: {detail} ({reason})")


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
