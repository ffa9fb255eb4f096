"""Published ports: host port -> a container's port, per bridge, in `forwards.json`.

A forward is a DNAT rule in the bridge's nftables table (lxcprov.system.hostnet.nat) to a
stable container address: a static one, or for a DHCP container a reservation of its MAC
(names.py). Host ports are the host's: two containers, on any bridges, never get one host
address and port, which is checked under one lock for all bridges.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from lxcprov.errors import ForwardError, StateFileError
from lxcprov.system import statefile
from lxcprov.system.hostnet.settings import bridge_state_dir, load_config, state_dir

Proto = Literal["tcp", "udp"]
FILE = "forwards.json"


@dataclass(frozen=True, order=True)
class Forward:
    owner: str  # name@lxcpath
    proto: Proto
    host_port: int
    container_port: int
    address: str  # the container's IPv4 the connection goes to
    host_addr: str = ""  # one host address only ("" = every address of the host)

    def label(self) -> str:
        where = f"{self.host_addr}:" if self.host_addr else ""
        name = self.owner.split("@", 1)[0]
        return f"{where}{self.host_port}/{self.proto} -> {name}:{self.container_port}"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "container": self.owner.split("@", 1)[0]}

    def clashes(self, other: Forward) -> bool:
        same_addr = not self.host_addr or not other.host_addr or self.host_addr == other.host_addr
        return self.proto == other.proto and self.host_port == other.host_port and same_addr


def _check(item: object, path: Path) -> Forward:
    hint = f"fix or remove {path} (`lxcprov forward add` writes it again)"
    if not isinstance(item, dict):
        raise StateFileError(f"{path}: every forward must be a table", hint=hint)
    statefile.check_keys(item, {"owner", "proto", "host_port", "container_port", "address",
                                "host_addr"}, path)  # fmt: skip
    try:
        f = Forward(
            owner=str(item["owner"]), proto=item["proto"], host_port=int(item["host_port"]),
            container_port=int(item["container_port"]), address=str(item["address"]),
            host_addr=str(item.get("host_addr", "")),
        )  # fmt: skip
        ipaddress.IPv4Address(f.address)
        if f.host_addr:
            ipaddress.IPv4Address(f.host_addr)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(f"{path}: a forward of the wrong shape ({exc})", hint=hint) from None
    if f.proto not in ("tcp", "udp") or not all(
        0 < p < 65536 for p in (f.host_port, f.container_port)
    ):
        raise StateFileError(f"{path}: a forward with a bad protocol or port", hint=hint)
    return f


def read(bridge: str) -> list[Forward]:
    path = bridge_state_dir(bridge) / FILE
    raw = statefile.read_json(path)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StateFileError(f"{path} must hold a list of forwards", hint=f"fix or remove {path}")
    return sorted(_check(item, path) for item in raw)


def read_all(bridge: str | None = None) -> dict[str, list[Forward]]:
    """Published ports by bridge (every managed bridge when bridge is None)."""
    names = [bridge] if bridge else sorted(load_config().bridges)
    return {name: read(name) for name in names}


def write(bridge: str, forwards: list[Forward]) -> None:
    path = bridge_state_dir(bridge) / FILE
    text = json.dumps([asdict(f) for f in sorted(forwards)], indent=2) + "\n"
    statefile.write_text(path, text)


# Within a process: threads one at a time (new --count and start --all run some), and the
# thread that holds it may take it again; the flock is taken by the outermost block only.
_in_process = [threading.RLock()]
_depth = [0]  # how deep the holding thread is (only it can change this)


def _after_fork() -> None:
    """A forked child (new --count's) has one thread: a lock another thread of the parent
    held at the fork would never be let go in it."""
    _in_process[0] = threading.RLock()
    _depth[0] = 0


os.register_at_fork(after_in_child=_after_fork)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One lock for the forwards of every bridge (host ports are the host's). Re-entrant
    within a thread: `forward add` holds it around the `net setup` that writes its rules,
    and that setup takes it too (its rules are made from the table it reads under it)."""
    with _in_process[0]:
        if _depth[0]:
            _depth[0] += 1
            try:
                yield
            finally:
                _depth[0] -= 1
            return
        directory = state_dir() / "net"
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / ".forwards.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _depth[0] = 1
            try:
                yield
            finally:
                _depth[0] = 0


def _listeners(proto: str) -> set[tuple[str, int]]:
    """(address, port) of the host's listening sockets, from /proc/net (this netns)."""
    found: set[tuple[str, int]] = set()
    for suffix, size in (("", 4), ("6", 16)):
        try:
            text = Path(f"/proc/net/{proto}{suffix}").read_text(encoding="ascii")
        except OSError:
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or (proto == "tcp" and fields[3] != "0A"):  # 0A: LISTEN
                continue
            addr_hex, _, port_hex = fields[1].partition(":")
            raw = bytes.fromhex(addr_hex)
            # /proc/net writes each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            addr = ipaddress.ip_address(words[:size])
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            found.add((str(addr), int(port_hex, 16)))
    return found


def check_host_port(wanted: Forward) -> None:
    """A host port a host process listens on is the host's: DNAT would take it away from
    it (an sshd on 22 would become unreachable from outside)."""
    wild = {"0.0.0.0", "::"}  # noqa: S104 (reading listeners, not binding)
    for addr, port in _listeners(wanted.proto):
        if port != wanted.host_port:
            continue
        if not wanted.host_addr or addr in wild or addr == wanted.host_addr:
            if addr.startswith("127.") or addr == "::1":
                continue  # loopback listeners are not reached by published traffic
            raise ForwardError(
                f"host port {wanted.host_port}/{wanted.proto} is in use by a service of the "
                f"host (listening on {addr})",
                hint="publish another host port, or stop that service first",
            )


def check_free(wanted: Forward, everywhere: dict[str, list[Forward]]) -> None:
    for bridge, found in everywhere.items():
        for f in found:
            if f.owner != wanted.owner and f.clashes(wanted):
                raise ForwardError(
                    f"host port {wanted.host_port}/{wanted.proto} is already published "
                    f"for {f.owner.split('@', 1)[0]} ({f.label()}, bridge {bridge})",
                    hint="pick another host port, or remove that forward first",
                )
