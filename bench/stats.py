"""What reading every container's usage costs, side by side with raw LXC.

As root, from the worktree:

  flock /tmp/lxcprov-real.lock .venv/bin/python bench/stats.py --counts 10,200 \\
      --json-out bench/stats-results.json

For each N: a private lxcpath under /var/tmp/stb-stats-*, N running busybox containers
(`new t --count N`, cached base: overlay clones, no network). Then, median of 5 runs:

  stats (command)   `lxcprov stats --json --interval 0`, a fresh process, wall clock
  stats (read)      ops.stats.Sampler.sample of every container, in this process: the
                    reading alone (what each refresh of `top`, `stats --watch` or the
                    Cockpit page costs)
  metrics           `lxcprov metrics`, a fresh process (when the command exists)
  lxc-info -S       raw LXC: `lxc-info -S -H` of each container, one after another (the
                    one LXC command that prints a container's CPU, memory and network)
  ls --json         for scale

And once, the disk walk of a full Debian rootfs (LXC's template cache, when there is one):
the one part of a reading that grows with a container's files.

Everything is removed at the end, whatever happened.
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

PY = sys.executable
RUNS = 5


def _median(fn: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def workspace() -> Iterator[tuple[Path, dict[str, str]]]:
    root = Path(tempfile.mkdtemp(prefix="stb-stats-", dir="/var/tmp"))
    root.chmod(0o755)  # the containers' mapped root walks through it to their rootfs
    env = dict(os.environ, LXCPROV_LXCPATH=str(root / "lxc"))
    env.update(LXCPROV_CONFIG_DIR=str(root / "etc"), LXCPROV_STATE_DIR=str(root / "var"))
    try:
        yield root / "lxc", env
    finally:
        subprocess.run([PY, "-m", "lxcprov", "stop", "--all"], env=env, capture_output=True,
                       check=False)  # fmt: skip
        names = subprocess.run([PY, "-m", "lxcprov", "ls", "--json"], env=env,
                               capture_output=True, text=True, check=False).stdout  # fmt: skip
        for row in json.loads(names or "[]"):
            subprocess.run([PY, "-m", "lxcprov", "destroy", "--force", row["name"]], env=env,
                           capture_output=True, check=False)  # fmt: skip
        subprocess.run([PY, "-m", "lxcprov", "bases", "rm", "--unused"], env=env,
                       capture_output=True, check=False)  # fmt: skip
        out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                             text=True, check=False).stdout  # fmt: skip
        for point in sorted((p for p in out.split() if p.startswith(str(root))), reverse=True):
            subprocess.run(["umount", "--lazy", point], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([PY, "-m", "lxcprov", *args], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"lxcprov {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}")
    return proc


def one_n(n: int) -> dict[str, Any]:
    from lxcprov.ops import stats

    with workspace() as (lxcpath, env):
        pw = lxcpath.parent / "pw"
        lxcpath.parent.joinpath("etc").mkdir(parents=True, exist_ok=True)
        pw.write_text("bench-pw\n")
        pw.chmod(0o600)
        _cli(env, "new", "t", "--count", str(n), "-t", "busybox", "--network", "none",
             "--root-password-file", str(pw))  # fmt: skip
        names = [r["name"] for r in json.loads(_cli(env, "ls", "--json").stdout)]
        assert len(names) == n, names
        out: dict[str, Any] = {"n": n}
        out["stats_command"] = _median(lambda: _cli(env, "stats", "--json", "--interval", "0"))
        sampler = stats.Sampler(lxcpath)
        sampler.sample(names)
        read = stats.Sampler(lxcpath, disk_every=0.0)  # every container's disk walked again
        out["stats_read"] = _median(lambda: read.sample(names))
        out["stats_read_no_disk_walk"] = _median(lambda: sampler.sample(names))
        has_metrics = "metrics" in _cli(env, "--help").stdout
        out["metrics_command"] = _median(lambda: _cli(env, "metrics")) if has_metrics else None
        out["lxc_info_each"] = _median(
            lambda: [subprocess.run(["lxc-info", "-P", str(lxcpath), "-n", name, "-S", "-H"],
                                    capture_output=True, check=True) for name in names],
            runs=3,
        )  # fmt: skip
        out["ls_json"] = _median(lambda: _cli(env, "ls", "--json"))
        return out


def debian_walk() -> dict[str, Any] | None:
    from lxcprov.system import usage

    cache = sorted(Path("/var/cache/lxc/debian").glob("rootfs-*"))
    if not cache:
        return None
    top = cache[0]
    files = sum(len(f) + len(d) for _, d, f in os.walk(top))
    seconds = _median(lambda: usage.tree_bytes(top))
    return {"tree": str(top), "entries": files, "seconds": seconds,
            "bytes": usage.tree_bytes(top)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="10,200")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    results = [one_n(int(n)) for n in args.counts.split(",")]
    walk = debian_walk()
    print(f"{'N':>4}  {'stats cmd':>9}  {'read':>6}  {'read*':>6}  {'metrics':>7}  "
          f"{'lxc-info -S each':>16}  {'ls --json':>9}")  # fmt: skip
    for r in results:
        metrics = f"{r['metrics_command']:.3f}" if r["metrics_command"] is not None else "-"
        print(f"{r['n']:>4}  {r['stats_command']:>9.3f}  {r['stats_read_no_disk_walk']:>6.3f}  "
              f"{r['stats_read']:>6.3f}  {metrics:>7}  {r['lxc_info_each']:>16.3f}  "
              f"{r['ls_json']:>9.3f}")  # fmt: skip
    print(
        "read: one sample of every container, in process (disk cached);"
        " read*: the same with every disk walked again"
    )
    if walk:
        print(f"disk walk of a Debian rootfs ({walk['entries']} entries): {walk['seconds']:.3f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps({"counts": results, "debian_walk": walk},
                                            indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
