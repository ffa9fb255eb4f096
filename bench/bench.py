"""Raw LXC against lxcprov, side by side. As root: .venv/bin/python bench/bench.py

Everything happens in a private lxcpath under /var/tmp and on a private bridge with no
NAT (an lxc-net-like bridge plus dnsmasq, made by `lxcprov net setup --no-nat`), and is
removed at the end. Prints a table and writes the numbers as JSON (--json-out).

What is measured (wall clock, medians of --runs runs):
  raw      lxc-create -t debian from the template cache, lxc-start, then until the
           container holds an IPv4 lease and some terminal shows `login:`; each run
           paired with a cached `new --ip auto` right after it (the ratio, run by run)
  first    lxcprov new (it builds the base), to login prompt and IPv4
  cached   lxcprov new when the base exists (a snapshot clone), DHCP and --ip auto
  many     N = 1, 5, 20 at once with both
  memory   of an idle Debian container (its memory cgroup), and `lxcprov ls` with 50

With --pairs-only: only the raw/cached pairs and cached DHCP, with where a cached `new`
spends its time (before the clone, clone, recipes, lxc-start, boot); a few minutes.
--bridge and --subnet choose the private bridge and its /24 (default: a free 10.250.x.0/24).
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import contextlib
import ipaddress
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lxc as pylxc
from pyroute2 import IPRoute

from lxcprov.system import lxc

REPO = Path(__file__).resolve().parents[1]
BRIDGE = "lxpbench0"  # --bridge changes it


def free_subnet(wanted: str | None = None) -> ipaddress.IPv4Network:
    if wanted:
        return ipaddress.IPv4Network(wanted)
    taken = []
    with IPRoute() as ip:
        for r in ip.get_routes(family=socket.AF_INET):
            if r.get("RTA_DST"):
                taken.append(ipaddress.IPv4Network(f"{r.get('RTA_DST')}/{r['dst_len']}", False))
    for c in range(256):
        net = ipaddress.IPv4Network(f"10.250.{c}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return net
    raise SystemExit("no free subnet for the benchmark bridge")


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.lxcpath = work / "lxc"
        self.lxcpath.mkdir()
        self.env = dict(os.environ)
        self.env.update(
            LXCPROV_LXCPATH=str(self.lxcpath),
            LXCPROV_CONFIG_DIR=str(work / "etc"),
            LXCPROV_STATE_DIR=str(work / "state"),
        )
        self.password = work / "pw"
        self.password.write_text("bench-password\n")
        self.counter = 0

    def lxcprov(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lxcprov", *args],
            env=self.env, capture_output=True, text=True, check=True, timeout=1800,
        )  # fmt: skip

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # -- raw LXC -----------------------------------------------------------------------

    def raw_one(self) -> dict[str, Any]:
        name = self.name("raw")
        conf = self.work / "raw.conf"
        conf.write_text(f"lxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\nlxc.net.0.flags = up\n")
        t0 = time.monotonic()
        subprocess.run(
            ["lxc-create", "-P", str(self.lxcpath), "-n", name, "-f", str(conf),
             "-t", "debian", "--", "-r", "bookworm"],
            check=True, capture_output=True,
        )  # fmt: skip
        created = time.monotonic()
        subprocess.run(["lxc-start", "-P", str(self.lxcpath), "-n", name], check=True)
        c = lxc.Container(name, self.lxcpath)
        ipv4_at = login_at = None
        login_tty = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (ipv4_at is None or login_at is None):
            if ipv4_at is None and c.ipv4():
                ipv4_at = time.monotonic()
            if login_at is None:
                login_tty = self._any_login(c)
                if login_tty is not None:
                    login_at = time.monotonic()
            time.sleep(0.05)
        ready = max(ipv4_at or deadline, login_at or deadline)
        return {
            "create": created - t0,
            "start_to_ready": ready - created,
            "total": ready - t0,
            "ipv4": ipv4_at is not None,
            "login_tty": login_tty,
            "root_can_log_in": False,  # root:* in /etc/shadow: nobody can, without a fix
        }

    @staticmethod
    def _any_login(c: lxc.Container) -> int | None:
        for tty in (1, 2, 0):
            with contextlib.suppress(Exception), lxc.console_fd(c, tty) as fd:
                os.write(fd, b"\r")
                if b"login:" in lxc.read_until(fd, (b"login:",), 0.1):
                    return tty
        return None

    def raw_many(self, n: int) -> dict[str, Any]:
        """n raw containers at once; how long until all are ready, and how many got there."""
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            results = list(pool.map(lambda _i: self.raw_one(), range(n)))
        return {
            "seconds": time.monotonic() - t0,
            "with_ipv4": sum(1 for r in results if r["ipv4"]),
            "with_login_prompt": sum(1 for r in results if r["login_tty"] is not None),
        }

    # -- lxcprov -----------------------------------------------------------------------

    def new(self, *extra: str, prefix: str = "lp") -> dict[str, Any]:
        name = self.name(prefix)
        t0 = time.monotonic()
        out = self.lxcprov(
            "new", name, "-t", "debian", "--root-password-file", str(self.password),
            "--json", *extra,
        )  # fmt: skip
        wall = time.monotonic() - t0
        data = json.loads(out.stdout)
        networked = "none" not in extra
        assert (bool(data["ipv4"]) == networked) and data["login_tty"] == 1, data
        row = {"wall": wall, **data["timings"]}
        # What is left once the phases `new` times are taken away: the interpreter, the
        # imports, the checks, the lock and the journal before the clone, and the exit.
        boot = max(row.get("boot_to_login", 0.0), row.get("boot_to_ipv4", 0.0))
        row["outside_phases"] = wall - row.get("clone", 0.0) - row.get("fixups", 0.0) - boot
        return row

    def many(self, n: int, *extra: str) -> float:
        t0 = time.monotonic()
        out = self.lxcprov(
            "new", self.name("m"), "--count", str(n), "-t", "debian",
            "--root-password-file", str(self.password), "--json", *extra,
        )  # fmt: skip
        wall = time.monotonic() - t0
        items = json.loads(out.stdout)
        assert all(i["ok"] for i in items) and len({i["ipv4"][0] for i in items}) == n
        return wall

    def destroy_containers(self) -> None:
        """Every container but the bases: lxcprov's through lxcprov (so its bases' clone
        lists and address books stay true), the raw ones through liblxc."""
        for n in pylxc.list_containers(config_path=str(self.lxcpath)):
            if n.startswith("lxcprov-base-"):
                continue
            if n.startswith("raw"):
                c = pylxc.Container(n, str(self.lxcpath))
                if c.running:
                    c.stop()
                c.destroy()
            else:
                self.lxcprov("destroy", n, "--force")

    def destroy_all(self) -> None:
        names = pylxc.list_containers(config_path=str(self.lxcpath))
        for n in sorted(names, key=lambda x: x.startswith("lxcprov-base-")):
            c = pylxc.Container(n, str(self.lxcpath))
            if c.running:
                c.stop()
            c.destroy()


def median(fn: Callable[[], float], runs: int) -> tuple[float, list[float]]:
    values = [fn() for _ in range(runs)]
    return statistics.median(values), values


@contextlib.contextmanager
def workspace(subnet: str | None = None, prefix: str = "lxcprov-bench-") -> Iterator[Bench]:
    # Bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE set and no
    # __pycache__, every run compiles lxcprov's modules again (0.1 s more per command here).
    compileall.compile_dir(REPO / "lxcprov", quiet=1)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    work.chmod(0o711)  # unprivileged containers' root must traverse it to reach their rootfs
    bench = Bench(work)
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    # 20 systemd containers need more inotify instances than the kernel's default 128 for
    # root (measured: the 17th stops at boot), for raw LXC and lxcprov alike.
    inotify = Path("/proc/sys/fs/inotify/max_user_instances")
    inotify_before = inotify.read_text()
    inotify.write_text("1024")
    try:
        net = free_subnet(subnet)
        bench.lxcprov(
            "net", "setup", "--bridge", BRIDGE, "--address", f"{net.network_address + 1}/24",
            "--no-nat",
        )  # fmt: skip
        yield bench
    finally:
        bench.destroy_all()
        with contextlib.suppress(subprocess.CalledProcessError):
            bench.lxcprov("net", "teardown", "--bridge", BRIDGE)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)
        inotify.write_text(inotify_before)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    global BRIDGE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--many", default="1,5,20", help="container counts for the at-once runs")
    ap.add_argument("--ls-count", type=int, default=50)
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument(
        "--also-release",
        action="append",
        default=[],
        help="another Debian release to measure cached new on (e.g. trixie); repeatable",
    )
    ap.add_argument("--bridge", default=BRIDGE, help="the private bridge's name")
    ap.add_argument("--subnet", default=None, help="its IPv4 /24 (default: a free 10.250.x.0/24)")
    ap.add_argument("--work-prefix", default="lxcprov-bench-",
                    help="name prefix of its directory under /var/tmp")  # fmt: skip
    ap.add_argument("--pairs-only", action="store_true",
                    help="only raw/cached pairs and cached DHCP, with the breakdown")  # fmt: skip
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    BRIDGE = opts.bridge
    res: dict[str, Any] = {"runs": opts.runs, "machine": {"cpus": os.cpu_count()}}
    if opts.pairs_only:
        with workspace(opts.subnet, opts.work_prefix) as b:
            res.update(pairs(b, opts.runs))
        _print_pairs(res)
        text = json.dumps(res, indent=2, default=str)
        print(text)
        if opts.json_out:
            opts.json_out.write_text(text + "\n")
        return 0
    with workspace(opts.subnet, opts.work_prefix) as b:
        b.lxcprov("new", "warm", "-t", "debian", "--no-base", "--network", "none", "--no-start")
        first = b.new()  # unprivileged (the default): its base is shifted once
        res["lxcprov_first"] = first
        res["lxcprov_first_privileged"] = b.new("--privileged")
        bases_now = json.loads(b.lxcprov("bases", "--json").stdout)
        res["base_shift_seconds"] = max(float(x.get("shift_seconds", 0)) for x in bases_now)
        # Unprivileged and privileged interleaved, so both see the same machine.
        dhcp: list[dict[str, Any]] = []
        privileged: list[dict[str, Any]] = []
        for _ in range(opts.runs):
            dhcp.append(b.new())
            privileged.append(b.new("--privileged"))
        # Raw LXC and lxcprov's cached --ip auto interleaved, pair by pair: the ratio compares
        # the two on the same machine at the same moment (raw lxc-create alone varied
        # from 3.4 to 5.2 s here between runs).
        raw: list[dict[str, Any]] = []
        static: list[dict[str, Any]] = []
        for _ in range(opts.runs):
            # Each from a quiet disk: the template copy leaves ~300 MB to write back, and
            # the fsyncs of the next command would wait for it (clone 0.29 s instead of 0.02).
            os.sync()
            raw.append(b.raw_one())
            os.sync()
            static.append(b.new("--ip", "auto"))
        res["raw"] = {
            "total_median": statistics.median(r["total"] for r in raw),
            "create_median": statistics.median(r["create"] for r in raw),
            "start_to_ready_median": statistics.median(r["start_to_ready"] for r in raw),
            "login_tty": sorted({str(r["login_tty"]) for r in raw}),
            "root_can_log_in": False,
        }
        res["ratio_to_create_pairs"] = [
            s["wall"] / r["create"] for r, s in zip(raw, static, strict=True)
        ]
        for key, rows in (
            ("lxcprov_cached_dhcp", dhcp),
            ("lxcprov_cached_privileged", privileged),
            ("lxcprov_cached_ip_auto", static),
        ):
            res[key] = {
                k: statistics.median(r[k] for r in rows)
                for k in ("wall", "clone", "fixups", "boot_to_login", "boot_to_ipv4")
            }
        nonet = [b.new("--network", "none") for _ in range(opts.runs)]
        res["lxcprov_cached_no_network"] = {
            k: statistics.median(r[k] for r in nonet) for k in ("wall", "boot_to_login")
        }
        for release in opts.also_release:
            b.new("-r", release, "--ip", "auto")  # builds its base
            rows = [b.new("-r", release, "--ip", "auto") for _ in range(opts.runs)]
            res[f"lxcprov_cached_ip_auto_{release}"] = {
                k: statistics.median(r[k] for r in rows) for k in ("wall", "boot_to_login")
            }
        res["unprivileged_to_privileged"] = (
            res["lxcprov_cached_dhcp"]["wall"] / res["lxcprov_cached_privileged"]["wall"]
        )
        res["many"] = {}
        for n in (int(x) for x in opts.many.split(",")):
            # Each on an otherwise empty host: the containers of the run before are gone
            # (twenty raw Debian containers still retrying DHCP would slow the next run).
            # The bases stay: "N at once" is N cached `new`s, as in the table's other rows.
            row: dict[str, Any] = {"raw": b.raw_many(n)}
            b.destroy_containers()
            row["lxcprov_dhcp"] = b.many(n)
            b.destroy_containers()
            row["lxcprov_ip_auto"] = b.many(n, "--ip", "auto")
            b.destroy_containers()
            res["many"][n] = row
        # Idle memory of one Debian container, from its memory cgroup.
        b.new(prefix="idle")
        time.sleep(5)
        idle = pylxc.Container(f"idle{b.counter}", str(b.lxcpath))
        res["idle_memory_mib"] = int(idle.get_cgroup_item("memory.usage_in_bytes")) / 2**20
        b.destroy_all()
        b.lxcprov(
            "new", "ls", "--count", str(opts.ls_count), "-t", "busybox",
            "--root-password-file", str(b.password),
        )  # fmt: skip
        res["ls_seconds"], res["ls_runs"] = median(
            lambda: _timed(lambda: b.lxcprov("ls", "--json")), max(opts.runs, 3)
        )
    res["ratio_cached_to_raw"] = res["lxcprov_cached_ip_auto"]["wall"] / res["raw"]["total_median"]
    _print_table(res)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if opts.json_out:
        opts.json_out.write_text(text + "\n")
    return 0


BREAKDOWN = ("wall", "outside_phases", "network", "clone", "fixups", "start", "boot_to_login",
             "boot_to_ipv4")  # fmt: skip


def pairs(b: Bench, runs: int) -> dict[str, Any]:
    """Raw `lxc-create` and a cached `new --ip auto`, pair by pair, then cached DHCP runs;
    medians of each phase."""
    b.lxcprov("new", "warm", "-t", "debian", "--no-base", "--network", "none", "--no-start")
    b.new()  # builds the base
    raw: list[dict[str, Any]] = []
    static: list[dict[str, Any]] = []
    for _ in range(runs):
        os.sync()
        raw.append(b.raw_one())
        os.sync()
        static.append(b.new("--ip", "auto"))
    b.destroy_containers()
    dhcp = []
    for _ in range(runs):
        os.sync()
        dhcp.append(b.new())
    out: dict[str, Any] = {
        "raw_create_median": statistics.median(r["create"] for r in raw),
        "raw_total_median": statistics.median(r["total"] for r in raw),
        "ratio_to_create_pairs": [
            s["wall"] / r["create"] for r, s in zip(raw, static, strict=True)
        ],
    }
    for key, rows in (("cached_ip_auto", static), ("cached_dhcp", dhcp)):
        out[key] = {k: statistics.median(r.get(k, 0.0) for r in rows) for k in BREAKDOWN}
        out[key + "_runs"] = [r["wall"] for r in rows]
    return out


def _print_pairs(r: dict[str, Any]) -> None:
    labels = {
        "wall": "wall clock, to login: and the address",
        "outside_phases": "  outside the timed phases (interpreter, imports, lock, exit)",
        "network": "  network decision, address claim, guard, dnsmasq",
        "clone": "  clone",
        "fixups": "  recipes",
        "start": "  lxc-start",
        "boot_to_login": "  lxc-start to login: (includes lxc-start)",
        "boot_to_ipv4": "  lxc-start to the address (includes lxc-start)",
    }
    print(f"{'cached lxcprov new -t debian (medians)':<62} {'--ip auto':>9} {'DHCP':>7}",
          file=sys.stderr)  # fmt: skip
    for k in BREAKDOWN:
        a, d = r["cached_ip_auto"][k], r["cached_dhcp"][k]
        print(f"{labels[k]:<62} {a:9.3f} {d:7.3f}", file=sys.stderr)
    print(f"{'raw lxc-create alone (cached template)':<62} {r['raw_create_median']:9.2f}",
          file=sys.stderr)  # fmt: skip
    pairs_text = " ".join(f"{x:.3f}" for x in r["ratio_to_create_pairs"])
    print(f"ratio cached --ip auto / raw lxc-create, run by run: {pairs_text}", file=sys.stderr)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def _print_table(r: dict[str, Any]) -> None:
    raw = r["raw"]
    rows = [
        ("raw LXC: create + start to IPv4 + some login prompt", raw["total_median"]),
        ("  of which lxc-start to ready", raw["start_to_ready_median"]),
        ("lxcprov new, first (builds the base, shifts it)", r["lxcprov_first"]["wall"]),
        ("  of which the one-time shift of the base", r["base_shift_seconds"]),
        ("lxcprov new --privileged, first (its own base)", r["lxcprov_first_privileged"]["wall"]),
        ("lxcprov new, cached, DHCP (unprivileged)", r["lxcprov_cached_dhcp"]["wall"]),
        ("lxcprov new --privileged, cached, DHCP", r["lxcprov_cached_privileged"]["wall"]),
        ("lxcprov new, cached, --ip auto", r["lxcprov_cached_ip_auto"]["wall"]),
        ("  of which clone", r["lxcprov_cached_ip_auto"]["clone"]),
        ("  of which fixups", r["lxcprov_cached_ip_auto"]["fixups"]),
        ("  of which start to login prompt", r["lxcprov_cached_ip_auto"]["boot_to_login"]),
        ("lxcprov new, cached, --network none", r["lxcprov_cached_no_network"]["wall"]),
        ("raw LXC: lxc-create alone (cached template)", raw["create_median"]),
    ]
    rows += [
        (f"lxcprov new -r {k.rsplit('_', 1)[1]}, cached, --ip auto", v["wall"])
        for k, v in r.items()
        if k.startswith("lxcprov_cached_ip_auto_")
    ]
    for n, m in r["many"].items():
        rows += [
            (
                f"{n} at once: raw LXC ({m['raw']['with_ipv4']}/{n} got IPv4 in 60 s)",
                m["raw"]["seconds"],
            ),
            (f"{n} at once: lxcprov, DHCP", m["lxcprov_dhcp"]),
            (f"{n} at once: lxcprov, --ip auto", m["lxcprov_ip_auto"]),
        ]
    rows += [(f"lxcprov ls --json with {50} containers", r["ls_seconds"])]
    print(f"{'measurement':<58} seconds", file=sys.stderr)
    for label, value in rows:
        print(f"{label:<58} {value:7.2f}", file=sys.stderr)
    print(
        f"{'idle Debian container memory (MiB)':<58} {r['idle_memory_mib']:7.1f}", file=sys.stderr
    )
    print(f"{'ratio lxcprov cached / raw':<58} {r['ratio_cached_to_raw']:7.2f}", file=sys.stderr)
    to_create = r["lxcprov_cached_ip_auto"]["wall"] / raw["create_median"]
    print(f"{'ratio lxcprov cached / raw lxc-create alone':<58} {to_create:7.2f}", file=sys.stderr)
    pairs = " ".join(f"{x:.2f}" for x in r["ratio_to_create_pairs"])
    print(f"{'  the same, run by run (interleaved pairs)':<58} {pairs}", file=sys.stderr)
    print(
        f"{'ratio unprivileged / privileged (cached, DHCP)':<58} "
        f"{r['unprivileged_to_privileged']:7.2f}",
        file=sys.stderr,
    )
    print(f"raw LXC login prompt seen on tty: {raw['login_tty']} (root locked)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
