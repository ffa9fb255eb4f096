"""The `lxcprov` program (the console script and `python -m lxcprov`): main(), then out.

Why not a normal interpreter exit: its teardown frees every object of every module one
by one, and a `new` has loaded about a thousand (pyroute2's alone take 30 ms to free,
liblxc's binding 11 ms, lxcprov's 18): 60-80 ms after the work is done and the output
written, on every command. The kernel takes the memory and the file descriptors back at
exit anyway. What the teardown would do that matters is done first, explicitly: the
atexit callbacks (temporary directories, logging), then stdout and stderr are flushed.
main() itself keeps raising SystemExit, for callers in the same process (tests); a child
that batch forks for `new --count` runs its request through lxcprov.cli.guard instead.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

from lxcprov.cli import main, streams


def run() -> NoReturn:
    streams.standard_streams()
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    exit_now(code)


def exit_now(code: object) -> NoReturn:
    """Exit as SystemExit(code) would (None is 0, a text is printed and is 1), without the
    interpreter's teardown."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`lxcprov ls | head`): nothing to keep
            status = status or 1
    os._exit(status & 0xFF)
