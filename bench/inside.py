"""What people run inside (issue 25): push, pull, devices and a disk limit, lxcprov side by
side with raw LXC in one run.

As root: .venv/bin/python bench/inside.py [--runs 5] [--mib 64] [--json-out F]

Everything happens in a private lxcpath under /var/tmp (busybox containers, no network)
and is removed at the end. Medians of --runs runs, wall clock, each command a fresh
process as a user would run it:

  push         a --mib MiB file into a running unprivileged clone; raw LXC:
               lxc-attach -- sh -c 'cat > FILE' < FILE
  pull         the same file out; raw LXC: lxc-attach -- cat FILE > OUT
  device       device add tun, then device rm tun, on the running container; raw LXC:
               lxc-device add /dev/net/tun, then lxc-device del ("fails" where it
               cannot: an unprivileged busybox container, measured here)
  new --disk   a cached `new -t busybox --network none --no-start` with --disk 64M, against
               the same `new` without a limit (what the image costs)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


class Work:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lxcpath = root / "lxc"
        self.lxcpath.mkdir()
        self.env = {**os.environ, "LXCPROV_LXCPATH": str(self.lxcpath)}

    def lxcprov(self, *args: str) -> list[str]:
        return [PY, "-m", "lxcprov", *args]

    def raw(self, tool: str, name: str, *args: str) -> list[str]:
        return [tool, "-P", str(self.lxcpath), "-n", name, *args]

    def run(
        self,
        argv: list[str],
        stdin: Path | None = None,
        stdout: Path | None = None,
        check: bool = True,
    ) -> float:
        """Seconds it took; NaN when it failed and check is False (raw LXC that cannot)."""
        with open(stdin or os.devnull, "rb") as fin, open(stdout or os.devnull, "wb") as fout:
            t0 = time.monotonic()
            done = subprocess.run(argv, env=self.env, check=check, stdin=fin, stdout=fout,
                                  stderr=subprocess.PIPE, timeout=300)  # fmt: skip
            return time.monotonic() - t0 if done.returncode == 0 else float("nan")


def _median(times: list[float]) -> float:
    return statistics.median(times)


def bench(runs: int, mib: int) -> dict[str, tuple[float, float]]:
    """name -> (lxcprov seconds, raw LXC seconds), medians."""
    root = Path(tempfile.mkdtemp(prefix="lxcprov-bench-inside-", dir="/var/tmp"))
    root.chmod(0o711)  # unprivileged containers' root walks through it to its rootfs
    w = Work(root)
    out: dict[str, tuple[float, float]] = {}
    try:
        data = root / "data"
        data.write_bytes(os.urandom(mib * 1024 * 1024))
        back = root / "back"
        w.run(w.lxcprov("new", "b1", "-t", "busybox", "--network", "none"))
        push, raw_push, pull, raw_pull = [], [], [], []
        for _ in range(runs):
            push.append(w.run(w.lxcprov("push", "b1", str(data), "/root/data")))
            raw_push.append(w.run(w.raw("lxc-attach", "b1", "--", "sh", "-c",
                                        "cat > /root/raw"), stdin=data))  # fmt: skip
            pull.append(w.run(w.lxcprov("pull", "b1", "/root/data", str(back))))
            back.unlink()
            raw_pull.append(w.run(w.raw("lxc-attach", "b1", "--", "cat", "/root/raw"),
                                  stdout=back))  # fmt: skip
            back.unlink()
        out[f"push {mib} MiB"] = (_median(push), _median(raw_push))
        out[f"pull {mib} MiB"] = (_median(pull), _median(raw_pull))
        add, rm, raw_add, raw_rm = [], [], [], []
        for _ in range(runs):
            add.append(w.run(w.lxcprov("device", "add", "b1", "tun")))
            rm.append(w.run(w.lxcprov("device", "rm", "b1", "/dev/net/tun")))
            raw_add.append(w.run(w.raw("lxc-device", "b1", "add", "/dev/net/tun"), check=False))
            raw_rm.append(w.run(w.raw("lxc-device", "b1", "del", "/dev/net/tun"), check=False))
        if all(x != x for x in raw_add):  # raw add never worked: its del removed nothing
            raw_rm = [float("nan")]
        out["device add tun"] = (_median(add), _median(raw_add))
        out["device rm tun"] = (_median(rm), _median(raw_rm))
        plain, limited = [], []
        for i in range(runs):
            plain.append(w.run(w.lxcprov("new", f"p{i}", "-t", "busybox", "--network", "none",
                                         "--no-start")))  # fmt: skip
            limited.append(w.run(w.lxcprov("new", f"d{i}", "-t", "busybox", "--network",
                                           "none", "--no-start", "--disk", "64M")))  # fmt: skip
        out["new --disk 64M (raw: new without)"] = (_median(limited), _median(plain))
    finally:
        for name in ["b1", *[f"{k}{i}" for k in "pd" for i in range(runs)]]:
            subprocess.run(w.lxcprov("destroy", "--force", name), env=w.env, capture_output=True)
        subprocess.run(w.lxcprov("bases", "rm", "--unused"), env=w.env, capture_output=True)
        subprocess.run(["umount", "--recursive", "--lazy", str(w.lxcpath)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    results = bench(args.runs, args.mib)
    print(f"{'':38} {'lxcprov':>9} {'raw LXC':>9} {'ratio':>6}")
    for name, (ours, raw) in results.items():
        if raw != raw:  # NaN: raw LXC failed at it here
            print(f"{name:38} {ours:8.3f}s {'fails':>9} {'-':>6}")
        else:
            print(f"{name:38} {ours:8.3f}s {raw:8.3f}s {ours / raw:6.2f}")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
