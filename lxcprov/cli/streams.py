"""The standard streams as the program found them: a closed one is given /dev/null, and
remembered, so a command whose data is stdout (`export NAME -`) can refuse to write it
nowhere."""

from __future__ import annotations

import os
import sys

from lxcprov.errors import InvalidArgumentError

CLOSED: set[int] = set()  # the standard fds that were closed when lxcprov started


def standard_streams() -> None:
    """Give a closed stdin, stdout or stderr (`lxcprov new <&-`) /dev/null, as daemons and
    coreutils do: the next file lxcprov opens would otherwise take that number and a
    child would read or write it as a standard stream; and Python leaves sys.stdin None,
    which every `isatty()` would trip on."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            CLOSED.add(fd)
            os.dup2(null := os.open(os.devnull, os.O_RDWR), fd)
            if null != fd:
                os.close(null)
            if getattr(sys, name) is None:
                setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))  # noqa: SIM115


def require_stdout(what: str) -> None:
    """Refuse to write `what` to a stdout that was closed (it would go to /dev/null)."""
    if 1 in CLOSED:
        raise InvalidArgumentError(
            f"stdout is closed: {what} would be lost", hint="give a FILE, or open stdout"
        )
