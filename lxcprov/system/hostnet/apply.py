"""The only module of lxcprov.system.hostnet that changes the host: it carries out plan actions."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lxcprov.errors import CommandFailedError, DnsmasqError, NoSuchLinkError
from lxcprov.system import run, statefile
from lxcprov.system.hostnet import dnsmasq, guard, nat, netlink, openings, settings
from lxcprov.system.hostnet.actions import (
    Action,
    AddAddress,
    AddAddress6,
    CloseForeignChain,
    CreateBridge,
    DeleteBridge,
    DeleteGuardTable,
    DeleteNatTable,
    DisableTxChecksum,
    FixBridgeMac,
    ForgetSettings,
    KeepRouterAdverts,
    LinkUp,
    OpenForeignChain,
    RemoveAddress,
    RemoveAddress6,
    RemoveStateDir,
    ReplaceGuardTable,
    ReplaceNatTable,
    SaveSettings,
    SetSysctl,
    StartDnsmasq,
    StopDnsmasq,
    WriteServedNames,
    accept_ra_path,
    sysctl_key,
)
from lxcprov.system.hostnet.netlink import from_netlink
from lxcprov.system.hostnet.observe import TX_CSUM_FEATURE

_STOP_WAIT = 5.0
_START_WAIT = 5.0


_netlink = netlink.route


def _index(ip: Any, name: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise NoSuchLinkError(f"interface {name} does not exist")
    return int(found[0])


def _create_bridge(a: CreateBridge) -> None:
    with _netlink(f"creating bridge {a.bridge}") as ip:
        # A MAC given at creation is a set one: the bridge keeps it whatever ports join.
        extra = {"address": a.mac} if a.mac else {}
        ip.link("add", ifname=a.bridge, kind="bridge", **extra)


def _fix_bridge_mac(a: FixBridgeMac) -> None:
    with _netlink(f"setting the MAC of {a.bridge}") as ip:
        ip.link("set", index=_index(ip, a.bridge), address=a.mac)


def _add_address(a: AddAddress) -> None:
    with _netlink(f"adding {a.ipv4} to {a.bridge}") as ip:
        ip.addr(
            "add",
            index=_index(ip, a.bridge),
            address=str(a.ipv4.ip),
            prefixlen=a.ipv4.network.prefixlen,
            broadcast=str(a.ipv4.network.broadcast_address),
        )


def _remove_address(a: RemoveAddress) -> None:
    with _netlink(f"removing {a.ipv4} from {a.bridge}") as ip:
        ip.addr(
            "del",
            index=_index(ip, a.bridge),
            address=str(a.ipv4.ip),
            prefixlen=a.ipv4.network.prefixlen,
        )


def _add_address6(a: AddAddress6) -> None:
    with _netlink(f"adding {a.ipv6} to {a.bridge}") as ip:
        # nodad: the address is the bridge's own, in a prefix lxcprov made up (or was
        # given); waiting for duplicate address detection would only delay dnsmasq's bind.
        ip.addr("add", index=_index(ip, a.bridge), address=str(a.ipv6.ip),
                prefixlen=64, flags=0x02)  # fmt: skip


def _remove_address6(a: RemoveAddress6) -> None:
    with _netlink(f"removing {a.ipv6} from {a.bridge}") as ip:
        ip.addr("del", index=_index(ip, a.bridge), address=str(a.ipv6.ip),
                prefixlen=a.ipv6.network.prefixlen)  # fmt: skip


def _link_up(a: LinkUp) -> None:
    with _netlink(f"bringing {a.bridge} up") as ip:
        ip.link("set", index=_index(ip, a.bridge), state="up")


def _delete_bridge(a: DeleteBridge) -> None:
    with _netlink(f"deleting bridge {a.bridge}") as ip:
        found = ip.link_lookup(ifname=a.bridge)
        if found:
            ip.link("del", index=int(found[0]))


def _disable_tx_checksum(a: DisableTxChecksum) -> None:
    ethtool = netlink.ethtool()
    try:
        features = ethtool.get_features(a.bridge)
        features.features[TX_CSUM_FEATURE].enable = False
        ethtool.set_features(a.bridge, features)
    except (OSError, KeyError) as exc:
        raise from_netlink(exc, f"turning off tx checksum offload on {a.bridge}") from None
    finally:
        ethtool.close()


def _set_sysctl(a: SetSysctl) -> None:
    try:
        Path(a.path).write_text(a.value + "\n", encoding="ascii")
    except OSError as exc:
        raise from_netlink(exc, f"writing {a.path}") from None


def _keep_router_adverts(a: KeepRouterAdverts) -> str | None:
    """accept_ra 2 on the link; a link gone meanwhile is passed over, one renamed is
    followed by its index (the kernel moves its sysctls with its name)."""
    name = a.link
    for _ in range(3):
        path = accept_ra_path(name)
        try:
            Path(path).write_text("2\n", encoding="ascii")
        except FileNotFoundError:
            try:
                now = socket.if_indextoname(a.index)
            except OSError:
                now = None
            if now is None or now == name:  # gone (or its IPv6 with it): nothing to keep
                return f"passed over {a.link}: it left before its accept_ra was set"
            name = now
            continue
        except OSError as exc:
            raise from_netlink(exc, f"writing {path}") from None
        if name == a.link:
            return None
        return f"set {sysctl_key(path)} = 2 ({a.link} was renamed {name} meanwhile)"
    return f"passed over {a.link}: it kept being renamed while its accept_ra was set"


def _exited(pidfd: int, timeout: float) -> bool:
    """Whether the process has exited within timeout. A pidfd turns readable when the
    kernel has closed the process's files, so its sockets are free to bind again; its
    /proc/PID/cmdline reads empty earlier (its memory goes first), while it may still hold
    them: a dnsmasq started in that window fails with "Address already in use", as a
    restart did once in CI on a loaded machine."""
    return bool(select.select([pidfd], [], [], timeout)[0])


def _stop_ours(pid: int, pid_file: Path) -> None:
    """SIGTERM (then SIGKILL) one process, if it is still a dnsmasq of pid_file's, and wait
    until its files are closed."""
    try:
        # Pinned first, checked second: a signal never reaches a process that took the
        # pid after ours ended.
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        argv = dnsmasq.process_argv(pid)
        if argv is None or not dnsmasq.is_ours(argv, pid_file):
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        if not _exited(pidfd, _STOP_WAIT):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            _exited(pidfd, _STOP_WAIT)
    finally:
        os.close(pidfd)


def _stop_dnsmasq(a: StopDnsmasq) -> None:
    # Only ever the process we observed, and only if it is still ours.
    if a.pid is not None:
        _stop_ours(a.pid, a.pid_file)
    a.pid_file.unlink(missing_ok=True)


def _start_dnsmasq(a: StartDnsmasq) -> None:
    a.pid_file.parent.mkdir(parents=True, exist_ok=True)
    a.pid_file.unlink(missing_ok=True)
    # dnsmasq reads its hosts file after dropping root (to user dnsmasq or nobody): the
    # state directories must be traversable and the file readable by that user.
    for directory in (settings.state_dir(), a.pid_file.parent.parent, a.pid_file.parent):
        directory.chmod(0o755)
    for name in (dnsmasq.HOSTS_FILE, "dhcp-hosts"):
        path = a.pid_file.parent / name
        if not path.exists():
            path.touch(mode=0o644)  # dnsmasq's options name them; the books fill them
    argv = [run.which("dnsmasq"), *a.args]
    try:
        # dnsmasq checks its options and binds its sockets, then forks into the background.
        run.run(argv, timeout=30)
    except CommandFailedError as exc:
        raise DnsmasqError(
            f"dnsmasq for {a.bridge} did not start: {exc.message}", hint=exc.hint
        ) from None
    deadline = time.monotonic() + _START_WAIT
    while time.monotonic() < deadline:
        pid = dnsmasq.read_pid(a.pid_file)
        if pid is not None and dnsmasq.process_argv(pid) is not None:
            return
        time.sleep(0.05)
    raise DnsmasqError(f"dnsmasq for {a.bridge} started but wrote no pid file {a.pid_file}")


def _replace_nat(a: ReplaceNatTable) -> None:
    nat.run(
        nat.replace_commands(a.bridge, a.wanted),
        f"writing nftables table {nat.table_name(a.bridge)}",
    )


def _delete_nat(a: DeleteNatTable) -> None:
    nat.run(nat.delete_commands(a.bridge), f"deleting nftables table {nat.table_name(a.bridge)}")


def _write_served(a: WriteServedNames) -> None:
    # 0644: dnsmasq reads them as its unprivileged user.
    statefile.write_text(a.paths.hosts_file, a.hosts, mode=0o644)
    statefile.write_text(a.paths.dhcp_hosts_file, a.dhcp_hosts, mode=0o644)
    dnsmasq.reload(a.paths.pid_file)  # a dnsmasq (re)started after this reads them anyway


def _replace_guard(a: ReplaceGuardTable) -> None:
    nat.run(guard.replace_commands(a.bridge, a.wanted),
            f"writing nftables table {guard.FAMILY} {guard.table_name(a.bridge)}")  # fmt: skip


def _delete_guard(a: DeleteGuardTable) -> None:
    nat.run(guard.delete_commands(a.bridge),
            f"deleting nftables table {guard.FAMILY} {guard.table_name(a.bridge)}")  # fmt: skip


def _open_chain(a: OpenForeignChain) -> None:
    nat.run(openings.open_commands(a.chain, a.bridge, a.ipv6),
            f"adding rules to nftables chain {a.chain.where()}")  # fmt: skip


def _close_chain(a: CloseForeignChain) -> None:
    nat.run(openings.close_commands(a.chain), f"removing rules from {a.chain.where()}")


def _save(a: SaveSettings) -> None:
    settings.save(a.settings, make_default=a.make_default)


def _remove_state(a: RemoveStateDir) -> None:
    shutil.rmtree(a.path, ignore_errors=True)


def _forget(a: ForgetSettings) -> None:
    settings.forget(a.bridge)


# A handler returns None when it did what its action's description says, or the words
# for what it did instead (a link that left: passed over).
_HANDLERS: dict[type[Action], Callable[[Any], str | None]] = {
    CreateBridge: _create_bridge,
    FixBridgeMac: _fix_bridge_mac,
    AddAddress: _add_address,
    RemoveAddress: _remove_address,
    AddAddress6: _add_address6,
    RemoveAddress6: _remove_address6,
    DisableTxChecksum: _disable_tx_checksum,
    LinkUp: _link_up,
    SetSysctl: _set_sysctl,
    KeepRouterAdverts: _keep_router_adverts,
    ReplaceNatTable: _replace_nat,
    DeleteNatTable: _delete_nat,
    ReplaceGuardTable: _replace_guard,
    WriteServedNames: _write_served,
    DeleteGuardTable: _delete_guard,
    OpenForeignChain: _open_chain,
    CloseForeignChain: _close_chain,
    StopDnsmasq: _stop_dnsmasq,
    StartDnsmasq: _start_dnsmasq,
    SaveSettings: _save,
    DeleteBridge: _delete_bridge,
    RemoveStateDir: _remove_state,
    ForgetSettings: _forget,
}


def apply(
    actions: tuple[Action, ...], on_done: Callable[[Action], None] | None = None
) -> tuple[str, ...]:
    """Carry out actions in order; stop at the first failure (its error says which).
    Returns what was done, one line per action."""
    done = []
    for action in actions:
        said = _HANDLERS[type(action)](action)
        done.append(said or action.description)
        if on_done is not None:
            on_done(action)
    return tuple(done)


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Serialise setup/teardown runs on this host (an fcntl lock under the state dir)."""
    import fcntl

    directory = settings.state_dir() / "net"
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
