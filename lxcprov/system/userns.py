"""Run a function as root of a running container's user namespace.

A running unprivileged clone's overlay is mounted inside its user namespace (that is how
liblxc mounts it, with userxattr): host root reaching it through /proc/<init>/root cannot
create a file there, since uid 0 has no id in that namespace (EOVERFLOW). A forked child
joins the namespace (setns through the init's pidfd), becomes its uid and gid 0 (the
container's root: host uid HOST), and does the writes; the result or the error comes
back through a pipe.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
from collections.abc import Callable

from lxcprov.errors import DiskFullError, LxcprovError, RootfsError

_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1


def _setns(fd: int, nstype: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _die_with(parent: int) -> None:
    """End this child when the command that forked it dies (SIGKILL included): a write it
    was streaming (from stdin, say) must not be completed from a truncated source."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def run_as_root_of(pid: int, fn: Callable[[], object]) -> None:
    """fn() in a child that is root of pid's user namespace; its LxcprovError re-raised,
    its OSError too (its errno and text: the caller words it as for its own writes)."""
    pidfd = os.pidfd_open(pid)
    read_end, write_end = os.pipe()
    parent = os.getpid()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, its result is what is tested
        os.close(read_end)
        code, report = 0, dict[str, object]()
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _setns(pidfd, _CLONE_NEWUSER)
            os.setgroups([])
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            _die_with(parent)  # after the id changes, which clear it
            fn()
        except LxcprovError as exc:
            code, report = 1, {"kind": type(exc).__name__, "message": exc.message,
                               "hint": exc.hint or ""}  # fmt: skip
        except OSError as exc:
            code, report = 1, {"kind": "OSError", "message": str(exc), "errno": exc.errno or 0}
        except BaseException as exc:
            code, report = 1, {"kind": type(exc).__name__, "message": str(exc)}
        os.write(write_end, json.dumps(report).encode())
        os._exit(code)
    os.close(write_end)
    os.close(pidfd)
    with os.fdopen(read_end, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return
    report = json.loads(data or b"{}")
    message = str(report.get("message") or "the write inside the container failed")
    code = report.get("errno")
    if report.get("kind") == "OSError" and isinstance(code, int) and code:
        raise OSError(code, os.strerror(code))  # as the same write from here would raise it
    if report.get("kind") == "DiskFullError":
        raise DiskFullError(message, hint=str(report.get("hint") or "") or None)
    raise RootfsError(message, hint=str(report.get("hint") or "") or None)
