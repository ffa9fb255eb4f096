"""Helpers and fixtures for real host-network tests (root, netlink, nftables, dnsmasq).

Everything a test makes has a unique name starting with ``lxpt`` and is removed after
the test, pass or fail: bridges, veths, network namespaces, our nft tables, dnsmasq
processes started under the test's state dir, and processes started in a namespace.
Test subnets are /24s in 10.200.0.0-10.254.255.0 that no host route covers. Under
parallel workers (tests/workers.py) each worker has names and subnets of its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from lxcprov.engine import hostlimits
from tests import workers

REPO = Path(__file__).resolve().parents[3]
_USED_SUBNETS: set[ipaddress.IPv4Network] = set()


def sh(
    *argv: str, check: bool = True, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, check=check, timeout=timeout, env=env
    )


def unique(prefix: str = "lxpt") -> str:
    """A fresh name: the worker's digit, then random ones (as short as before: interface
    names have 15 characters)."""
    if workers.count() == 1:
        return prefix + secrets.token_hex(2)
    return prefix + f"{workers.index():x}" + secrets.token_hex(2)[1:]


def host_routes() -> list[ipaddress.IPv4Network]:
    nets = []
    with IPRoute() as ip:
        for table in (254, 255):  # main and local
            for r in ip.get_routes(family=socket.AF_INET, table=table):
                dst = r.get("RTA_DST")
                if dst and r["dst_len"] > 0:
                    nets.append(ipaddress.IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
        for a in ip.get_addr(family=socket.AF_INET):
            nets.append(
                ipaddress.IPv4Network(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}", strict=False)
            )
    return nets


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 that no route or address of the host covers, and that no test here uses (nor
    any other worker's: each takes every n-th second octet)."""
    taken = host_routes()
    octets = [b for b in range(200, 255) if b % workers.count() == workers.index()]
    candidates = [ipaddress.IPv4Network(f"10.{b}.{c}.0/24") for b in octets for c in range(256)]
    start = secrets.randbelow(len(candidates))
    for net in candidates[start:] + candidates[:start]:
        if net in _USED_SUBNETS or any(net.overlaps(t) for t in taken):
            continue
        _USED_SUBNETS.add(net)
        return net
    raise RuntimeError("no free test subnet")


def gateway(net: ipaddress.IPv4Network) -> str:
    return f"{net.network_address + 1}/{net.prefixlen}"


def link_exists(name: str) -> bool:
    with IPRoute() as ip:
        return bool(ip.link_lookup(ifname=name))


def nft_tables() -> list[tuple[str, str]]:
    out = json.loads(sh("nft", "-j", "list", "tables").stdout)
    return [(t["table"]["family"], t["table"]["name"]) for t in out["nftables"] if "table" in t]


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(entry.name))
    return [p for p in pids if p != os.getpid()]


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class NetLab:
    """What one test made; cleanup() removes all of it."""

    tmp: Path
    bridges: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LXCPROV_CONFIG_DIR"] = str(self.tmp / "etc")
        env["LXCPROV_STATE_DIR"] = str(self.tmp / "var")
        env["PYTHONPATH"] = str(REPO)
        return env

    def bridge(self, prefix: str = "lxpt") -> str:
        name = unique(prefix)
        self.bridges.append(name)
        return name

    def cli(
        self, *args: str, check: bool = True, netns: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `lxcprov net ARGS` in a fresh process, as a user would."""
        argv = [sys.executable, "-c", "from lxcprov.cli.net import app; app()", *args]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=self.env(), timeout=120, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"lxcprov net {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def add_netns(self) -> str:
        name = unique("lxptn")
        sh("ip", "netns", "add", name)
        self.netns.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, netns: str, *, master: str | None = None) -> tuple[str, str]:
        """A veth pair: host end (returned first, up) and an end inside netns (named eth0)."""
        host_end = unique("lxptv")
        peer = unique("lxptp")
        self.links.append(host_end)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", netns)
        sh("ip", "-n", netns, "link", "set", peer, "name", "eth0")
        sh("ip", "-n", netns, "link", "set", "eth0", "up")
        if master:
            sh("ip", "link", "set", host_end, "master", master)
        sh("ip", "link", "set", host_end, "up")
        # Carrier on is not yet a link that sends: until the kernel's linkwatch runs (up to
        # a second later, more under load) each end's queue is the no-op one, and a frame
        # sent at once is dropped before any rule sees it. Its operstate turns UP then.
        _wait_operstate_up(["ip", "-j", "link", "show", host_end])
        _wait_operstate_up(["ip", "-n", netns, "-j", "link", "show", "eth0"])
        return host_end, "eth0"

    def spawn(self, *argv: str, netns: str | None = None) -> subprocess.Popen[str]:
        if netns:
            argv = ("ip", "netns", "exec", netns, *argv)
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env()
        )
        self.procs.append(proc)
        return proc

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.communicate(timeout=5)
        for bridge in self.bridges:
            with contextlib.suppress(Exception):
                self.cli("teardown", "--bridge", bridge, check=False)
        # Anything still running that was started with our tmp dir (dnsmasq, dhclient).
        for pid in processes_mentioning(str(self.tmp)):
            kill_pid(pid)
        for ns in self.netns:
            # Processes left inside the namespace (e.g. a dnsmasq started there).
            for word in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                kill_pid(int(word))
            sh("ip", "netns", "del", ns, check=False)
        for name in self.links + self.bridges:
            if link_exists(name):
                sh("ip", "link", "del", name, check=False)
        for family, table in nft_tables():
            if any(table == f"lxcprov_{b}" for b in self.bridges):
                sh("nft", "delete", "table", family, table, check=False)
                problems.append(f"nft table {table} was left behind")
        return problems


def forwarding_sysctls() -> dict[Path, str]:
    """The sysctls net setup may change (and teardown leaves): IPv4 and IPv6 forwarding,
    and accept_ra (NAT66 keeps the host's own SLAAC with accept_ra 2)."""
    paths = [Path("/proc/sys/net/ipv4/ip_forward")]
    conf = Path("/proc/sys/net/ipv6/conf")
    if conf.is_dir():
        for iface in sorted(conf.iterdir()):
            paths += [iface / "forwarding", iface / "accept_ra"]
    found = {}
    for p in paths:
        with contextlib.suppress(OSError):
            found[p] = p.read_text()
    return found


def restore_sysctls(saved: dict[Path, str]) -> None:
    # all/forwarding first: writing it rewrites every interface's forwarding.
    for path in sorted(saved, key=lambda p: p.parent.name != "all"):
        with contextlib.suppress(OSError):
            if path.read_text() != saved[path]:
                path.write_text(saved[path])


@dataclass(frozen=True)
class LimitState:
    """The host limits doctor --fix raises, and its sysctl file (None: absent), as found."""

    values: dict[Path, str]
    file: str | None

    def restore(self) -> None:
        restore_sysctls(self.values)
        path = Path(hostlimits.SYSCTL_FILE)
        if self.file is None:
            path.unlink(missing_ok=True)
        elif not path.exists() or path.read_text() != self.file:
            path.write_text(self.file)


def limit_sysctls() -> LimitState:
    values = {}
    for name in hostlimits.RAISED:
        p = Path("/proc/sys") / name.replace(".", "/")
        with contextlib.suppress(OSError):
            values[p] = p.read_text()
    try:
        file: str | None = Path(hostlimits.SYSCTL_FILE).read_text()
    except FileNotFoundError:
        file = None
    return LimitState(values, file)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetLab]:
    assert os.geteuid() == 0, "real network tests need root"
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    lab = NetLab(tmp=tmp_path)
    try:
        yield lab
    finally:
        lab.cleanup()
        leftovers = [n for n in lab.bridges + lab.links if link_exists(n)]
        assert not leftovers, f"links left behind: {leftovers}"


def wait_for(predicate: object, timeout: float = 10.0, step: float = 0.1) -> bool:
    """Poll predicate() until true or timeout (a bounded wait, not a timing assertion)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def _wait_operstate_up(show: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while json.loads(sh(*show).stdout)[0].get("operstate") != "UP":
        assert time.monotonic() < deadline, f"{' '.join(show)}: never operationally up"
        time.sleep(0.02)
