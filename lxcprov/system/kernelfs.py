"""Whether an open file lives on a filesystem the kernel makes up (proc, sysfs, ...).

A running container's /proc and /sys are the kernel's view, and what such a file shows
depends on who reads it: host root opening /proc/kallsyms (or a container's symlink to it)
sees the kernel's real addresses, which the container's own root does not. lxcprov reads
a container's files as host root, so it refuses to read any file on one of these
filesystems: the check is on the opened descriptor (fstatfs), so no path or symlink trick
gets around it. (A devtmpfs is a tmpfs to fstatfs; its device nodes are not regular files
and are refused anyway.)

FUSE is refused too: lxcfs serves a container's /proc/uptime, /proc/meminfo, ... from a
FUSE filesystem and answers by who reads, so host root would read the host's values; and a
FUSE filesystem the container runs itself answers (or never answers) as its daemon likes,
which could hang a pull.
"""

from __future__ import annotations

import ctypes
import os

# f_type of struct statfs, from linux/magic.h
_KERNEL_FS = {
    0x9FA0: "proc",
    0x62656572: "sysfs",
    0x1CD1: "devpts",
    0x64626720: "debugfs",
    0x74726163: "tracefs",
    0x73636673: "securityfs",
    0x27E0EB: "cgroup",
    0x63677270: "cgroup2",
    0xCAFE4A11: "bpf",
    0x62656570: "configfs",
    0xDE5E81E4: "efivarfs",
    0x6165676C: "pstore",
    0x65735543: "fusectl",
    0x42494E4D: "binfmt_misc",
    0x65735546: "fuse",
}
_STATFS_SIZE = 256  # larger than struct statfs on every architecture; f_type comes first


def kind(fd: int) -> str | None:
    """The name of the kernel filesystem fd is on (proc, sysfs, ...), None for any other."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    if libc.fstatfs(fd, buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    f_type = ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
    return _KERNEL_FS.get(f_type)
