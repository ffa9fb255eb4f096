"""How a command's failure is shown: one line and a hint on stderr, and its exit code.

Used by main() for every command, and by a child that batch forked for `new --count`
(it runs its request without going through main again).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

from lxcprov.cli.common import err, shown
from lxcprov.errors import LxcprovError


def guarded(work: Callable[[], None]) -> None:
    """Run work; a failure is said in one line and a hint, then SystemExit(its code)."""
    try:
        work()
    except LxcprovError as exc:
        for line in exc.details:
            err.print(f"  {shown(line)}")
        err.print(f"[bold red]error:[/] {shown(exc.message)}")
        if exc.hint:
            err.print(f"[dim]hint:[/] {shown(exc.hint)}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except OSError as exc:
        # The last resort for a system error no layer named: one line, not a traceback.
        if os.environ.get("LXCPROV_DEBUG"):
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]error:[/] {shown(exc.strerror or str(exc))}{shown(where)}")
        hint = (
            "free some space there" if exc.errno == errno.ENOSPC else "LXCPROV_DEBUG=1 shows where"
        )
        err.print(f"[dim]hint:[/] {hint}")
        sys.exit(1)
