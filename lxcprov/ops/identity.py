"""A container's identity on this host, for the commands that make one from another
container's files (copy, import) or bring old files back (restore).

Identity is what two containers must never share: the name (it is the hostname), the
MAC (DHCP leases follow it), a static address, the SSH host keys and the machine-id
(journald, D-Bus and DHCP DUIDs use it). A copy gets all of them anew, like a clone from a
base; an import keeps them unless asked (`--new-identity`), but never a MAC or address
another container here already has (nor a bridge lxcprov does not manage: the archive's
network is a wish, engine.network.from_archive); a restore keeps the container's current
ones.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import recipes
from lxcprov.engine.network import Current, Decision, Request
from lxcprov.errors import ContainerExistsError, LxcprovError
from lxcprov.ops import bases, workspace
from lxcprov.ops import network as netops
from lxcprov.ops.progress import Progress
from lxcprov.system import lxc
from lxcprov.system.netintent import NetIntent
from lxcprov.system.rootfs import Rootfs

ROLES: tuple[recipes.Role, ...] = ("hostname", "network")


def request_for(intent: NetIntent, *, keep_address: bool) -> Request:
    """What to ask the network decision for, to get a network like intent's."""
    if intent.mode == "none":
        return Request(bridge="none")
    if intent.mode == "static":
        return Request(bridge=intent.bridge, address=intent.address if keep_address else "auto")
    return Request(bridge=intent.bridge, address="dhcp")


def decide(
    name: str,
    lxcpath: Path,
    request: Request,
    *,
    mac: str | None,
    progress: Progress,
    on_claim: Callable[[str, str], None],
) -> Decision:
    """The new container's network (a static address claimed; the caller owns the claim).

    mac: the MAC to keep (None: a new one); the bridge's books refuse one another
    container has (MacInUseError)."""
    current = Current(veth_name="eth0" if mac else None, mac=mac)
    return netops.prepare(name, lxcpath, request, current, progress, on_claim)


def mac_holder(lxcpath: Path, mac: str, but: str) -> str | None:
    """The container here that already has mac (two on one bridge break both)."""
    for c in lxc.list_containers(lxcpath, include_bases=True):
        if c.name == but:
            continue
        try:
            if c.config().get("lxc.net.0.hwaddr", "").lower() == mac.lower():
                return c.name
        except LxcprovError:
            continue
    return None


def refuse_shared_mac(lxcpath: Path, mac: str, name: str) -> None:
    holder = mac_holder(lxcpath, mac, name) if mac else None
    if holder is not None:
        raise ContainerExistsError(
            f"{holder} already has the MAC {mac} this archive records",
            hint="import it with --new-identity (a new MAC, SSH host keys and machine-id)",
        )


@dataclass
class Applied:
    renewed: list[str] = field(default_factory=list)  # "machine-id", "ssh host keys"
    changes: int = 0  # rootfs changes of the hostname and network recipes


def apply(
    container: lxc.Container, *, renew: bool, was: str = "", rootfs: Rootfs | None = None
) -> Applied:
    """Renew the identity files (renew), rename the files' mentions of the old name (was),
    then apply the hostname and network recipes, in one opening of the container's files
    (rootfs: the one the caller opened already, e.g. an import's pinned tree)."""
    done = Applied()
    chosen = recipes.providing(recipes.load_all(), *ROLES)
    with _workspace(container, rootfs) as ws:
        if renew:
            done.renewed = bases.personalize(ws.rootfs, container.name)
        if was and was != container.name and rename_in_hosts(ws.rootfs, was, container.name):
            done.renewed.append(f"/etc/hosts ({was} -> {container.name})")
        _facts, _plan, done.changes = ws.run(chosen)
    return done


@contextlib.contextmanager
def _workspace(container: lxc.Container, rootfs: Rootfs | None) -> Iterator[workspace.Workspace]:
    if rootfs is None:
        with workspace.opened(container) as ws:
            yield ws
    else:
        yield workspace.Workspace(container, rootfs)


def rename_in_hosts(rootfs: Rootfs, old: str, new: str) -> bool:
    """Replace the old name, as a whole name, in /etc/hosts: the template wrote the name
    there (`127.0.1.1 old`), and the copy would otherwise resolve its source's name to
    itself. What LXC's own clonehostname hook does for its clones."""
    text = rootfs.read_text("/etc/hosts")
    if text is None:
        return False
    renamed = re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", new, text)
    if renamed == text:
        return False
    rootfs.write_text("/etc/hosts", renamed)
    return True
