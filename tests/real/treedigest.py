"""A digest of a directory tree: every path with its type, mode, owner, xattrs (file
capabilities and ACLs included), content, link target, device numbers, and which paths
are one inode (hard links). Two trees with equal digests are the same to a container."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

Entry = tuple[object, ...]


def digest(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, Entry]:
    """path (relative to root, "." for root) -> what it is; skip: paths left out."""
    found: dict[str, tuple[Entry, tuple[int, int]]] = {}
    groups: dict[tuple[int, int], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        names = [*dirnames, *filenames]
        if dirpath == str(root):
            names.append(".")
        for name in names:
            p = os.path.normpath(os.path.join(dirpath, name))
            rel = os.path.relpath(p, root)
            if rel in skip or rel.startswith(tuple(s + "/" for s in skip)):
                continue
            # The root itself may be a /proc/self/fd/N link to the tree: followed.
            follow = rel == "."
            st = os.stat(p) if follow else os.lstat(p)
            xattrs = tuple(sorted((k, os.getxattr(p, k, follow_symlinks=follow).hex())
                                  for k in os.listxattr(p, follow_symlinks=follow)))  # fmt: skip
            body = ""
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    body = hashlib.sha256(fh.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                body = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            inode = (st.st_dev, st.st_ino)
            if not stat.S_ISDIR(st.st_mode):
                groups.setdefault(inode, []).append(rel)
            found[rel] = ((stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                           st.st_gid, xattrs, body), inode)  # fmt: skip
    out: dict[str, Entry] = {}
    for rel, (entry, inode) in found.items():
        group = groups.get(inode, [])
        # Hard links: the paths of one inode, named by the first of them in sorted order.
        out[rel] = (*entry, min(group) if len(group) > 1 else "")
    return out


def differences(a: dict[str, Entry], b: dict[str, Entry], limit: int = 10) -> list[str]:
    """What differs between two digests, for an assertion message."""
    out = [f"only in the first: {p}" for p in sorted(set(a) - set(b))]
    out += [f"only in the second: {p}" for p in sorted(set(b) - set(a))]
    out += [f"{p}: {a[p]} != {b[p]}" for p in sorted(set(a) & set(b)) if a[p] != b[p]]
    return out[:limit]
