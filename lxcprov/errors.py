"""One error family: every failure a user can meet has a one-line message and a hint.

The CLI prints ``error: <message>`` and ``hint: <hint>`` and exits with ``exit_code``;
nothing else in lxcprov formats errors for humans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# What would break a message's one line or act on a terminal: C0 controls (\n, \r, \t,
# ESC), DEL, C1 controls, the Unicode line and paragraph separators.
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def plural(n: int, word: str, many: str | None = None) -> str:
    """For messages: "1 container", "2 containers" (many: when it is not word + "s")."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def one_line(name: str) -> str:
    """A name a container chose (a path, a symlink's target), for a message: every control
    character shown as \\xNN, so "x\\nerror: forged" cannot print a line of its own."""
    return _NOT_ONE_LINE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if m.group() <= "\xff" else f"\\u{ord(m.group()):04x}",
        name,
    )


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when word is a near miss of one of known, else ""."""
    import difflib

    near = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


class LxcprovError(Exception):
    """Base of every error lxcprov reports to a user."""

    exit_code = 1
    default_hint = ""

    def __init__(
        self, message: str, hint: str | None = None, details: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        # Lines shown before the error (for example doctor's findings on a failed start).
        self.details = details or []


class NotRootError(LxcprovError):
    exit_code = 77
    default_hint = "run it as root, for example with sudo"


class MissingDependencyError(LxcprovError):
    exit_code = 69
    default_hint = "apt-get install lxc python3-lxc (the lxcprov package depends on them)"


class InvalidNameError(LxcprovError):
    exit_code = 2


class InvalidArgumentError(LxcprovError):
    exit_code = 2


class UnknownTemplateError(LxcprovError):
    exit_code = 2


class ContainerExistsError(LxcprovError):
    default_hint = "pick another name, or remove it first with: lxcprov destroy NAME"


class NoSuchContainerError(LxcprovError):
    default_hint = "list the containers with: lxcprov ls"


class TemplateFailedError(LxcprovError):
    pass


class StartFailedError(LxcprovError):
    pass


class StopFailedError(LxcprovError):
    """A container did not stop (stop --all: its clean shutdown and the kill both failed)."""


class PartlyFailedError(LxcprovError):
    """A command on several containers failed on some of them (each one said why)."""


class NotReadyError(LxcprovError):
    """The container runs but the expected login prompt did not appear in time."""


class UnknownRecipeError(LxcprovError):
    exit_code = 2
    default_hint = "list the recipes with: lxcprov recipes"


class RecipeFileError(LxcprovError):
    """A recipe file does not parse or does not validate (message names file and line)."""


class RootfsEscapeError(LxcprovError):
    """A write would have gone through something lxcprov refuses to write through."""

    default_hint = "inspect the container's rootfs: a template or a user left an odd file there"


class RootfsError(LxcprovError):
    pass


class CommandFailedError(LxcprovError):
    pass


class StateFileError(LxcprovError):
    """One of lxcprov's own files does not parse or has the wrong shape (named, with where)."""

    default_hint = "fix or remove the file; lxcprov does not overwrite a file it cannot read"


class DiskFullError(LxcprovError):
    default_hint = "free some space on that filesystem, then run the command again"


class ContainerBusyError(LxcprovError):
    """Another lxcprov command holds the container's lock for longer than we wait."""

    default_hint = "wait for it to finish (lxcprov ls shows what it is doing), then run this again"


class RunningElsewhereError(LxcprovError):
    """The container runs under another spelling of its lxcpath (LXC tells them apart)."""


class IncompleteContainerError(LxcprovError):
    """A container a killed lxcprov command left half-made."""


class ContainerConfigError(LxcprovError):
    """LXC cannot load a container's config file."""


class ForwardError(LxcprovError):
    """A port cannot be published (taken, or the container has no stable address)."""


class MountError(LxcprovError):
    """A host directory could not be (un)mounted into a container."""


class IdMapError(LxcprovError):
    """Root's subordinate ids (/etc/subuid, /etc/subgid) cannot give a container its map."""


class ShiftError(LxcprovError):
    """A rootfs could not be shifted into (or out of) a container's id range."""


class DestroyFailedError(LxcprovError):
    default_hint = "see why with: lxc-destroy -n NAME (and lxcprov doctor NAME)"


class BaseInUseError(LxcprovError):
    default_hint = "destroy the containers cloned from it first (lxcprov bases shows them)"


class ApplyError(LxcprovError):
    """`apply` could not converge a container (a file, a first-boot command, a worker)."""

    default_hint = "the container is kept as it is; run the same apply again to go on"


class UserDataError(LxcprovError):
    """An item of `new --user-data` could not be carried out in the container."""

    default_hint = "the container is removed (keep it with --keep-on-failure to look inside)"


class SnapshotError(LxcprovError):
    """A snapshot that does not exist, exists already, or cannot be made or restored."""

    default_hint = "list a container's snapshots with: lxcprov snapshots NAME"


class ArchiveError(LxcprovError):
    """An archive import refuses (bad manifest, checksum, or an entry outside the container)."""

    default_hint = "nothing was written; use an archive made by `lxcprov export`"


class ImageError(LxcprovError):
    """An image `new --image` refuses (a member outside the rootfs, a blob that does not
    match its digest, a registry it cannot reach)."""

    default_hint = "nothing was kept of the image"


class DependentsError(DestroyFailedError):
    """A container or base that snapshots or clones still depend on."""


class ContainerProblemsError(StartFailedError):
    """A container has findings that make lxc-start fail; doctor says what and how."""


# -- host networking -------------------------------------------------------------------


class NetworkError(LxcprovError):
    pass


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


class MacInUseError(NetworkError):
    """A MAC another container (or the bridge) has on lxcprov's bridges."""

    default_hint = (
        "a container needs a MAC of its own: import it with --new-identity (a new MAC), or "
        "give one of the two another lxc.net.0.hwaddr in its config"
    )


class HostLimitError(LxcprovError):
    """What was asked cannot fit in a host limit (addresses, bridge ports, inotify, pids)."""
