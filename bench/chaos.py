"""Chaos: random state-changing commands at once, random ones SIGKILLed, invariants after.

As root, under the machine-wide lock:
  flock /tmp/lxcprov-real.lock .venv/bin/python bench/chaos.py --seed 1 --workers 3 \
      --kills 60 [--json-out F] [--bridge chabr0]

Everything happens in a private lxcpath under /var/tmp (busybox containers, a cached base
built once at the start) on a bridge of its own (10.126.1.0/24, fd26:1::/64, no NAT),
all removed at the end. The run is a sequence of rounds. In each round W workers each run
one random command (new, copy, snapshot, restore, set, mount, forward, apply, export,
import, convert, destroy, net setup, and the stops and starts some of them need) on
random containers, all at once; three in four of them are SIGKILLed at a random instant
of their own (if still running then). When the round's commands have ended, the
invariants are checked (tests/real/invariants.py): ls, show and doctor answer; each
container a killed command touched works (starts, reaches `login:`, holds its address)
or is INCOMPLETE and `doctor --fix` / `destroy --force` removes it; then books,
forwards, leftovers, snapshots and clone lists. At the end every container must work,
and once all are destroyed nothing of lxcprov's may stay mounted under the lxcpath (it
must be removable).

The seed decides every choice (commands, targets, which one is killed, when); only the
instant a kill lands in a command depends on the machine. Every violation is printed with
the seed and the round it was found in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.real import invariants

PY = sys.executable
SUBNET = "10.126.1.1/24"
SUBNET6 = "fd26:1::1/64"
COMMAND_TIMEOUT = 180.0
ANSWER_TIMEOUT = 60.0
MAX_CONTAINERS = 7


@dataclass
class Report:
    seed: int
    workers: int
    kills: int = 0
    rounds: int = 0
    checks: int = 0
    commands: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # every command: round, exit, its last line

    def violated(self, step: str, what: str) -> None:
        self.violations.append({"seed": self.seed, "step": step, "violation": what})
        print(f"VIOLATION seed={self.seed} step={step}: {what}", file=sys.stderr, flush=True)


class Lab:
    """The private lxcpath, state dirs and bridge of one run."""

    def __init__(self, root: Path, bridge: str) -> None:
        self.root = root
        self.lxcpath = root / "lxc"
        self.share = root / "share"
        self.archives = root / "archives"
        self.bridge = bridge
        self.env = dict(os.environ)
        self.env.update(LXCPROV_LXCPATH=str(self.lxcpath), LXCPROV_CONFIG_DIR=str(root / "etc"),
                        LXCPROV_STATE_DIR=str(root / "var"))  # fmt: skip
        self.scene = invariants.Scene(self.lxcpath, root / "var", bridge)

    def argv(self, *args: str) -> list[str]:
        return [PY, "-m", "lxcprov", *args]

    def cli(self, *args: str, timeout: float = ANSWER_TIMEOUT) -> tuple[int, str, str]:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env,
                              timeout=timeout, check=False)  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    def spawn(self, args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=self.env)  # fmt: skip

    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.lxcpath.iterdir()
            if (p / "config").is_file() and not p.name.startswith(("lxcprov-base-", "."))
        )  # fmt: skip


# ------------------------------------------------------------------ random commands


class Chooser:
    """Every choice of the run, from one seeded generator."""

    def __init__(self, rng: random.Random, lab: Lab) -> None:
        self.rng = rng
        self.lab = lab
        self.serial = 0

    def fresh(self) -> str:
        self.serial += 1
        return f"x{self.serial}"

    def command(self, names: list[str], busy: set[str]) -> tuple[list[str], set[str]]:
        """A random command and the containers it names (none in busy: one command per
        container per round, so each round's invariants have one cause per container)."""
        free = [n for n in names if n not in busy]
        r = self.rng
        if not free or (len(free) < 4 and r.random() < 0.5):
            return self._new()
        name = r.choice(free)
        if len(names) >= MAX_CONTAINERS and r.random() < 0.5:  # kept small: rounds stay short
            return ["destroy", "--force", name], {name}
        kind = r.choice(["copy", "snapshot", "restore", "set", "mount", "forward", "apply",
                         "export", "import", "convert", "destroy", "net", "stop", "new",
                         "snaprm", "start"])  # fmt: skip
        if kind in ("new", "copy", "import") and len(names) >= MAX_CONTAINERS:
            kind = "stop"
        if kind == "new":
            return self._new()
        if kind == "copy":
            new = self.fresh()
            return ["copy", name, new], {name, new}
        if kind == "snapshot":
            return ["snapshot", name, f"s{r.randint(1, 3)}"], {name}
        if kind == "snaprm":
            return ["snapshot", "rm", name, f"s{r.randint(1, 3)}"], {name}
        if kind == "restore":
            return ["restore", name, f"s{r.randint(1, 3)}"], {name}
        if kind == "set":
            key = r.choice([f"memory={r.randint(64, 256)}M", f"cpu-weight={r.randint(50, 500)}",
                            "memory=none", f"autostart={r.choice(['yes', 'no'])}",
                            r.choice(["ip=auto", "ip=dhcp"])])  # fmt: skip
            return ["set", name, key], {name}
        if kind == "mount":
            target = f"/mnt/s{r.randint(1, 2)}"
            if r.random() < 0.6:
                return ["mount", "add", name, str(self.lab.share), target], {name}
            return ["mount", "rm", name, target], {name}
        if kind == "forward":
            if r.random() < 0.6:
                return ["forward", "add", name, str(r.randint(26000, 26040)), "80"], {name}
            return ["forward", "rm", name], {name}
        if kind == "apply":
            return self._apply(name), {name}
        if kind == "export":
            return ["export", name, str(self.lab.archives / f"{name}.tar.gz")], {name}
        if kind == "import":
            archives = sorted(self.lab.archives.glob("*.tar.gz"))
            if not archives:
                return self._new()
            new = self.fresh()
            return ["import", str(r.choice(archives)), new, "--new-identity"], {new}
        if kind == "convert":
            return ["convert", name, r.choice(["--privileged", "--unprivileged"])], {name}
        if kind == "destroy":
            return ["destroy", "--force", name], {name}
        if kind == "net":
            return ["net", "setup"], set()
        if kind == "stop":
            return ["stop", name], {name}
        return ["start", name], {name}

    def _new(self) -> tuple[list[str], set[str]]:
        r = self.rng
        name = self.fresh()
        args = ["new", name, "-t", "busybox"]
        if r.random() < 0.15:
            args += ["--network", "none"]
        elif r.random() < 0.4:
            args += ["--ip", "auto"]
        if r.random() < 0.25:
            args += ["--publish", f"{r.randint(26041, 26080)}:80"]
        if r.random() < 0.25:
            args += ["--mount", f"{self.lab.share}:/mnt/s1"]
        if r.random() < 0.2:
            args += ["--no-start"]
        return args, {name}

    def _apply(self, name: str) -> list[str]:
        doc = self.lab.root / f"apply-{name}-{self.rng.randint(0, 9)}.toml"
        memory = f"{self.rng.randint(64, 256)}M"
        doc.write_text(f'version = 1\n[containers.{name}]\ntemplate = "busybox"\n'
                       f'bridge = "{self.lab.bridge}"\nmemory = "{memory}"\n')  # fmt: skip
        return ["apply", str(doc)]


# ------------------------------------------------------------------ a round


@dataclass
class Running:
    args: list[str]
    names: set[str]
    proc: subprocess.Popen[str]


def _round(lab: Lab, chooser: Chooser, workers: int,
           report: Report) -> tuple[list[Running], set[str]]:  # fmt: skip
    """W commands at once; three in four of them get an instant of their own (0.05-0.8 s
    in) and are SIGKILLed then if still running. Returns the killed ones and the
    containers the round named."""
    names = lab.names()
    busy: set[str] = set()
    running = []
    for _ in range(workers):
        args, touched = chooser.command(names, busy)
        busy |= touched
        running.append(Running(args, touched, lab.spawn(args)))
    report.commands += len(running)
    instants = sorted((chooser.rng.uniform(0.05, 0.8), i) for i in range(len(running))
                      if chooser.rng.random() < 0.75)  # fmt: skip
    began = time.monotonic()
    killed = []
    for at, i in instants:
        time.sleep(max(0.0, at - (time.monotonic() - began)))
        if running[i].proc.poll() is None:
            running[i].proc.send_signal(signal.SIGKILL)
            killed.append(running[i])
    for r in running:
        try:
            _, err = r.proc.communicate(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            r.proc.kill()
            _, err = r.proc.communicate()
            report.violated(f"round {report.rounds}", f"lxcprov {' '.join(r.args)} hung")
            continue
        said = (err or "").strip().splitlines()[-1:] or [""]
        mark = " KILLED" if r in killed else ""
        report.log.append(f"round {report.rounds}: exit {r.proc.returncode}{mark}: "
                          f"{' '.join(r.args)} -> {said[0][:200]}")  # fmt: skip
        if "Traceback" in (err or ""):
            last = err.strip().splitlines()[-1][:200]
            report.violated(f"round {report.rounds}", f"lxcprov {' '.join(r.args)} crashed: {last}")
    return killed, busy


# ------------------------------------------------------------------ invariants


def _rows(lab: Lab) -> dict[str, dict[str, Any]]:
    code, out, _ = lab.cli("ls", "--json")
    return {r["name"]: r for r in json.loads(out)} if code == 0 else {}


def works_or_goes(lab: Lab, name: str, step: str, report: Report, fix: bool = False) -> None:
    """name works (starts, reaches login:, holds its booked address), or is INCOMPLETE and
    destroy --force removes it whole (with fix: `doctor NAME --fix` first, which settles
    or removes it; what it leaves must work, or go with destroy --force)."""
    report.checks += 1
    row = _rows(lab).get(name)
    if row is not None and fix and row["state"] not in ("RUNNING", "STOPPED"):
        code, _, err = lab.cli("doctor", name, "--fix", timeout=COMMAND_TIMEOUT)
        if "Traceback" in err:
            report.violated(step, f"doctor {name} --fix crashed: {err.strip()[-200:]}")
        row = _rows(lab).get(name)
    if row is None:
        if (lab.lxcpath / name).exists():
            report.violated(step, f"{name}'s directory is there, ls does not list it")
        return
    if row["state"] not in ("RUNNING", "STOPPED"):
        code, _, err = lab.cli("destroy", "--force", name, timeout=COMMAND_TIMEOUT)
        if code != 0 or (lab.lxcpath / name).exists():
            report.violated(step, f"{row['state']} {name}: destroy --force left it "
                                  f"(exit {code}): {err.strip()[-200:]}")  # fmt: skip
        return
    if row["state"] == "STOPPED":
        code, _, err = lab.cli("start", name, timeout=COMMAND_TIMEOUT)
        if code != 0:
            report.violated(step, f"{name} does not start: {err.strip()[-300:]}")
            return
    owner = f"{name}@{lab.lxcpath}"
    book = json.loads((lab.scene.state_dir / "net" / lab.bridge / "addresses.json")
                      .read_text() or "{}")  # fmt: skip
    wanted = book.get(owner)
    if wanted is None:
        return
    if _holds(lab, name, wanted):
        return
    # A network moved while it ran takes effect at its next start ("needs restart", as an
    # apply or set that was not killed leaves it too): it must hold the address after one.
    code, _, err = lab.cli("restart", name, timeout=COMMAND_TIMEOUT)
    if code != 0:
        report.violated(step, f"{name} does not restart: {err.strip()[-300:]}")
        return
    if not _holds(lab, name, wanted):
        has = _rows(lab).get(name, {}).get("ipv4")
        report.violated(step, f"{name} does not hold its address {wanted} (has {has})")


def _holds(lab: Lab, name: str, wanted: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if wanted in _rows(lab).get(name, {}).get("ipv4", []):
            return True
        time.sleep(0.5)
    return False


def _settle(lab: Lab) -> None:
    """What a killed command had already set going ends by itself, bounded: a clean
    shutdown's lxc-stop (-t 30) and the container's monitor, its post-stop hook. The
    invariants are judged once those are done (or 40 s passed: then they are violations)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        busy = [p for p in invariants.procs_of(lab.lxcpath)
                if "lxc-stop" in p or "post-stop" in p or "[lxc monitor]" in p]  # fmt: skip
        rows = _rows(lab)
        monitors = {p.split()[-1] for p in busy if "[lxc monitor]" in p}
        if all("[lxc monitor]" in p for p in busy) and all(
            rows.get(m, {}).get("state") == "RUNNING" for m in monitors
        ):
            return
        time.sleep(0.3)


def check_all(lab: Lab, step: str, report: Report, touched: set[str] | None = None) -> None:
    """Every invariant; `show` and `snapshots NAME` of the round's containers only
    (touched; None: of all), ls's snapshot count for the others."""
    _settle(lab)
    report.checks += 1 + len(invariants.CHECKS)
    names = [n for n in lab.names() if touched is None or n in touched]
    for v in invariants.answers(lab.cli, names):
        report.violated(step, v)
    try:
        observed = invariants.observe(lab.scene, lab.cli, touched)
    except (invariants.ObserveError, ValueError, subprocess.TimeoutExpired) as exc:
        report.violated(step, f"cannot observe: {exc}")
        return
    for v in invariants.check(observed):
        report.violated(step, v)


# ------------------------------------------------------------------ the run


@contextlib.contextmanager
def lab_of(bridge: str, keep: bool) -> Iterator[Lab]:
    root = Path(tempfile.mkdtemp(prefix="cha-chaos-", dir="/var/tmp"))
    root.chmod(0o755)
    lab = Lab(root, bridge)
    for d in (lab.lxcpath, lab.share, lab.archives):
        d.mkdir(mode=0o755)
    try:
        yield lab
    finally:
        if not keep:
            _cleanup(lab)


def _cleanup(lab: Lab) -> None:
    """Everything the run made goes, whatever state the run left it in."""
    import lxc as pylxc

    for name in sorted(pylxc.list_containers(config_path=str(lab.lxcpath)),
                       key=lambda n: n.startswith("lxcprov-base-")):  # fmt: skip
        c = pylxc.Container(name, str(lab.lxcpath))
        if c.running:
            c.stop()
        c.destroy()
    text = Path("/proc/self/mountinfo").read_text()
    points = [ln.split()[4] for ln in text.splitlines()]
    for point in sorted((p for p in points if p.startswith(f"{lab.root}/")), key=len,
                        reverse=True):  # fmt: skip
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    lab.cli("net", "teardown", "--bridge", lab.bridge)
    shutil.rmtree(lab.root, ignore_errors=True)


def _finish(lab: Lab, report: Report) -> None:
    """At the end: every container works; all destroyed, the lxcpath holds nothing mounted
    and can be removed."""
    for name in lab.names():
        works_or_goes(lab, name, "end", report)
    check_all(lab, "end", report)
    names = lab.names()
    if names:
        code, _, err = lab.cli("destroy", "--force", *names, timeout=COMMAND_TIMEOUT)
        if code != 0:
            report.violated("end", f"destroy --force of all failed: {err.strip()[-300:]}")
    for base in sorted(p.name for p in lab.lxcpath.glob("lxcprov-base-*")):
        code, _, err = lab.cli("bases", "rm", base, timeout=COMMAND_TIMEOUT)
        if code != 0:
            report.violated("end", f"bases rm {base} failed: {err.strip()[-300:]}")
    report.checks += 1
    text = Path("/proc/self/mountinfo").read_text()
    for line in text.splitlines():
        point = line.split()[4]
        if point.startswith(f"{lab.lxcpath}/"):
            report.violated("end", f"{point} is still mounted once every container is gone")


def run(report: Report, kills: int, bridge: str, keep: bool = False,
        max_seconds: float = 0.0) -> Report:  # fmt: skip
    seed, workers = report.seed, report.workers
    until = time.monotonic() + max_seconds if max_seconds else None
    rng = random.Random(seed)
    with lab_of(bridge, keep) as lab:
        code, _, err = lab.cli("net", "setup", "--bridge", bridge, "--address", SUBNET,
                               "--ipv6", SUBNET6, "--no-nat", "--no-nat6", "--default",
                               timeout=COMMAND_TIMEOUT)  # fmt: skip
        if code != 0:
            raise SystemExit(f"net setup failed: {err}")
        chooser = Chooser(rng, lab)
        for _ in range(3):  # the cached base is built by the first
            args, _names = chooser._new()
            lab.cli(*args, timeout=COMMAND_TIMEOUT)
        while report.kills < kills and (until is None or time.monotonic() < until):
            report.rounds += 1
            step = f"round {report.rounds}"
            killed, touched = _round(lab, chooser, workers, report)
            _settle(lab)
            for victim in killed:
                report.kills += 1
                said = f"{step} (killed {' '.join(victim.args)})"
                print(f"seed={seed} {said}", file=sys.stderr, flush=True)
                for name in sorted(victim.names):
                    works_or_goes(lab, name, said, report, fix=report.kills % 2 == 0)
            check_all(lab, step, report, touched)
        _finish(lab, report)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--kills", type=int, default=60)
    ap.add_argument("--bridge", default="chabr0")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--keep", action="store_true", help="leave the lab for a look")
    ap.add_argument("--max-seconds", type=float, default=0.0,
                    help="start no round after this long (a chunk under a lock)")  # fmt: skip
    a = ap.parse_args()
    # A TERM (a timeout around the run) ends it through the cleanup, not around it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"chaos: seed {a.seed}, {a.workers} workers, {a.kills} kills", file=sys.stderr)
    started = time.monotonic()
    report = Report(a.seed, a.workers)
    try:
        run(report, a.kills, a.bridge, a.keep, a.max_seconds)
    finally:  # a TERMed run still says what it did (its cleanup has run by now)
        _say(report, time.monotonic() - started, a.json_out)
    sys.exit(1 if report.violations else 0)


def _say(report: Report, took: float, json_out: Path | None) -> None:
    print(f"seed {report.seed}: {report.kills} kills in {report.rounds} rounds, "
          f"{report.commands} commands, {report.checks} invariant checks, "
          f"{len(report.violations)} violations, {took:.0f} s")  # fmt: skip
    for v in report.violations:
        print(f"  seed={v['seed']} {v['step']}: {v['violation']}")
    if json_out:
        doc = dict(report.__dict__, seconds=round(took, 1))
        json_out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
