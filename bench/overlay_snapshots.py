"""How to snapshot an overlay clone: a copy of its upper layer, or a new overlay layer.

As root: .venv/bin/python bench/overlay_snapshots.py [--runs 3]

Makes one cached Debian clone in a private lxcpath under /var/tmp, then, for a clone as
`new` leaves it and for clones that wrote more into their upper layer (as apt would),
measures with the filesystem operations each design needs (medians of --runs):

  copy    snapshot = `cp -a` of the upper layer into the snapshot; restore = `cp -a`
          back into a staged upper, then two renames (lxcprov's design)
  layer   snapshot = the upper layer becomes a read-only lower layer and an empty upper
          goes on top (rename, mkdir, config write); restore = drop the upper, new empty
          one; every snapshot adds a layer to every later lookup
  lookup  `find` over the merged tree with the base alone below, and under 10 layers
          each holding what the clone wrote (the read path after 10 layer snapshots)

Everything it makes is removed at the end. Prints a table on stderr and JSON on stdout.
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

REPO = Path(__file__).resolve().parents[1]


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def size_of(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


@contextlib.contextmanager
def overlay(lowers: list[Path], upper: Path, work: Path, target: Path) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    lower = ":".join(str(p) for p in lowers)
    opts = f"lowerdir={lower},upperdir={upper},workdir={work},userxattr"
    sh("mount", "-t", "overlay", "overlay", "-o", opts, str(target))
    try:
        yield target
    finally:
        sh("umount", str(target))


class Clone:
    """The clone's base rootfs and its upper layer, as `lxcprov new` made them."""

    def __init__(self, lxcpath: Path, name: str) -> None:
        config = (lxcpath / name / "config").read_text()
        spec = next(ln for ln in config.splitlines() if ln.startswith("lxc.rootfs.path"))
        lower, upper = spec.split("=", 1)[1].strip().removeprefix("overlay:").split(":")
        self.base, self.upper = Path(lower), Path(upper)
        self.work = self.upper.parent / "work"
        self.dir = lxcpath / name

    def grow(self, source: str, into: str) -> None:
        """Write a copy of a base directory into the clone (through its overlay)."""
        with overlay([self.base], self.upper, self.work, self.dir / "mnt") as mnt:
            sh("cp", "-a", str(mnt / source), str(mnt / into))


def copy_design(clone: Clone, runs: int) -> dict[str, float]:
    snaps = clone.dir / "snaps-copy"
    snaps.mkdir(exist_ok=True)
    snap_t, restore_t = [], []
    for i in range(runs):
        snap = snaps / f"s{i}"
        snap_t.append(timed(partial(sh, "cp", "-a", "--reflink=auto", str(clone.upper), str(snap))))

        def restore(s: Path = snap) -> None:
            staged = clone.upper.with_name("delta.new")
            sh("cp", "-a", "--reflink=auto", str(s), str(staged))
            old = clone.upper.with_name("delta.old")
            clone.upper.rename(old)
            staged.rename(clone.upper)
            shutil.rmtree(old)

        restore_t.append(timed(restore))
    shutil.rmtree(snaps)
    return {"snapshot": statistics.median(snap_t), "restore": statistics.median(restore_t)}


def layer_design(clone: Clone, runs: int) -> dict[str, float]:
    layers = clone.dir / "layers"
    layers.mkdir(exist_ok=True)
    saved = clone.dir / "delta.saved"
    sh("cp", "-a", str(clone.upper), str(saved))  # put back afterwards
    config = clone.dir / "config"
    text = config.read_text()
    snap_t, restore_t = [], []
    for i in range(runs):

        def snapshot(i: int = i) -> None:
            layer = layers / f"l{i}"
            clone.upper.rename(layer)
            clone.upper.mkdir()
            st = layer.stat()
            os.chown(clone.upper, st.st_uid, st.st_gid)
            lower = ":".join([str(layer), str(clone.base)])
            tmp = config.with_name("config.tmp")
            tmp.write_text(text.replace(str(clone.base), lower))
            with tmp.open() as fh:
                os.fsync(fh.fileno())
            tmp.rename(config)

        snap_t.append(timed(snapshot))
        with overlay(
            [layers / f"l{i}", clone.base], clone.upper, clone.work, clone.dir / "mnt"
        ) as m:
            (m / "root/changed-after").write_text("x" * 4096)

        def restore() -> None:
            shutil.rmtree(clone.upper)
            clone.upper.mkdir()

        restore_t.append(timed(restore))
    shutil.rmtree(clone.upper)
    shutil.rmtree(layers)
    saved.rename(clone.upper)
    config.write_text(text)
    return {"snapshot": statistics.median(snap_t), "restore": statistics.median(restore_t)}


def lookups(clone: Clone, runs: int) -> dict[str, float]:
    """`find` over the merged tree: the base alone below, or under 10 snapshot layers."""
    out: dict[str, float] = {}
    layers = clone.dir / "lookup-layers"
    for count in (0, 10):
        stack = []
        for i in range(count):
            # Each layer as a snapshot would leave it: what the clone had written so far.
            layer = layers / f"l{i}"
            layers.mkdir(exist_ok=True)
            sh("cp", "-a", str(clone.upper), str(layer))
            (layer / "etc" / f"only-in-layer-{i}").write_text("x")
            stack.append(layer)
        upper, work = clone.dir / "lk-upper", clone.dir / "lk-work"
        upper.mkdir()
        work.mkdir()
        with overlay([*reversed(stack), clone.base], upper, work, clone.dir / "lk") as mnt:
            find = ["find", str(mnt), "-xdev", "-printf", ""]
            sh(*find)  # warm the caches: the number is the lookups, not the disk
            out[f"find_{count}_layers"] = statistics.median(
                timed(partial(sh, *find)) for _ in range(runs)
            )
        shutil.rmtree(upper)
        shutil.rmtree(work)
        shutil.rmtree(layers, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    work = Path(tempfile.mkdtemp(prefix="lxcprov-bench-ovl-", dir="/var/tmp"))
    work.chmod(0o711)
    env = dict(os.environ, LXCPROV_LXCPATH=str(work / "lxc"), LXCPROV_CONFIG_DIR=str(work / "etc"),
               LXCPROV_STATE_DIR=str(work / "state"))  # fmt: skip
    (work / "pw").write_text("bench-password\n")
    results: dict[str, Any] = {"runs": opts.runs}
    try:
        subprocess.run(
            [sys.executable, "-m", "lxcprov", "new", "ovl", "-t", "debian", "--network", "none",
             "--no-start", "--root-password-file", str(work / "pw")],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        clone = Clone(work / "lxc", "ovl")
        stages = [("as new made it", None), ("+ a copy of /usr/share", ("usr/share", "opt/a")),
                  ("+ a copy of /usr", ("usr", "opt/b"))]  # fmt: skip
        for label, grow in stages:
            if grow:
                clone.grow(*grow)
            row: dict[str, Any] = {
                "upper_mib": size_of(clone.upper) / 2**20,
                "upper_files": sum(1 for _ in clone.upper.rglob("*")),
            }
            row["copy"] = copy_design(clone, opts.runs)
            row["layer"] = layer_design(clone, opts.runs)
            results[label] = row
        results["lookup"] = lookups(clone, opts.runs)
    finally:
        subprocess.run([sys.executable, "-m", "lxcprov", "destroy", "--force", "ovl"], env=env,
                       check=False, capture_output=True)  # fmt: skip
        for base in (work / "lxc").glob("lxcprov-base-*"):
            subprocess.run([sys.executable, "-m", "lxcprov", "bases", "rm", base.name], env=env,
                           check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'upper layer':<26} {'MiB':>7} {'files':>6}  {'copy: snap':>10} {'restore':>8}"
          f"  {'layer: snap':>11} {'restore':>8}", file=sys.stderr)  # fmt: skip
    for label, row in results.items():
        if not isinstance(row, dict) or "copy" not in row:
            continue
        print(f"{label:<26} {row['upper_mib']:7.1f} {row['upper_files']:6d}  "
              f"{row['copy']['snapshot']:10.3f} {row['copy']['restore']:8.3f}  "
              f"{row['layer']['snapshot']:11.3f} {row['layer']['restore']:8.3f}",
              file=sys.stderr)  # fmt: skip
    lk = results["lookup"]
    print(f"find over the merged tree: base alone {lk['find_0_layers']:.3f} s, "
          f"under 10 layers {lk['find_10_layers']:.3f} s", file=sys.stderr)  # fmt: skip
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
