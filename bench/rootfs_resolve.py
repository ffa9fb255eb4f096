"""Time Rootfs path resolution on hostile trees. As root: .venv/bin/python bench/rootfs_resolve.py

A container's root can make lookups expensive: a directory chain thousands of levels
deep, and symlinks whose targets walk all of it again. Two trees, in a temp directory:

  deep   /deep -> /d/d/.../d/f           (--depth directories, then a regular file)
  hops   /h0 -> /d/.../d/h1 -> /d/.../d/h2 ... -> /d/.../d/f   (--hops symlinks, each
         target --depth components long)

Prints the wall-clock time of resolve() and read_text() on each, and the number of
os.open and openat2 calls they made. Never run by the tests (they count, they do not time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxcprov.system import openat2
from lxcprov.system.rootfs import Rootfs


def build(root: Path, depth: int, hops: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):  # relative to a descriptor: the host path would pass PATH_MAX
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    with os.fdopen(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
        fh.write("found\n")
    deep = "/" + "d/" * depth
    for n in range(1, hops):
        os.symlink(f"{deep}h{n + 1}" if n + 1 < hops else f"{deep}f", f"h{n}", dir_fd=fd)
    os.close(fd)
    os.symlink(f"{deep}f", root / "deep")
    os.symlink(f"{deep}h1" if hops > 1 else f"{deep}f", root / "h0")


def timed(label: str, call: Callable[[], object]) -> None:
    opens = 0
    real_open, real_openat2 = os.open, openat2.openat2

    def counting(*args: Any, **kwargs: Any) -> int:
        nonlocal opens
        opens += 1
        return real_open(*args, **kwargs)

    def counting2(dirfd: int, path: str, flags: int, resolve: int) -> int:
        nonlocal opens
        opens += 1
        return real_openat2(dirfd, path, flags, resolve)

    os.open = counting
    openat2.openat2 = counting2
    try:
        start = time.perf_counter()
        try:
            result: object = call()
        except Exception as exc:  # a refusal is a result too
            result = f"{type(exc).__name__}: {exc}"
        took = time.perf_counter() - start
    finally:
        os.open, openat2.openat2 = real_open, real_openat2
    shown = str(result)
    shown = shown if len(shown) < 60 else shown[:28] + "..." + shown[-28:]
    print(f"{label:<28} {took:9.3f} s  {opens:>10} opens  -> {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2000)
    parser.add_argument("--hops", type=int, default=3)
    parser.add_argument(
        "--no-openat2", action="store_true", help="time the fallback walk, as on kernels < 5.6"
    )
    args = parser.parse_args()
    if args.no_openat2:
        openat2.available = lambda: False  # type: ignore[assignment]  # a cached function
    tmp = tempfile.mkdtemp(dir="/var/tmp")
    try:
        build(Path(tmp), args.depth, args.hops)
        rootfs = Rootfs(Path(tmp))
        timed(f"resolve /deep (depth {args.depth})", lambda: rootfs.resolve("/deep"))
        timed("read_text /deep", lambda: rootfs.read_text("/deep"))
        timed(f"resolve /h0 ({args.hops} hops)", lambda: rootfs.resolve("/h0"))
        timed(f"read_text /h0 ({args.hops} hops)", lambda: rootfs.read_text("/h0"))
    finally:
        # rm walks with descriptors; shutil.rmtree recurses once per level and overflows.
        subprocess.run(["rm", "-rf", "--", tmp], check=True)


if __name__ == "__main__":
    main()
