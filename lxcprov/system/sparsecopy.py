"""Copy one regular file into another keeping its holes, as `cp -a` does.

A container with a 64M disk limit can hold a 3G sparse file (`dd seek=3G count=0`): copied
byte for byte it would write 3 GB of zeroes on the other side. Only the data extents are
copied (SEEK_DATA / SEEK_HOLE), then the copy is truncated to the size, which leaves the
holes unallocated. A source that is not a regular file (a pipe: stdin) is streamed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

_CHUNK = 1 << 20


def copy(src: int, dst: int) -> int:
    """Copy src (from its start) to the empty dst; the bytes the copy holds (its size)."""
    st = os.fstat(src)
    if not stat.S_ISREG(st.st_mode):
        return stream(src, dst)
    size = st.st_size  # what is appended while it is copied is not (one snapshot of the size)
    pos = 0
    while pos < size:
        try:
            start = os.lseek(src, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole from pos to the end
                break
            raise
        if start >= size:
            break
        end = min(os.lseek(src, start, os.SEEK_HOLE), size)
        _range(src, dst, start, end)
        pos = end
    os.ftruncate(dst, size)
    return size


def _range(src: int, dst: int, start: int, end: int) -> None:
    """Bytes start..end of src to the same place in dst: in the kernel when it can."""
    pos = start
    with contextlib.suppress(OSError):
        while pos < end:
            n = os.copy_file_range(src, dst, end - pos, pos, pos)
            if n == 0:  # the source shrank meanwhile
                return
            pos += n
        return
    # copy_file_range refused (another filesystem on an old kernel): go on from pos.
    while pos < end:
        chunk = os.pread(src, min(_CHUNK, end - pos), pos)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            written = os.pwrite(dst, view, pos)
            view, pos = view[written:], pos + written


def stream(src: int, dst: int) -> int:
    """Copy src to dst until src ends; the bytes copied. In-kernel between two regular
    files, read and write otherwise (a pipe, a terminal)."""
    total = 0
    with contextlib.suppress(OSError):
        while n := os.copy_file_range(src, dst, 1 << 30):
            total += n
        return total
    # copy_file_range refused (a pipe) before or after some bytes: the offsets of both
    # moved with what it did copy, go on from there.
    while chunk := os.read(src, _CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]
        total += len(chunk)
    return total
