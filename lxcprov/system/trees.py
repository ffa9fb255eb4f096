"""Copy a directory tree with everything a root filesystem holds, and measure one.

`copy` is `cp -a`: numeric owners, modes (setuid and setgid included, set after the
owner), hard links, every xattr (file capabilities, POSIX ACLs as their raw numeric
xattrs, overlayfs' own markers), device nodes, FIFOs, sockets, symlinks unfollowed, holes
of sparse files, timestamps. LXC's own copy (`rsync -aHXS`, what lxc-copy and
lxc-snapshot run) drops POSIX ACLs; `cp -a` keeps them (docs/snapshots.md). A tree that
must report its progress is copied through tar instead (lxcprov.system.tarball.transfer).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lxcprov.system import run


def copy(src: Path | str, dst: Path) -> None:
    """Copy the contents and attributes of directory src into dst (made if missing).

    src may be a /proc/self/fd/N path of a directory descriptor (a mounted overlay).
    """
    if not dst.exists():
        dst.mkdir(mode=0o700)
    # `SRC/.` copies what is in SRC, and SRC's own owner and mode onto DST.
    run.run(["cp", "-a", "--reflink=auto", "--", f"{src}/.", str(dst)])


def disk_usage(root: Path) -> int:
    """Bytes a tree takes on disk, each inode once (hard links), links never followed."""
    seen: set[tuple[int, int]] = set()
    total = 0

    def add(p: str) -> None:
        nonlocal total
        try:
            st = os.lstat(p)
        except OSError:
            return
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in seen:
                return
            seen.add(key)
        total += st.st_blocks * 512

    add(str(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            add(os.path.join(dirpath, name))
    return total


def content_size(root: Path) -> int:
    """About how many bytes tar will write for the tree: file sizes plus a header each
    (a progress bar's total, not a promise)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        total += 512 * (len(dirnames) + len(filenames))
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):  # tar --sparse writes only what has blocks
                total += min(st.st_size + 511, st.st_blocks * 512) // 512 * 512
    return total
