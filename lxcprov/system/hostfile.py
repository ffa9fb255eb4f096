"""Reading a file an admin named on the host (a recipe, an apply document, --user-data):
a regular file, at most so many bytes, or a reason why not.

Such a path may name a FIFO (a read waits for a writer for good), a device (opening one
can act by itself: a watchdog starts counting; /dev/zero reads without end) or a
directory. So the file is looked at before it is opened, opened non-blocking and without
taking a terminal, and must still be what was looked at.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotReadable(Exception):
    """Why the file was not read, in a few words the caller puts in its own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_regular(path: Path | str, limit: int) -> bytes:
    """path's bytes, at most limit + 1 of them: a caller sees that a file is too large
    and says so in its own words."""
    try:
        seen = os.stat(path)
        if not stat.S_ISREG(seen.st_mode):
            raise NotReadable("not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise NotReadable(exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as file:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
            raise NotReadable("changed while it was read")
        try:
            return file.read(limit + 1)
        except OSError as exc:
            raise NotReadable(exc.strerror or str(exc)) from None
