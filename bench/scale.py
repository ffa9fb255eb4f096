"""How lxcprov's commands grow with the number of containers, side by side with raw LXC.

As root, from the worktree (matplotlib only for --plot: `pip install '.[bench]'`):

  .venv/bin/python bench/scale.py --counts 1,10,50,200 --json-out bench/scale-results.json \\
      --plot docs/scale.png

For each N a fresh private lxcpath under /var/tmp/scl-scale-*, one private bridge
(sclbr0, 10.126.2.1/24 and fd26:2::1/64, no NAT) and N busybox containers (cached base):
up to 120 on the bridge with `--ip auto` (`new s --count`; the static half of a /24 holds
126), the others `--network none` (`new t --count`). Then, each a fresh process as a user
runs it, wall clock, single runs unless said:

  new one more     `new` of one more busybox, until its login prompt | lxc-create + lxc-start
                   (10 s after the N are up; median of 3, each removed after, in turns)
  ls               `ls --json`                                       | lxc-ls -f
  show             `show s1`                                         | lxc-info -n s1
  doctor           `doctor` (the host) and `doctor s1`
  stop --all       every container, clean shutdowns     | lxc-stop of each, all at once
  start --all      every container (autostart=yes)      | lxc-start of each, all at once;
                                                          lxc-autostart (one by one) to N=50
  apply (no-op)    `apply` of what `export-spec` prints
  net setup        after a simulated reboot (containers stopped, the bridge deleted, its
                   dnsmasq killed): `net setup --bridge sclbr0`
  memory           an idle container's memory cgroup (memory.usage_in_bytes), the mean

Everything is removed at the end of each N, whatever happened.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxcprov.system import lxc

PY = sys.executable
BRIDGE = "sclbr0"
ADDRESS = "10.126.2.1/24"
IPV6 = "fd26:2::1/64"
# At most this many on the bridge (--ip auto takes the lower half of the /24: 126), the
# rest --network none.
ON_BRIDGE = 120
# Seconds left to the host after the N boots before one more is timed.
SETTLE = 10


class Scale:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lxcpath = root / "lxc"
        self.lxcpath.mkdir()
        self.env = {**os.environ, "LXCPROV_LXCPATH": str(self.lxcpath),
                    "LXCPROV_CONFIG_DIR": str(root / "etc"),
                    "LXCPROV_STATE_DIR": str(root / "state")}  # fmt: skip
        self.password = root / "pw"
        self.password.write_text("bench-password\n")

    def lxcprov(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([PY, "-m", "lxcprov", *args], env=self.env, capture_output=True,
                              text=True, check=False, timeout=timeout)  # fmt: skip
        if done.returncode:
            raise SystemExit(f"lxcprov {' '.join(args)}: exit {done.returncode}\n"
                             f"{done.stderr[-2000:]}")  # fmt: skip
        return done

    def timed(self, *args: str) -> float:
        t0 = time.monotonic()
        self.lxcprov(*args)
        return time.monotonic() - t0

    def raw(self, argv: list[str]) -> float:
        t0 = time.monotonic()
        subprocess.run(argv, check=True, capture_output=True, timeout=900)
        return time.monotonic() - t0

    def raw_all(self, tool: str, names: list[str]) -> float:
        """tool on every container at once, as a shell's `for ...; do tool & done; wait`."""
        t0 = time.monotonic()
        procs = [subprocess.Popen([tool, "-P", str(self.lxcpath), "-n", n],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for n in names]  # fmt: skip
        for p in procs:
            p.wait(300)
        return time.monotonic() - t0

    def names(self) -> list[str]:
        return [c.name for c in lxc.list_containers(self.lxcpath)]

    def running(self) -> int:
        return sum(c.running() for c in lxc.list_containers(self.lxcpath))


def _dnsmasq_of(state: Path) -> list[int]:
    """The dnsmasq of the bench's bridge: its command line names the bench's state dir."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"dnsmasq") and str(state).encode() in b" ".join(argv):
                found.append(int(proc.name))
    return found


@contextlib.contextmanager
def workspace() -> Iterator[Scale]:
    root = Path(tempfile.mkdtemp(prefix="scl-scale-", dir="/var/tmp"))
    root.chmod(0o711)  # unprivileged containers' root must traverse it
    s = Scale(root)
    try:
        s.lxcprov("net", "setup", "--bridge", BRIDGE, "--address", ADDRESS, "--ipv6", IPV6,
                  "--no-nat")  # fmt: skip
        yield s
    finally:
        every = lxc.list_containers(s.lxcpath, include_bases=True)
        for c in every:
            if c.running():
                c.handle.stop()
        for c in sorted(every, key=lambda c: c.name.startswith(lxc.BASE_PREFIX)):
            subprocess.run(["lxc-destroy", "-P", str(s.lxcpath), "-n", c.name],
                           capture_output=True, check=False)  # fmt: skip
        with contextlib.suppress(subprocess.CalledProcessError):
            s.lxcprov("net", "teardown", "--bridge", BRIDGE)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def one_n(n: int) -> dict[str, Any]:
    r: dict[str, Any] = {"n": n}
    with workspace() as s:
        net = ["--bridge", BRIDGE, "--ip", "auto", "--root-password-file", str(s.password)]
        # The static half of the bridge's /24 holds 126 addresses: the rest have no network.
        on_bridge = min(n, ON_BRIDGE)
        r["on_bridge"] = on_bridge
        t0 = time.monotonic()
        s.lxcprov("new", "s", "--count", str(on_bridge), "-t", "busybox", "--autostart", "yes",
                  *net)  # fmt: skip
        if n > on_bridge:
            rest = str(n - on_bridge)
            s.lxcprov("new", "t", "--count", rest, "-t", "busybox", "--autostart", "yes",
                      "--network", "none", "--root-password-file", str(s.password))  # fmt: skip
        r["new_count"] = time.monotonic() - t0
        assert s.running() == n, f"{s.running()} of {n} running"
        # One more on a settled host, three times: the run before timed it once, right
        # after the N booted (1.51 s beside 200; timed that way again later, 0.49-0.51 s:
        # one run of it said little). Settled and repeated, N against N compares.
        time.sleep(SETTLE)
        conf = s.root / "raw.conf"
        conf.write_text(f"lxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\n"
                        "lxc.net.0.flags = up\n")  # fmt: skip
        P = str(s.lxcpath)
        ours, raw = [], []
        for _ in range(3):  # alternately, so that a drift of the host touches both alike
            ours.append(s.timed("new", "extra", "-t", "busybox", *net))
            s.lxcprov("destroy", "--force", "extra")
            create = s.raw(["lxc-create", "-P", P, "-n", "rawx", "-f", str(conf), "-t", "busybox"])
            raw.append(create + s.raw(["lxc-start", "-P", P, "-n", "rawx"]))
            subprocess.run(["lxc-stop", "-P", P, "-n", "rawx", "-k"], capture_output=True)
            subprocess.run(["lxc-destroy", "-P", P, "-n", "rawx"], capture_output=True,
                           check=True)  # fmt: skip
        r["new_one_more"], r["new_one_more_runs"] = statistics.median(ours), ours
        r["raw_create_start"], r["raw_create_start_runs"] = statistics.median(raw), raw

        r["ls"] = min(s.timed("ls", "--json") for _ in range(3))
        r["raw_ls"] = min(s.raw(["lxc-ls", "-P", P, "-f"]) for _ in range(3))
        r["show"] = min(s.timed("show", "s1") for _ in range(3))
        r["raw_info"] = min(s.raw(["lxc-info", "-P", P, "-n", "s1"]) for _ in range(3))
        r["doctor_host"] = s.timed("doctor")
        r["doctor_one"] = s.timed("doctor", "s1")

        time.sleep(3)  # idle: their boots are over
        usage = [int(c.handle.get_cgroup_item("memory.usage_in_bytes"))
                 for c in lxc.list_containers(s.lxcpath) if c.running()]  # fmt: skip
        r["memory_mib"] = sum(usage) / len(usage) / 2**20

        spec = s.root / "spec.toml"
        spec.write_text(s.lxcprov("export-spec").stdout)
        r["apply_noop"] = s.timed("apply", str(spec))

        names = s.names()
        r["stop_all"] = s.timed("stop", "--all")
        assert s.running() == 0
        r["start_all"] = s.timed("start", "--all")
        assert s.running() == n
        r["raw_stop_each_at_once"] = s.raw_all("lxc-stop", names)
        assert s.running() == 0
        r["raw_start_each_at_once"] = s.raw_all("lxc-start", names)
        assert s.running() == n
        if n <= 50:
            s.raw_all("lxc-stop", names)
            r["raw_autostart"] = s.raw(["lxc-autostart", "-P", P, "-a"])
            assert s.running() == n

        # A simulated reboot: containers down, the bridge and its dnsmasq gone.
        s.lxcprov("stop", "--all")
        subprocess.run(["ip", "link", "del", BRIDGE], check=True)
        for pid in _dnsmasq_of(s.root / "state"):
            os.kill(pid, signal.SIGKILL)
        r["net_setup_after_reboot"] = s.timed("net", "setup", "--bridge", BRIDGE)
    return r


ROWS = [
    (
        "new_one_more",
        "raw_create_start",
        "`new` of one more (to login:) | lxc-create+lxc-start (running)",
    ),
    ("ls", "raw_ls", "`ls --json` | lxc-ls -f"),
    ("show", "raw_info", "`show s1` | lxc-info"),
    ("doctor_host", None, "`doctor` (host)"),
    ("doctor_one", None, "`doctor s1`"),
    ("stop_all", "raw_stop_each_at_once", "`stop --all` | lxc-stop of each, at once"),
    ("start_all", "raw_start_each_at_once", "`start --all` | lxc-start of each, at once"),
    ("raw_autostart", None, "lxc-autostart -a (one after another)"),
    ("apply_noop", None, "no-op `apply` of export-spec"),
    ("net_setup_after_reboot", None, "`net setup` after a reboot"),
    ("memory_mib", None, "idle container memory (MiB)"),
    ("new_count", None, "`new s --count N` (all to login:)"),
]


def table(results: list[dict[str, Any]]) -> str:
    counts = [r["n"] for r in results]
    lines = [f"{'measurement (s) | raw LXC':<58}" + "".join(f"{'N=' + str(c):>16}" for c in counts)]
    for key, raw, label in ROWS:
        cells = []
        for r in results:
            mine = f"{r[key]:.2f}" if key in r else "-"
            other = f" | {r[raw]:.2f}" if raw and raw in r else ""
            cells.append(f"{mine + other:>16}")
        lines.append(f"{label:<58}" + "".join(cells))
    return "\n".join(lines)


def markdown(results: list[dict[str, Any]]) -> str:
    """The table as the README shows it."""
    counts = [r["n"] for r in results]
    lines = ["| measurement | " + " | ".join(f"N={c}" for c in counts) + " |",
             "|---" * (len(counts) + 1) + "|"]  # fmt: skip
    for key, raw, label in ROWS:
        cells = [(f"{r[key]:.2f}" if key in r else "-")
                 + (f" \\| {r[raw]:.2f}" if raw and raw in r else "") for r in results]  # fmt: skip
        lines.append(f"| {label.replace('|', chr(92) + '|')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], out: Path) -> None:
    # The bench's alone (pip install '.[bench]'): neither lxcprov nor its checks need it.
    importlib.import_module("matplotlib").use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    counts = [r["n"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, label in (("ls", "ls --json"), ("raw_ls", "lxc-ls -f"), ("show", "show"),
                       ("new_one_more", "new one more"), ("doctor_one", "doctor NAME"),
                       ("net_setup_after_reboot", "net setup after reboot")):  # fmt: skip
        left.plot(counts, [r[key] for r in results], marker="o", label=label)
    left.set(xscale="log", xlabel="containers (N)", ylabel="seconds", title="one command")
    left.legend(fontsize=8)
    for key, label in (("stop_all", "stop --all"), ("start_all", "start --all"),
                       ("raw_stop_each_at_once", "lxc-stop each, at once"),
                       ("raw_start_each_at_once", "lxc-start each, at once"),
                       ("apply_noop", "no-op apply")):  # fmt: skip
        right.plot(counts, [r[key] / r["n"] for r in results], marker="o", label=label)
    right.set(xscale="log", xlabel="containers (N)", ylabel="seconds per container",
              title="every container (per container: flat is linear)")  # fmt: skip
    right.legend(fontsize=8)
    fig.suptitle("lxcprov at scale: busybox containers on one bridge, 2-core machine")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


# Raised for --debian's run and put back after, pass or fail (also on SIGTERM/SIGINT):
# systemd in each container takes inotify instances, and every unprivileged container's
# root is the same host uid, so their keyrings share one quota (kernel.keys.maxkeys 200).
DEBIAN_SYSCTLS = {
    "fs/inotify/max_user_instances": "2048",
    "kernel/keys/maxkeys": "20000",
    "kernel/keys/maxbytes": "2000000",
}


@contextlib.contextmanager
def raised_sysctls() -> Iterator[dict[str, str]]:
    before = {k: Path("/proc/sys", k).read_text().strip() for k in DEBIAN_SYSCTLS}

    def stop(_sig: int, _frame: object) -> None:
        raise SystemExit("interrupted")

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for key, value in DEBIAN_SYSCTLS.items():
            Path("/proc/sys", key).write_text(value)
        yield before
    finally:
        for key, value in before.items():
            Path("/proc/sys", key).write_text(value)
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _ready(c: lxc.Container) -> bool:
    """An IPv4 address and `login:` on a terminal."""
    if not c.ipv4():
        return False
    for tty in (1, 0):
        with contextlib.suppress(Exception), lxc.console_fd(c, tty) as fd:
            os.write(fd, b"\r")
            if b"login:" in lxc.read_until(fd, (b"login:",), 0.1):
                return True
    return False


def _busy_cpu_seconds() -> float:
    """The host's CPU time so far, all cores: user, nice, system, irq and softirq from
    /proc/stat (idle, iowait and the hypervisor's steal are not work done here; guest time
    is already inside user and nice)."""
    f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(c: lxc.Container) -> float:
    """A container's CPU time so far (cgroup v1's cpuacct, else v2's cpu.stat)."""
    with contextlib.suppress(Exception):
        return int(c.handle.get_cgroup_item("cpuacct.usage")) / 1e9
    stat = c.handle.get_cgroup_item("cpu.stat")
    return int(stat.split("usage_usec", 1)[1].split()[0]) / 1e6


def debian(n: int, raw_n: int) -> dict[str, Any]:
    """n Debian containers at once by `new --count` (cached base, --ip auto), then raw_n by
    lxc-create -t debian + lxc-start at once, each until login: and an address."""
    r: dict[str, Any] = {"n": n, "raw_n": raw_n}
    with raised_sysctls() as before, workspace() as s:
        r["sysctls_before"] = before
        net = ["--bridge", BRIDGE, "--ip", "auto", "--root-password-file", str(s.password)]
        s.lxcprov("new", "warm", "-t", "debian", *net)  # the cached base, not timed
        s.lxcprov("destroy", "--force", "warm")
        busy0, t0 = _busy_cpu_seconds(), time.monotonic()
        out = s.lxcprov("new", "d", "--count", str(n), "-t", "debian", "--json", *net)
        r["new_count"] = time.monotonic() - t0
        # Where the CPU went: the whole host's busy time against what the cores allow in
        # that wall clock, and the containers' own share (their cgroups, boots included).
        r["host_busy_cpu_seconds"] = _busy_cpu_seconds() - busy0
        r["cpu_seconds_the_cores_allow"] = (os.cpu_count() or 1) * r["new_count"]
        r["containers_cpu_seconds"] = sum(_cpu_seconds(c) for c in lxc.list_containers(s.lxcpath)
                                          if c.running())  # fmt: skip
        items = json.loads(out.stdout)
        r["ok"] = sum(
            1 for i in items if i["ok"] and i.get("ipv4") and i.get("login_tty") is not None
        )
        time.sleep(5)
        usage = [int(c.handle.get_cgroup_item("memory.usage_in_bytes"))
                 for c in lxc.list_containers(s.lxcpath) if c.running()]  # fmt: skip
        r["memory_mib"] = sum(usage) / len(usage) / 2**20
        r["stop_all"] = s.timed("stop", "--all")
        if raw_n:
            conf = s.root / "raw.conf"
            conf.write_text(f"lxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\n"
                            "lxc.net.0.flags = up\n")  # fmt: skip
            P = str(s.lxcpath)

            def raw_one(i: int) -> bool:
                name = f"raw{i}"
                subprocess.run(["lxc-create", "-P", P, "-n", name, "-f", str(conf), "-t",
                                "debian", "--", "-r", "bookworm"], capture_output=True,
                               check=True)  # fmt: skip
                subprocess.run(["lxc-start", "-P", P, "-n", name], check=True)
                c = lxc.Container(name, s.lxcpath)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    if _ready(c):
                        return True
                    time.sleep(0.2)
                return False

            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(raw_n) as pool:
                got = list(pool.map(raw_one, range(raw_n)))
            r["raw_seconds"] = time.monotonic() - t0
            r["raw_ok"] = sum(got)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--counts", default="1,10,50,200")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--merge", type=Path, default=None, help="add to the results in this JSON")
    ap.add_argument("--plot", type=Path, default=None, help="draw a PNG (needs matplotlib)")
    ap.add_argument("--markdown", action="store_true", help="print --merge's table for README")
    ap.add_argument("--debian", type=int, default=0, help="instead: N Debian containers at once")
    ap.add_argument("--debian-raw", type=int, default=0, help="and this many by raw LXC")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if opts.markdown:
        print(markdown(json.loads(opts.merge.read_text())["results"]))
        return 0
    if opts.debian:
        got = debian(opts.debian, opts.debian_raw)
        print(json.dumps(got, indent=2))
        if opts.json_out:
            opts.json_out.write_text(json.dumps(got, indent=2) + "\n")
        return 0
    results: list[dict[str, Any]] = []
    if opts.merge and opts.merge.exists():
        results = json.loads(opts.merge.read_text())["results"]
    for n in (int(c) for c in opts.counts.split(",") if c):
        results = [r for r in results if r["n"] != n] + [one_n(n)]
        print(f"N={n} done", file=sys.stderr, flush=True)
    results.sort(key=lambda r: r["n"])
    print(table(results))
    if opts.json_out:
        opts.json_out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results},
                                            indent=2) + "\n")  # fmt: skip
    if opts.plot:
        plot(results, opts.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
