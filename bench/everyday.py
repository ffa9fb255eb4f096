"""The everyday commands and busybox, lxcprov side by side with raw LXC in one run.

As root: .venv/bin/python bench/everyday.py [--runs 7] [--ls-count 50] [--json-out F]

Everything happens in a private lxcpath under /var/tmp (busybox containers, no network)
and is removed at the end. Medians of --runs runs, wall clock, each command a fresh
process as a user would run it:

  python       the bare interpreter lxcprov runs on (`python -c pass`): not lxcprov's time
  --help, --version, ls --json (with --ls-count containers), show, exec -- true,
  console (until lxc-console says it is connected), stop (a running busybox container)
  busybox      a cached `new -t busybox --network none` until its login prompt; raw LXC:
               lxc-create -t busybox, lxc-start, until a login prompt on some terminal

"own" is the command's wall time minus the bare interpreter's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect

from lxcprov.system import lxc

PY = sys.executable


class Work:
    def __init__(self, root: Path) -> None:
        self.lxcpath = root / "lxc"
        self.lxcpath.mkdir()
        self.env = {**os.environ, "LXCPROV_LXCPATH": str(self.lxcpath)}
        self.password = root / "pw"
        self.password.write_text("bench-password\n")

    def lxcprov(self, *args: str) -> list[str]:
        return [PY, "-m", "lxcprov", *args]

    def run(self, argv: list[str]) -> float:
        t0 = time.monotonic()
        subprocess.run(argv, env=self.env, check=True, capture_output=True, timeout=120)
        return time.monotonic() - t0

    def console_until_attached(self, argv: list[str]) -> float:
        """Until lxc-console prints its banner: the terminal is the container's."""
        t0 = time.monotonic()
        child = pexpect.spawn(argv[0], argv[1:], env=self.env, timeout=20, encoding="utf-8")
        child.expect("Connected to tty")
        took = time.monotonic() - t0
        child.send("\x01q")
        child.expect(pexpect.EOF)
        child.close()
        return took

    def raw_busybox(self, name: str) -> float:
        conf = self.lxcpath.parent / "raw.conf"
        conf.write_text("lxc.net.0.type = empty\n")  # like --network none
        t0 = time.monotonic()
        subprocess.run(["lxc-create", "-P", str(self.lxcpath), "-n", name, "-f", str(conf),
                        "-t", "busybox"], check=True, capture_output=True)  # fmt: skip
        subprocess.run(["lxc-start", "-P", str(self.lxcpath), "-n", name], check=True)
        c = lxc.Container(name, self.lxcpath)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for tty in (1, 0):
                with contextlib.suppress(Exception), lxc.console_fd(c, tty) as fd:
                    os.write(fd, b"\r")
                    if b"login:" in lxc.read_until(fd, (b"login:",), 0.05):
                        return time.monotonic() - t0
        raise SystemExit(f"raw busybox {name}: no login prompt in 30 s")


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


@contextlib.contextmanager
def workspace() -> Iterator[Work]:
    root = Path(tempfile.mkdtemp(prefix="lxcprov-everyday-", dir="/var/tmp"))
    root.chmod(0o711)
    work = Work(root)
    try:
        yield work
    finally:
        for c in lxc.list_containers(work.lxcpath, include_bases=True):
            if c.running():
                c.handle.stop()
        names = [c.name for c in lxc.list_containers(work.lxcpath, include_bases=True)]
        for name in sorted(names, key=lambda n: n.startswith(lxc.BASE_PREFIX)):
            subprocess.run(["lxc-destroy", "-P", str(work.lxcpath), "-n", name], check=False,
                           capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ls-count", type=int, default=50)
    ap.add_argument("--json-out", type=Path, default=None)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    n = opts.runs
    res: dict[str, Any] = {"runs": n, "cpus": os.cpu_count()}
    with workspace() as w:
        P = str(w.lxcpath)
        new = ["new", "-t", "busybox", "--network", "none", "--root-password-file",
               str(w.password)]  # fmt: skip
        subprocess.run(w.lxcprov(*new[:1], "warm", *new[1:]), env=w.env, check=True,
                       capture_output=True)  # fmt: skip
        counter = iter(range(10_000))
        busy = [w.run(w.lxcprov(new[0], f"bb{next(counter)}", *new[1:])) for _ in range(n)]
        raw_busy = [w.raw_busybox(f"rawbb{next(counter)}") for _ in range(n)]
        res["busybox_new"] = {"lxcprov": statistics.median(busy),
                              "raw": statistics.median(raw_busy)}  # fmt: skip
        # The rest of the ls containers, stopped (ls reads them all the same).
        have = len(lxc.list_containers(w.lxcpath)) - n  # raw ones aside
        more = opts.ls_count - have - n
        if more > 0:
            argv = w.lxcprov("new", "ls", "--count", str(more), "--no-start", *new[1:])
            subprocess.run(argv, env=w.env, check=True, capture_output=True)
        total = len(lxc.list_containers(w.lxcpath))
        res["ls_count"] = total
        cmds: dict[str, tuple[list[str], list[str] | None]] = {
            "python": ([PY, "-c", "pass"], None),
            "--help": (w.lxcprov("--help"), None),
            "--version": (w.lxcprov("--version"), ["lxc-ls", "--version"]),
            "ls --json": (w.lxcprov("ls", "--json"), ["lxc-ls", "-P", P, "-f"]),
            "show": (w.lxcprov("show", "warm"), ["lxc-info", "-P", P, "-n", "warm"]),
            "exec -- true": (w.lxcprov("exec", "warm", "--", "true"),
                             ["lxc-attach", "-P", P, "-n", "warm", "--", "true"]),
        }  # fmt: skip
        rows: dict[str, dict[str, float | None]] = {}
        for label, (ours, raw) in cmds.items():
            mine = statistics.median(w.run(ours) for _ in range(n))
            theirs = statistics.median(w.run(raw) for _ in range(n)) if raw else None
            rows[label] = {"lxcprov": mine, "raw": theirs}
        base = rows["python"]["lxcprov"] or 0.0
        mine = median(lambda: w.console_until_attached(w.lxcprov("console", "warm")), n)
        theirs = median(lambda: w.console_until_attached(["lxc-console", "-P", P, "-n", "warm",
                                                          "-t", "1"]), n)  # fmt: skip
        rows["console (until attached)"] = {"lxcprov": mine, "raw": theirs}

        def stop_one(ours: bool) -> float:
            name = f"st{next(counter)}"
            subprocess.run(w.lxcprov(new[0], name, *new[1:]), env=w.env, check=True,
                           capture_output=True)  # fmt: skip
            argv = w.lxcprov("stop", name) if ours else ["lxc-stop", "-P", P, "-n", name]
            return w.run(argv)

        rows["stop (busybox)"] = {"lxcprov": median(lambda: stop_one(True), n),
                                  "raw": median(lambda: stop_one(False), n)}  # fmt: skip
        for r in rows.values():
            r["own"] = None if r["lxcprov"] is None else max(0.0, r["lxcprov"] - base)
        res["commands"] = rows
    print(f"{'command':<28} {'lxcprov':>8} {'own':>8} {'raw LXC':>8}", file=sys.stderr)
    for label, r in res["commands"].items():
        raw_text = f"{r['raw']:8.3f}" if r["raw"] is not None else f"{'-':>8}"
        print(f"{label:<28} {r['lxcprov']:8.3f} {r['own']:8.3f} {raw_text}", file=sys.stderr)
    b = res["busybox_new"]
    print(f"{'busybox new, cached':<28} {b['lxcprov']:8.3f} {'':>8} {b['raw']:8.3f}",
          file=sys.stderr)  # fmt: skip
    print(f"(ls with {res['ls_count']} containers; raw busybox: create+start to login)",
          file=sys.stderr)  # fmt: skip
    text = json.dumps(res, indent=2)
    print(text)
    if opts.json_out:
        opts.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
