"""Netlink through pyroute2, imported on first use, and only the part of it used.

Importing pyroute2 takes about 0.13 s of CPU here, more than the rest of `lxcprov ls`;
only the commands that really talk to the kernel's network stack should pay for it. And
of those 0.13 s, half is its package's __init__ importing every protocol it has (IPDB,
NDB, conntrack, WireGuard, nl80211, plan9...): IPRoute and ethtool, all lxcprov uses,
take 0.07 s without it. `new` pays this while its container boots (doctor's closing
advice reads the bridge), on a machine whose two cores the boot already keeps busy.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.util
import sys
import threading
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


_PACKAGE = "pyroute2"
_whole = threading.RLock()


def lean_import() -> None:
    """Make the pyroute2 package importable without running its __init__ until a name only
    that __init__ defines is asked for (`from pyroute2 import NDB`): then it runs, whole,
    into the same module, so any code that wants the full package still gets it. Its
    submodules (pyroute2.iproute, .ethtool, .config, ...) import as they would anyway. The
    one thing its __init__ does besides importing is its logger's NullHandler (without
    it, a pyroute2 warning would reach our stderr): that module is imported here too."""
    if _PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # a plain import then says what is missing
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    running = threading.local()  # this thread runs the __init__, which may ask for names

    def whole_on_demand(name: str) -> object:
        if importlib.util.find_spec(f"{_PACKAGE}.{name}") is not None:
            return importlib.import_module(f"{_PACKAGE}.{name}")  # `from pyroute2 import config`
        with _whole:  # another thread asking meanwhile waits for the whole package
            if "__getattr__" in vars(package) and not getattr(running, "now", False):
                running.now = True
                try:
                    loader.exec_module(package)
                finally:
                    running.now = False
                del package.__dict__["__getattr__"]
        if name in vars(package):
            return vars(package)[name]
        raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")

    package.__dict__["__getattr__"] = whole_on_demand  # PEP 562: asked for a missing name
    sys.modules[_PACKAGE] = package
    importlib.import_module(f"{_PACKAGE}.config.log")


def ethtool() -> Any:
    """pyroute2's Ethtool (a socket and an ioctl: the caller closes it)."""
    lean_import()
    from pyroute2.ethtool.ethtool import Ethtool

    return Ethtool()


@contextlib.contextmanager
def route(what: str) -> Iterator[Any]:
    """An IPRoute socket; a NetlinkError in the block becomes a named error about `what`."""
    lean_import()
    from pyroute2.iproute.linux import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ip:
            yield ip
    except NetlinkError as exc:
        raise from_netlink(exc, what) from None
