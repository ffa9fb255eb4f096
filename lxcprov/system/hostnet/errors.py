"""Named errors of host networking; each carries a hint for the user."""

from __future__ import annotations

import errno

from lxcprov.errors import LxcprovError, NetworkError


class NetPermissionError(NetworkError):
    exit_code = 77
    default_hint = "host networking needs root (CAP_NET_ADMIN): run it as root, e.g. with sudo"


class LinkExistsError(NetworkError):
    default_hint = "pick another bridge name with --bridge, or remove the interface first"


class NoSuchLinkError(NetworkError):
    default_hint = "list the interfaces with: ip -br link"


class AddressInUseError(NetworkError):
    default_hint = "pick another address with --address"


class NotABridgeError(NetworkError):
    default_hint = "pick another bridge name with --bridge"


class SubnetOverlapError(NetworkError):
    default_hint = "pick a subnet no route on this host covers, e.g. --address 10.0.4.1/24"


class UplinkError(NetworkError):
    default_hint = "name the interface to masquerade out of with --uplink IFACE, or use --no-nat"


class NftablesError(NetworkError):
    default_hint = "check that the nf_tables kernel module is available: nft list tables"


class DnsmasqError(NetworkError):
    default_hint = "look at the dnsmasq log under the state directory (lxcprov net status)"


class NotConfiguredError(NetworkError):
    default_hint = "set the network up first with: lxcprov net setup"


class InvalidNetSettingError(NetworkError):
    exit_code = 2


class AddressPoolError(NetworkError):
    """No free static address, or a requested address cannot be used."""


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
