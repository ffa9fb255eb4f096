"""Which host limit breaks first as containers grow: make them in steps on a private bridge
and lxcpath, and after each step print what each limit has used (lxcprov's own observer,
lxcprov.ops.limits) and which containers failed, side by side with the limits' values.

Not run by the test suite. Run as root, under the machine's real-test lock, e.g.:

    flock /tmp/lxcprov-real.lock .venv/bin/python bench/limits.py --steps 1,6,10 \\
        --template debian --bridge limbr0 --address 10.126.4.1/22

A sysctl given with --set (name=value) holds for the run only and is put back after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lxcprov.engine.hostlimits import HostUse
from lxcprov.ops import limits
from lxcprov.system import kernellimits


def _row(step: int, made: int, failed: list[str], use: HostUse) -> str:
    cells = [f"{step:>4}", f"{made:>4}", f"{len(failed):>3}"]
    for u in (use.inotify, use.keys, use.key_bytes, use.tasks, use.neigh4, use.neigh6):
        cells.append(f"{u.used}/{u.limit}" if u else "-")
    return " | ".join(cells) + (f" | failed: {', '.join(failed)}" if failed else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="1,6,10", help="containers made at each step")
    ap.add_argument("--template", default="debian")
    ap.add_argument("--bridge", default="limbr0")
    ap.add_argument("--address", default="10.126.4.1/22")
    ap.add_argument("--set", action="append", default=[], help="sysctl NAME=VALUE for the run")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lim-bench-", dir="/var/tmp"))
    env = dict(os.environ, LXCPROV_LXCPATH=str(work / "lxc"))
    env.update(LXCPROV_CONFIG_DIR=str(work / "etc"), LXCPROV_STATE_DIR=str(work / "state"))
    (work / "lxc").mkdir()
    work.chmod(0o755)

    def cli(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lxcprov", *a], env=env, text=True,
                              capture_output=True, check=False)  # fmt: skip

    saved = {}
    for item in args.set:
        name, value = item.split("=", 1)
        saved[name] = kernellimits.sysctl(name)
        subprocess.run(["sysctl", "-q", "-w", f"{name}={value}"], check=True)
    try:
        cli("net", "setup", "--bridge", args.bridge, "--address", args.address, "--no-nat")
        print("step | made | failed | inotify (root) | keys | key bytes | tasks | arp | ndisc")
        print(_row(0, 0, [], limits.host_use()))
        made = 0
        for i, n in enumerate(int(s) for s in args.steps.split(",")):
            proc = cli("new", f"s{i}x", "--count", str(n), "-t", args.template,
                       "--bridge", args.bridge, "--json")  # fmt: skip
            if proc.returncode != 0 and not proc.stdout.strip():
                print(f"step {i}: refused: {proc.stderr.strip().splitlines()[-2:]}")
                break
            rows = json.loads(proc.stdout)
            failed = [f"{r['name']} ({r['error']})" for r in rows if not r["ok"]]
            made += n - len(failed)
            print(_row(i + 1, made, failed, limits.host_use()))
    finally:
        names = subprocess.run(["lxc-ls", "-P", str(work / "lxc")], text=True,
                               capture_output=True, check=False).stdout.split()  # fmt: skip
        mine = [n for n in names if not n.startswith("lxcprov-base-")]
        if mine:
            cli("destroy", "--force", *mine)
        bases = [n for n in names if n.startswith("lxcprov-base-")]
        if bases:
            cli("destroy", "--force", *bases)
        cli("net", "teardown", "--bridge", args.bridge)
        for name, value in saved.items():
            if value is not None:
                subprocess.run(["sysctl", "-q", "-w", f"{name}={value}"], check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
