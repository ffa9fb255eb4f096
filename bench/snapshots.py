"""Snapshots, restores, exports and imports: lxcprov against LXC's own tools and plain tar.

As root: .venv/bin/python bench/snapshots.py [--runs 3] [--json-out FILE]

In a private lxcpath under /var/tmp (removed at the end), with a cached Debian clone made
by `lxcprov new -t debian --network none`, measured twice: as `new` leaves it, and after
it wrote a copy of /usr/share into its upper layer (what an apt run does). Wall clock,
medians of --runs:

  snapshot   `lxcprov snapshot` (a copy of the clone's upper layer)
             against `lxc-snapshot` (LXC's overlay snapshot: a clone whose upper layer
             rsync copies)
  restore    `lxcprov restore` against `lxc-snapshot -r`
  export     `lxcprov export` to .tar.zst and .tar.gz (the clone flattened, every member
             checksummed) against `tar --xattrs ... | zstd -T0` (and gzip) of the same
             merged tree
  import     `lxcprov import` (checked whole, then extracted) against `zstd -d | tar -x`

lxcprov is timed as a command (with Python's start, ~0.2 s) and, for snapshot and restore,
also in-process (the work alone). MiB/s is uncompressed tar bytes per second. Prints a
side-by-side table on stderr and the numbers as JSON on stdout.
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
from functools import partial
from pathlib import Path
from typing import Any

from lxcprov.ops import snapshots
from lxcprov.system import containerfs, lxc

MIB = 1024 * 1024
TAR = ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--sparse"]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def median(values: list[float]) -> float:
    return statistics.median(values)


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.lxcpath = work / "lxc"
        self.env = dict(os.environ, LXCPROV_LXCPATH=str(self.lxcpath),
                        LXCPROV_CONFIG_DIR=str(work / "etc"),
                        LXCPROV_STATE_DIR=str(work / "state"))  # fmt: skip
        os.environ.update(self.env)  # the in-process measurements read them too
        (work / "pw").write_text("bench-password\n")

    def lxcprov(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lxcprov", *args], env=self.env,
                              capture_output=True, text=True, check=True)  # fmt: skip

    def sh(self, *argv: str) -> None:
        subprocess.run(list(argv), check=True, capture_output=True)

    def container(self, name: str) -> lxc.Container:
        return lxc.Container(name, self.lxcpath)

    @contextlib.contextmanager
    def merged(self, name: str) -> Iterator[str]:
        with containerfs.opened(self.container(name)) as rootfs:
            yield f"/proc/{os.getpid()}/fd/{rootfs.fd}"

    def grow(self, name: str) -> None:
        with self.merged(name) as root:
            self.sh("cp", "-a", f"{root}/usr/share", f"{root}/opt/share")

    def upper_mib(self, name: str) -> float:
        found = containerfs.layout(self.container(name).config())
        out = subprocess.run(["du", "-sb", found.upper], check=True, capture_output=True,
                             text=True).stdout  # fmt: skip
        return int(out.split()[0]) / MIB

    # -- snapshot and restore ----------------------------------------------------------

    def snapshots(self, name: str, runs: int) -> dict[str, float]:
        c = self.container(name)
        times: dict[str, list[float]] = {}

        def add(key: str, fn: Callable[[], object]) -> None:
            times.setdefault(key, []).append(timed(fn))

        lxc_snapshot = ["lxc-snapshot", "-P", str(self.lxcpath), "-n", name]
        for i in range(runs):
            add("lxcprov_snapshot", partial(self.lxcprov, "snapshot", name, f"cli{i}"))
            add("lxcprov_restore", partial(self.lxcprov, "restore", name, f"cli{i}"))
            add("lxcprov_snapshot_work", partial(snapshots.snapshot, c, f"ops{i}"))
            add("lxcprov_restore_work", partial(snapshots.restore, c, f"ops{i}"))
            add("lxc_snapshot", partial(self.sh, *lxc_snapshot))
            add("lxc_snapshot_restore", partial(self.sh, *lxc_snapshot, "-r", f"snap{i}"))
        for i in range(runs):
            self.sh(*lxc_snapshot, "-d", f"snap{i}")
            self.lxcprov("snapshot", "rm", name, f"cli{i}")
            self.lxcprov("snapshot", "rm", name, f"ops{i}")
        return {key: median(values) for key, values in times.items()}

    # -- export and import -------------------------------------------------------------

    def archives(self, name: str, runs: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.merged(name) as root:
            raw = subprocess.run(["tar", "-c", "-f", "-", *TAR, "-C", root, "."],
                                 check=True, capture_output=True).stdout  # fmt: skip
        out["tar_mib"] = len(raw) / MIB
        tar = " ".join(TAR)
        for suffix, zip_, unzip in ((".tar.zst", "zstd -q -T0 -c", "zstd -q -d -c"),
                                    (".tar.gz", "gzip -c", "gzip -d -c")):  # fmt: skip
            archive = self.work / f"{name}{suffix}"
            plain = self.work / f"plain{suffix}"
            dest = self.work / "plain-dest"
            times: dict[str, list[float]] = {}
            for i in range(runs):
                for key, fn in (
                    ("lxcprov_export", partial(self.lxcprov, "export", name, str(archive))),
                    ("lxcprov_import", partial(self.lxcprov, "import", str(archive), f"imp{i}",
                                               "--new-identity")),
                ):  # fmt: skip
                    times.setdefault(key, []).append(timed(fn))
                self.lxcprov("destroy", "--force", f"imp{i}")
                with self.merged(name) as root:
                    pack = f"tar -c -f - {tar} -C {root} . | {zip_} > {plain}"
                    times.setdefault("tar_export", []).append(
                        timed(partial(self.sh, "sh", "-c", pack))
                    )
                dest.mkdir()
                unpack = f"{unzip} {plain} | tar -x -f - {tar} -p -C {dest}"
                times.setdefault("tar_import", []).append(
                    timed(partial(self.sh, "sh", "-c", unpack))
                )
                shutil.rmtree(dest)
            out[suffix.removeprefix(".tar.")] = {
                **{key: median(values) for key, values in times.items()},
                "lxcprov_file_mib": archive.stat().st_size / MIB,
                "tar_file_mib": plain.stat().st_size / MIB,
            }
        return out


@contextlib.contextmanager
def workspace() -> Iterator[Bench]:
    work = Path(tempfile.mkdtemp(prefix="lxcprov-bench-snap-", dir="/var/tmp"))
    work.chmod(0o711)  # unprivileged containers' root traverses it to reach their rootfs
    bench = Bench(work)
    try:
        yield bench
    finally:
        for c in lxc.list_containers(bench.lxcpath):
            subprocess.run([sys.executable, "-m", "lxcprov", "destroy", "--force", c.name],
                           env=bench.env, capture_output=True, check=False)  # fmt: skip
        for c in lxc.list_containers(bench.lxcpath, include_bases=True):
            subprocess.run([sys.executable, "-m", "lxcprov", "destroy", "--force", c.name],
                           env=bench.env, capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json-out", type=Path, default=None)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    res: dict[str, Any] = {"runs": opts.runs, "machine": {"cpus": os.cpu_count()}}
    with workspace() as b:
        b.lxcprov("new", "snap1", "-t", "debian", "--network", "none", "--no-start",
                  "--root-password-file", str(b.work / "pw"))  # fmt: skip
        res["fresh"] = {"upper_mib": b.upper_mib("snap1"), **b.snapshots("snap1", opts.runs)}
        b.grow("snap1")
        res["grown"] = {"upper_mib": b.upper_mib("snap1"), **b.snapshots("snap1", opts.runs)}
        res["archive"] = b.archives("snap1", opts.runs)
    _table(res)
    text = json.dumps(res, indent=2)
    print(text)
    if opts.json_out:
        opts.json_out.write_text(text + "\n")
    return 0


def _table(r: dict[str, Any]) -> None:
    def line(label: str, ours: float, theirs: float, tool: str) -> None:
        print(f"{label:<46} {ours:8.3f} {theirs:8.3f}  {tool}", file=sys.stderr)

    print(f"{'seconds (median)':<46} {'lxcprov':>8} {'other':>8}", file=sys.stderr)
    for key, what in (("fresh", "clone as new made it"), ("grown", "clone + /usr/share")):
        row = r[key]
        tag = f"{what}, upper {row['upper_mib']:.1f} MiB"
        line(f"snapshot, {tag}", row["lxcprov_snapshot"], row["lxc_snapshot"], "lxc-snapshot")
        line("  (lxcprov's work alone, no Python start)", row["lxcprov_snapshot_work"],
             row["lxc_snapshot"], "")  # fmt: skip
        line(f"restore, {tag}", row["lxcprov_restore"], row["lxc_snapshot_restore"],
             "lxc-snapshot -r")  # fmt: skip
        line("  (lxcprov's work alone, no Python start)", row["lxcprov_restore_work"],
             row["lxc_snapshot_restore"], "")  # fmt: skip
    a = r["archive"]
    mib = a["tar_mib"]
    for key in ("zst", "gz"):
        row = a[key]
        line(f"export .tar.{key} ({mib:.0f} MiB of tar)", row["lxcprov_export"], row["tar_export"],
             "tar | compress")  # fmt: skip
        line(f"import .tar.{key}", row["lxcprov_import"], row["tar_import"], "decompress | tar -x")
        print(f"{'  MiB/s export / import':<46} {mib / row['lxcprov_export']:8.1f} "
              f"{mib / row['tar_export']:8.1f}  (lxcprov) / "
              f"{mib / row['lxcprov_import']:.1f} {mib / row['tar_import']:.1f}",
              file=sys.stderr)  # fmt: skip
        print(
            f"{'  file MiB':<46} {row['lxcprov_file_mib']:8.1f} {row['tar_file_mib']:8.1f}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main())
