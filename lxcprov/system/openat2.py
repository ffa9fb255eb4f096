"""openat2(2), which Python's os module does not wrap, through libc's syscall().

With RESOLVE_IN_ROOT the kernel resolves a whole path inside a directory descriptor the
way a chroot would (absolute symlinks start at it, `..` stops at it), in one call whose
cost is linear in the path, and it refuses a `..` it cannot prove stayed inside (EAGAIN)
when a rename or mount races the lookup. Linux 5.6 and later; `available()` says whether
this kernel (and any seccomp filter around us) lets us use it.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
from collections.abc import Callable

# The two resolve flags lxcprov asks for (linux/openat2.h).
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

# The generic syscall table gives openat2 the same number on both architectures we run on.
_SYSCALL_NUMBERS = {"x86_64": 437, "aarch64": 437}


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


@functools.cache
def _syscall() -> tuple[Callable[..., int], int] | None:
    number = _SYSCALL_NUMBERS.get(platform.machine())
    if number is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    func = libc.syscall
    func.restype = ctypes.c_long
    return func, number


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """A new descriptor for path relative to dirfd; raises OSError like os.open."""
    found = _syscall()
    if found is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), path)
    func, number = found
    how = _OpenHow(flags, 0, resolve)
    fd = func(
        ctypes.c_long(number),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


@functools.cache
def available() -> bool:
    """True when openat2 works here (a kernel before 5.6, or a seccomp filter, says no)."""
    try:
        fd = openat2(-100, "/", os.O_PATH | os.O_CLOEXEC, RESOLVE_IN_ROOT)  # -100: AT_FDCWD
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
            return False
        raise
    os.close(fd)
    return True
