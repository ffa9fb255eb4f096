"""liblxc's own words on stderr while python3-lxc opens a container, sifted.

liblxc writes "Failed to load config for NAME" straight to fd 2 whenever it cannot load a
container's config, and python3-lxc then raises a bare RuntimeError. lxcprov says what
happened in its own words instead (the config LXC refuses, or the container destroyed
between a listing and the open, which `stats --watch` and `ls` race against all the time),
so that one line is dropped; anything else liblxc writes to fd 2 meanwhile is passed on
unchanged, afterwards.

Only while this process runs one thread: fd 2 is the whole process's, and a child that
another thread spawned in that instant (lxcfs, dnsmasq, a template run) would keep the
capture as its stderr for good, its words lost. With several threads (`start --all`,
`new`'s advice) the line may show, rarely; nothing is ever lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator


def dropped_line(name: str) -> bytes:
    """The line liblxc prints when it cannot load NAME's config."""
    return f"Failed to load config for {name}\n".encode()


@contextlib.contextmanager
def sifted(drop: bytes) -> Iterator[None]:
    """Within: fd 2 goes to a memory file; after: all of it but the first `drop` line is
    written to the real fd 2. With other threads running, fd 2 is left as it is."""
    fds = _capture() if threading.active_count() == 1 else None
    if fds is None:
        yield
        return
    capture, saved = fds
    try:
        os.dup2(capture, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
    finally:
        os.close(saved)
        said = os.pread(capture, os.fstat(capture).st_size, 0)
        os.close(capture)
        _pass_on(said.replace(drop, b"", 1))


def _capture() -> tuple[int, int] | None:
    """A memory file for fd 2 and a copy of the real one; None when either cannot be had
    (out of descriptors, memfd forbidden by a seccomp filter): liblxc's line then shows,
    and the command goes on."""
    if sys.stderr is not None:
        sys.stderr.flush()  # Python's own buffered words go out before, in order
    try:
        capture = os.memfd_create("lxcprov-liblxc-stderr", os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        return capture, os.dup(2)
    except OSError:
        os.close(capture)
        return None


def _pass_on(data: bytes) -> None:
    while data:
        try:
            data = data[os.write(2, data) :]
        except OSError:
            return  # stderr itself is gone: nothing to say it on
