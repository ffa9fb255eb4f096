"""The dnsmasq we run per bridge: its command line (pure), and read-only probes.

dnsmasq reads no configuration file (``--conf-file=/dev/null``, so neither
/etc/dnsmasq.conf nor /etc/dnsmasq.d is read): every option is on its command line, so
the running process's /proc/<pid>/cmdline says exactly what it does and a changed
setting is seen by comparing command lines. It binds to the bridge only.
Starting and stopping it is done by :mod:`lxcprov.system.hostnet.apply`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import signal
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from lxcprov.system.hostnet.settings import NetSettings
from lxcprov.system.hostnet.subnet import split

LEASE_TIME = "1h"


@dataclass(frozen=True)
class DnsmasqPaths:
    pid_file: Path
    lease_file: Path
    log_file: Path
    hosts_file: Path  # names of containers with static addresses (see names.py)
    dhcp_hosts_file: Path  # MAC -> address reservations (see names.py)

    @classmethod
    def under(cls, directory: Path) -> DnsmasqPaths:
        return cls(
            pid_file=directory / "dnsmasq.pid",
            lease_file=directory / "dnsmasq.leases",
            log_file=directory / "dnsmasq.log",
            hosts_file=directory / HOSTS_FILE,
            dhcp_hosts_file=directory / "dhcp-hosts",
        )


def arguments(settings: NetSettings, paths: DnsmasqPaths, *, dns: bool) -> tuple[str, ...]:
    """dnsmasq's options (without the program itself) for this bridge."""
    sp = split(settings.ipv4)
    gw = str(settings.ipv4.ip)
    lease_max = int(sp.dhcp_last) - int(sp.dhcp_first) + 1
    args = [
        "--conf-file=/dev/null",
        f"--pid-file={paths.pid_file}",
        f"--dhcp-leasefile={paths.lease_file}",
        f"--log-facility={paths.log_file}",
        f"--interface={settings.bridge}",
        "--bind-interfaces",
        "--except-interface=lo",
        f"--listen-address={gw}",
        # The host's own /etc/hosts is the host's: its names (and its loopback addresses)
        # are not served to containers, and cannot shadow a container's name.
        "--no-hosts",
    ]
    if settings.dhcp:
        args += [
            f"--dhcp-range={sp.dhcp_first},{sp.dhcp_last},{settings.ipv4.netmask},{LEASE_TIME}",
            f"--dhcp-lease-max={lease_max}",
            "--dhcp-authoritative",
            "--dhcp-no-override",
            # dnsmasq pings every address before offering it and waits up to 3 s for an
            # echo: that wait was all of a container's time to its first lease (3.1 s
            # measured). Our DHCP range is disjoint from the static range lxcprov hands
            # out, so the only thing the ping could catch is an address set by hand.
            "--no-ping",
            f"--dhcp-option=option:router,{gw}",
            # Every container lxcprov knows, by MAC: its name and its address (names.py).
            f"--dhcp-hostsfile={paths.dhcp_hosts_file}",
            # A name a client sends is never used: a container's name is the one its MAC
            # has in the hosts file, and a client lxcprov does not know gets none (measured
            # with dnsmasq 2.90: without this, any client could take a name nobody holds
            # right now, e.g. that of a stopped container).
            "--dhcp-ignore-names",
            # A lease is the client MAC's (chaddr, which the bridge's guard holds to the
            # port's container), never a client identifier's: any client can send another's
            # (busybox's udhcpc sends 01 and its MAC), and dnsmasq looks a lease up by it
            # first, so a RELEASE with the victim's identifier ended the victim's lease.
            "--dhcp-ignore-clid",
        ]
    args.append("--strict-order")
    if settings.ipv6 is not None:
        net6 = settings.ipv6.network
        # Router advertisements with the /64: SLAAC, the address every distro takes by
        # default, and the only one a container has (the EUI-64 of its MAC, which is
        # what its name resolves to and what the bridge's guard lets it send from).
        # Stateless DHCPv6 (DNS server, no addresses): an address from a DHCPv6 pool
        # could not be bound to a container before it is leased.
        args += ["--enable-ra", f"--listen-address={settings.ipv6.ip}",
                 f"--dhcp-range={net6.network_address},ra-stateless,64,{LEASE_TIME}"]  # fmt: skip
        if settings.nat6:
            # dnsmasq advertises itself as a default router only if the host has an IPv6
            # default route; with NAT66 the host routes the bridge's traffic out anyway.
            args.append(f"--ra-param={settings.bridge},60,1800")
    if dns:
        args.append(f"--dhcp-option=option:dns-server,{gw}")
        # Every container's name and book address (static, or its DHCP reservation), from
        # the books (names.py; dnsmasq rereads it on SIGHUP). A lease cannot take a name
        # this file gives another address.
        args.append(f"--addn-hosts={paths.hosts_file}")
    else:
        # Port 53 on the bridge address belongs to someone else: DHCP only.
        args.append("--port=0")
    return tuple(args)


HOSTS_FILE = "hosts"


def reload(pid_file: Path) -> None:
    """Make our dnsmasq reread its hosts file (SIGHUP), if it runs."""
    pid = read_pid(pid_file)
    argv = process_argv(pid) if pid is not None else None
    if pid is None or argv is None or not is_ours(argv, pid_file):
        pid = find_ours(pid_file)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and 0 < int(text) < 2**22 else None


def process_argv(pid: int) -> tuple[str, ...] | None:
    """The command line of a live process (None when gone or a zombie)."""
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text(encoding="utf-8", errors="replace")
        raw = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    if state in {"Z", "X"} or not raw:
        return None
    return tuple(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0"))


def is_ours(argv: tuple[str, ...], pid_file: Path) -> bool:
    return bool(argv) and Path(argv[0]).name == "dnsmasq" and f"--pid-file={pid_file}" in argv


def find_ours(pid_file: Path) -> int | None:
    """The live dnsmasq started for pid_file, found by its command line, not by the file
    (which a crash or a person may have emptied or garbled)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = process_argv(int(entry.name))
            if argv is not None and is_ours(argv, pid_file):
                return int(entry.name)
    return None


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except (FileNotFoundError, PermissionError):
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _hex_ipv4(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(socket.inet_ntoa(struct.pack("=I", int(text, 16))))


def parse_proc_net(
    text: str, port: int, listen_state: str
) -> list[tuple[ipaddress.IPv4Address, str]]:
    """(local address, inode) of sockets in /proc/net/{tcp,udp} bound to port."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != listen_state:
            continue
        addr, _, port_hex = fields[1].partition(":")
        if int(port_hex, 16) == port:
            found.append((_hex_ipv4(addr), fields[9]))
    return found


def dns_port_holders(address: ipaddress.IPv4Address, own_pid: int | None) -> list[str]:
    """Sockets of other processes on port 53 that would stop dnsmasq binding address:53."""
    own = _socket_inodes(own_pid) if own_pid else set()
    wildcard = ipaddress.IPv4Address(0)
    holders = []
    for proto, state in (("udp", "07"), ("tcp", "0A")):
        try:
            text = Path(f"/proc/net/{proto}").read_text(encoding="ascii")
        except FileNotFoundError:
            continue
        for ip, inode in parse_proc_net(text, 53, state):
            if ip in (address, wildcard) and inode not in own:
                holders.append(f"{proto} {ip}:53")
    return sorted(set(holders))


@dataclass(frozen=True)
class Lease:
    hostname: str | None
    mac: str
    ipv4: ipaddress.IPv4Address
    expiry: dt.datetime | None  # None: never expires


def parse_leases(text: str) -> list[Lease]:
    """Parse a dnsmasq lease file: ``EXPIRY MAC IP HOSTNAME CLIENTID`` lines."""
    leases = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "duid":
            continue
        try:
            ip = ipaddress.IPv4Address(fields[2])
            stamp = int(fields[0])
        except ValueError:
            continue  # an IPv6 lease or garbage
        leases.append(
            Lease(
                hostname=None if fields[3] == "*" else fields[3],
                mac=fields[1].lower(),
                ipv4=ip,
                expiry=None if stamp == 0 else dt.datetime.fromtimestamp(stamp, dt.UTC),
            )
        )
    return leases


def read_leases(lease_file: Path) -> list[Lease]:
    try:
        return parse_leases(lease_file.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return []
