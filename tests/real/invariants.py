"""What must hold in an lxcpath and on its bridge whenever no lxcprov command runs: the
oracle of bench/chaos.py and of tests/real/test_chaos.py.

It lives in the test tree (not in lxcprov, not in bench/) because it is a test's judge:
the bench imports it, the real test imports it, and the unit tests that plant a violation
in each check (tests/unit/test_invariants.py) import it without LXC. It observes the host
from the outside (files, /proc, `nft -j`, `ip -j`, flock) and never through lxcprov's own
readers, so a bug in a reader cannot hide itself; what only the CLI can say (its snapshot
list, its clone list) comes from the CLI's --json, compared with what is on disk.

Two halves:

- `observe(scene, cli)`: one snapshot of the host as plain data (`Observed`);
- `check(observed)`: pure, one function per invariant, each returning its violations as
  one-line strings. A check that cannot fail is worthless: each has a planted case.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A command line of lxcprov, run with a timeout: (exit code, stdout, stderr); raises
# subprocess.TimeoutExpired when it hangs.
Cli = Callable[..., tuple[int, str, str]]

STAGE = Path("/run/lxcprov/shares")  # where a start stages a container's shares
BASE_PREFIX = "lxcprov-base-"


@dataclass(frozen=True)
class Scene:
    lxcpath: Path
    state_dir: Path  # LXCPROV_STATE_DIR
    bridge: str


@dataclass
class Observed:
    lxcpath: str
    bridge: str
    configs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # not bases
    bases: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    book: dict[str, str] = field(default_factory=dict)  # owner -> IPv4
    macs: dict[str, str] = field(default_factory=dict)  # owner -> MAC
    dhcp_hosts: list[str] = field(default_factory=list)  # dnsmasq's dhcp-hosts lines
    forwards: list[dict[str, Any]] = field(default_factory=list)
    nat: set[tuple[str, int, str, int]] = field(default_factory=set)  # proto, port, addr, port
    # doctor's forwards-out-of-step warnings on the bridge (listed ports without rules)
    out_of_step: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)  # mount points at or under the lxcpath
    staged: list[str] = field(default_factory=list)  # names staged under STAGE
    live_left: list[str] = field(default_factory=list)  # names with a live-mount dir left
    procs: list[str] = field(default_factory=list)  # "pid cmdline" of lxcprov's processes
    veths: dict[str, str] = field(default_factory=dict)  # lxv* port -> its master
    held_locks: list[str] = field(default_factory=list)
    journals: list[str] = field(default_factory=list)
    snap_dirs: dict[str, set[str]] = field(default_factory=dict)
    snap_hidden: list[str] = field(default_factory=list)
    snap_listed: dict[str, set[str]] = field(default_factory=dict)  # `snapshots NAME`
    snap_counted: dict[str, int] = field(default_factory=dict)  # ls's count, the others
    clones_listed: dict[str, set[str]] = field(default_factory=dict)


# ---------------------------------------------------------------- observing


def read_config(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point))
    return points


def _held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)
    return False


def procs_of(lxcpath: Path) -> list[str]:
    """Processes that carry the lxcpath in their environment (lxcprov commands, their
    children, LXC monitors they forked), outside every container."""
    mine = os.getpid()
    host_root = os.stat("/")
    want = f"LXCPROV_LXCPATH={lxcpath}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        with contextlib.suppress(OSError):
            root = os.stat(entry / "root")
            if (root.st_dev, root.st_ino) != (host_root.st_dev, host_root.st_ino):
                continue
            if want not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{entry.name} {cmd.strip()}")
    return out


def _veths() -> dict[str, str]:
    proc = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return {
        link["ifname"]: link.get("master", "")
        for link in json.loads(proc.stdout or "[]")
        if link["ifname"].startswith("lxv")
    }


def dnat_rules(bridge: str) -> set[tuple[str, int, str, int]]:
    """The published ports in the bridge's nft table: (proto, host port, address, port)."""
    proc = subprocess.run(["nft", "-j", "list", "table", "inet", f"lxcprov_{bridge}"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        return set()
    out = set()
    for item in json.loads(proc.stdout)["nftables"]:
        rule = item.get("rule")
        if rule is None or rule["chain"] not in ("prerouting", "output"):
            continue
        dport, proto, to = None, None, None
        for expr in rule["expr"]:
            match = expr.get("match", {})
            payload = match.get("left", {}).get("payload", {}) if match else {}
            if payload.get("field") == "dport":
                dport, proto = match["right"], payload["protocol"]
            if "dnat" in expr:
                to = expr["dnat"]
        if dport is not None and to is not None:
            out.add((str(proto), int(dport), str(to.get("addr")), int(to.get("port", dport))))
    return out


def _cli_json(cli: Cli, *args: str) -> Any:
    code, out, err = cli(*args, "--json")
    if code != 0:
        raise ObserveError(f"lxcprov {' '.join(args)} --json exited {code}: {err[-300:]}")
    return json.loads(out)


def _out_of_step(cli: Cli, bridge: str) -> list[str]:
    """The messages of doctor's forwards-out-of-step warnings on bridge (doctor exits 1
    while errors remain: its JSON is read all the same; no JSON at all is answers()')."""
    _code, out, _err = cli("doctor", "--json")
    try:
        found = json.loads(out)["findings"]
    except (ValueError, KeyError, TypeError):
        return []
    return [f["message"] for f in found if f["id"] == "forwards-out-of-step"
            and f["subject"] == bridge and f["severity"] == "warning"]  # fmt: skip


class ObserveError(Exception):
    pass


def observe(scene: Scene, cli: Cli, names: set[str] | None = None) -> Observed:
    """names: the containers whose snapshots `snapshots NAME` lists (default: all; for the
    others ls's count is compared with the disk)."""
    lx = scene.lxcpath
    o = Observed(str(lx), scene.bridge)
    for entry in sorted(lx.iterdir()):
        if entry.name.startswith(".") or not (entry / "config").is_file():
            continue
        if entry.name.startswith(BASE_PREFIX):
            o.bases.add(entry.name)
            continue
        o.configs[entry.name] = read_config(entry / "config")
        snaps = entry / "snapshots"
        if snaps.is_dir():
            names = {p.name for p in snaps.iterdir()}
            o.snap_dirs[entry.name] = {n for n in names if not n.startswith(".")}
            o.snap_hidden += [f"{entry.name}/snapshots/{n}" for n in names if n.startswith(".")]
        else:
            o.snap_dirs[entry.name] = set()
    state = lx / ".lxcprov"
    o.held_locks = sorted(p.name for p in (state / "locks").glob("*.lock") if _held(p))
    o.journals = sorted(p.name for p in (state / "journal").glob("*"))
    net = scene.state_dir / "net" / scene.bridge
    o.book = _json(net / "addresses.json") or {}
    o.macs = _json(net / "macs.json") or {}
    with contextlib.suppress(OSError):
        o.dhcp_hosts = [ln for ln in (net / "dhcp-hosts").read_text().splitlines() if ln]
    o.forwards = _json(net / "forwards.json") or []
    o.nat = dnat_rules(scene.bridge)
    o.out_of_step = _out_of_step(cli, scene.bridge)
    o.mounts = [p for p in _mount_points() if p == str(lx) or p.startswith(f"{lx}/")]
    token = hashlib.sha256(str(lx).encode()).hexdigest()[:12]
    with contextlib.suppress(OSError):
        o.staged = sorted(p.name for p in (STAGE / token).iterdir())
    with contextlib.suppress(OSError):
        o.live_left = sorted(p.name.removeprefix(f"{token}-") for p in (STAGE / "live").iterdir()
                             if p.name.startswith(f"{token}-"))  # fmt: skip
    o.procs = procs_of(lx)
    o.veths = _veths()
    rows = _cli_json(cli, "ls")
    o.running = {r["name"] for r in rows if r["state"] == "RUNNING"}
    o.snap_counted = {r["name"]: r["snapshots"] for r in rows if "snapshots" in r}
    asked = [n for n in o.configs if names is None or n in names]
    with ThreadPoolExecutor(4) as pool:  # each a process of its own: two cores, kept busy
        lists = pool.map(lambda n: _cli_json(cli, "snapshots", n), asked)
        for name, listed in zip(asked, lists, strict=True):
            o.snap_listed[name] = {s["name"] for s in listed}
    for base in _cli_json(cli, "bases"):
        o.clones_listed[base["name"]] = set(base["clones"])
    return o


# ---------------------------------------------------------------- the checks (pure)


def _owner(o: Observed, name: str) -> str:
    return f"{name}@{o.lxcpath}"


def _on_bridge(o: Observed) -> dict[str, dict[str, list[str]]]:
    return {n: c for n, c in o.configs.items() if c.get("lxc.net.0.link") == [o.bridge]}


def books(o: Observed) -> list[str]:
    """The address book, the MAC book and dnsmasq's reservations name exactly the
    containers on the bridge, with their config's MAC."""
    bad = []
    mine = {_owner(o, n): c for n, c in _on_bridge(o).items()}
    ours = f"@{o.lxcpath}"
    for what, book in (("address book", o.book), ("MAC book", o.macs)):
        owners = {k for k in book if k.endswith(ours)}
        bad += [f"{what} has {k}, which is no container on {o.bridge}" for k in owners - set(mine)]
        bad += [f"{what} lacks {k}" for k in set(mine) - owners]
    for owner, conf in mine.items():
        mac = (conf.get("lxc.net.0.hwaddr") or [""])[0].lower()
        if owner in o.macs and o.macs[owner] != mac:
            bad.append(f"MAC book says {o.macs[owner]} for {owner}, its config {mac}")
    addrs = [a for k, a in o.book.items() if k.endswith(ours)]
    bad += [f"address {a} booked twice" for a in sorted({a for a in addrs if addrs.count(a) > 1})]
    served = {}
    for line in o.dhcp_hosts:
        parts = line.split(",")
        served[parts[-1]] = parts[0].lower()
    names = set(_on_bridge(o))
    for name in sorted(set(served) - names):
        bad.append(f"dnsmasq reserves for {name}, which is no container on {o.bridge}")
    for name in sorted(names - set(served)):
        bad.append(f"dnsmasq has no reservation for {name}")
    for name in sorted(names & set(served)):
        mac = (o.configs[name].get("lxc.net.0.hwaddr") or [""])[0].lower()
        if served[name] != mac:
            bad.append(f"dnsmasq reserves for {name} by MAC {served[name]}, its config {mac}")
    return bad


def forwards(o: Observed) -> list[str]:
    """Every published port belongs to a container, goes to its booked address, and the
    nft table's DNAT rules are exactly the published ports: never a rule no forward lists
    (an open port `forward ls` does not show); a listed port without its rule only as a
    killed `forward add`/`rm` leaves it (closed), and then doctor must say so."""
    bad = []
    wanted = set()
    for fw in o.forwards:
        owner = fw.get("owner", "")
        name = owner.rpartition("@")[0]
        if not owner.endswith(f"@{o.lxcpath}"):
            continue
        if name not in o.configs:
            bad.append(f"forward {fw.get('host_port')}/{fw.get('proto')} of {owner}, gone")
        elif o.book.get(owner) != fw.get("address"):
            bad.append(f"forward {fw.get('host_port')} of {name} goes to {fw.get('address')}, "
                       f"its address is {o.book.get(owner)}")  # fmt: skip
        wanted.add((fw["proto"], fw["host_port"], fw["address"], fw["container_port"]))
    for rule in sorted(o.nat - wanted):
        bad.append(f"nft DNAT rule {rule} that no forward asks for")
    for rule in sorted(wanted - o.nat):
        if not any(f"{rule[1]}/{rule[0]} -> " in m for m in o.out_of_step):
            bad.append(f"forward {rule} has no nft DNAT rule, and doctor does not say so")
    return bad


def _pins_named(o: Observed) -> set[str]:
    named = set()
    for conf in o.configs.values():
        for entry in conf.get("lxc.mount.entry", []):
            named |= set(re.findall(r"idmap=([^, ]+)", entry))
    return named


def leftovers(o: Observed) -> list[str]:
    """Nothing outlives what owns it: mounts, staged shares, processes, veths, lock
    holders, journals, hidden half-made snapshots."""
    bad = []
    pins = _pins_named(o)
    for point in o.mounts:
        if point not in pins:
            bad.append(f"{point} is still mounted, for nothing that exists")
    bad += [f"{n}'s shares are still staged under {STAGE}" for n in o.staged
            if n not in o.running]  # fmt: skip
    # A killed live `mount add` leaves its empty directory until the container's next
    # start, stop or removal: it may stay with its container, never after it.
    bad += [f"{n} is gone, its live-mount directory under {STAGE}/live is not"
            for n in o.live_left if n not in o.configs]  # fmt: skip
    servers = []
    for proc in o.procs:
        argv0 = Path(proc.split()[1]).name if len(proc.split()) > 1 else ""
        if argv0 == "lxcfs":  # started by a start where no service manager does: the host's
            continue
        if argv0 == "dnsmasq" and f"/net/{o.bridge}/" in proc:  # the bridge's own
            servers.append(proc)
            continue
        name = proc.split()[-1] if "[lxc monitor]" in proc else None
        if name not in o.running:
            bad.append(f"process {proc[:160]} outlived its command")
    if len(servers) > 1:
        bad.append(f"{len(servers)} dnsmasq serve {o.bridge}: " + "; ".join(servers))
    ports = {c.get("lxc.net.0.veth.pair", [""])[0]: n for n, c in o.configs.items()}
    for port, master in sorted(o.veths.items()):
        if master != o.bridge:
            continue
        if ports.get(port) not in o.running:
            bad.append(f"veth {port} on {o.bridge}: no running container owns it")
    bad += [f"lock {lock} is held while no command runs" for lock in o.held_locks]
    bad += [f"journal {j} outlived its command" for j in o.journals]
    bad += [f"half-made snapshot {h} left" for h in o.snap_hidden]
    return bad


def snapshots(o: Observed) -> list[str]:
    """The snapshots listed are the snapshots on disk."""
    bad = []
    for name in sorted(o.configs):
        on_disk = o.snap_dirs.get(name, set())
        if name not in o.snap_listed:
            counted = o.snap_counted.get(name)
            if counted is not None and counted != len(on_disk):
                bad.append(f"{name}: ls counts {counted} snapshots, {len(on_disk)} on disk")
            continue
        listed = o.snap_listed[name]
        bad += [f"{name}: snapshot {s} on disk, not listed" for s in sorted(on_disk - listed)]
        bad += [f"{name}: snapshot {s} listed, not on disk" for s in sorted(listed - on_disk)]
    return bad


def clones(o: Observed) -> list[str]:
    """Every base's clone list is exactly the containers whose rootfs lies on it."""
    bad = []
    on: dict[str, set[str]] = {b: set() for b in o.bases}
    for name, conf in o.configs.items():
        rootfs = (conf.get("lxc.rootfs.path") or [""])[0]
        for base in o.bases:
            if rootfs.startswith(f"overlay:{o.lxcpath}/{base}/rootfs:"):
                on[base].add(name)
    for base in sorted(set(on) | set(o.clones_listed)):
        listed, real = o.clones_listed.get(base, set()), on.get(base, set())
        if base not in on:
            bad.append(f"bases lists {base}, which is not on disk")
        bad += [f"{base}: {n} listed as a clone, is none" for n in sorted(listed - real)]
        bad += [f"{base}: clone {n} not listed" for n in sorted(real - listed)]
    return bad


CHECKS: dict[str, Callable[[Observed], list[str]]] = {
    "books": books,
    "forwards": forwards,
    "leftovers": leftovers,
    "snapshots": snapshots,
    "clones": clones,
}


def check(o: Observed) -> list[str]:
    return [f"{what}: {v}" for what, fn in CHECKS.items() for v in fn(o)]


# ---------------------------------------------------------------- the CLI answers


def answers(cli: Cli, names: list[str]) -> list[str]:
    """ls, show (each container) and doctor end in time, print JSON, never a traceback."""
    bad = []
    every = [("ls",), *(("show", n) for n in names), ("doctor",)]

    def one(args: tuple[str, ...]) -> tuple[int, str, str] | None:
        try:
            return cli(*args, "--json")
        except subprocess.TimeoutExpired:
            return None

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, every))
    for args, result in zip(every, results, strict=True):
        what = "lxcprov " + " ".join(args)
        if result is None:
            bad.append(f"{what} hung")
            continue
        code, out, err = result
        if "Traceback" in err:
            bad.append(f"{what} crashed: {err.strip().splitlines()[-1][:200]}")
            continue
        try:
            json.loads(out)
        except ValueError:
            bad.append(f"{what} exited {code} without JSON: {err.strip()[-200:]}")
    return bad
