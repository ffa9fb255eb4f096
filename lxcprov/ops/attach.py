"""The command lines that put a terminal or a command inside a running container.

`console` and `exec` hand the terminal over to LXC's own tools (the CLI execs the argv);
this module is all they load, so they start as fast as a command can (lifecycle's
start/stop/destroy bring doctor, mounts and recovery with them).
"""

from __future__ import annotations

from lxcprov.errors import StartFailedError
from lxcprov.system import lxc

# What `exec` runs commands with: a clean environment with a usual PATH.
EXEC_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def login_tty(ttys: int) -> int:
    """The terminal `console` attaches to by default: tty1, or the console if no ttys."""
    return 1 if ttys >= 1 else 0


def running(container: lxc.Container) -> lxc.Container:
    lxc.require_root()
    container.require()
    if not container.running():
        raise StartFailedError(
            f"{container.name} is not running",
            hint=f"start it with: lxcprov start {container.name}",
        )
    return container


def console_argv(container: lxc.Container, tty: int | None) -> list[str]:
    """lxc-console on the container's login terminal (tty1, or the console without ttys)."""
    running(container)
    if tty is None:
        ttys = container.config().get("lxc.tty.max", "0")
        tty = login_tty(int(ttys) if ttys.isdigit() else 0)
    return ["lxc-console", "-P", str(container.lxcpath), "-n", container.name, "-t", str(tty)]


def exec_argv(container: lxc.Container, command: list[str]) -> list[str]:
    """lxc-attach running command inside, with a clean environment."""
    running(container)
    path = str(container.lxcpath)
    return ["lxc-attach", "-P", path, "-n", container.name, "--clear-env", "--set-var", EXEC_PATH,
            "--", *command]  # fmt: skip
