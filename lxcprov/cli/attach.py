"""console, exec, shell: this terminal or a command inside a running container."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import lazy
from lxcprov.cli.common import NameArg, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.ops import attach
    from lxcprov.system import run
else:
    attach = lazy.module("lxcprov.ops.attach")
    run = lazy.module("lxcprov.system.run")


def console(
    name: NameArg,
    tty: Annotated[
        int | None,
        typer.Option("--tty", metavar="N", help="Terminal number; 0 is the console."),
    ] = None,
) -> None:
    """Attach this terminal to the container's login prompt (Ctrl-a q leaves).

    It says first what waits there: a login prompt (type the user name, root, then
    Enter), a session someone left, or nothing (no getty: lxcprov doctor says why).
    """
    container = options.container(name)
    container.require()  # `console nosuch` says no such container, terminal or not
    attach.require_terminal(os.isatty(0), name)
    argv = attach.console_argv(container, tty)
    number = int(argv[-1])
    where = f"tty{number}" if number else "the console"
    found = attach.terminal(container, number)
    if found.state == "prompt":
        err.print(f"a login prompt waits on {where}: type the user name (root), then Enter")
    elif found.state == "session":
        err.print(f"{where} has a session open ({shown(found.program)}): Enter shows its prompt")
    elif found.state == "nothing":
        err.print(
            f"[yellow]nothing answers on {where}:[/] no getty runs there; see why with: "
            f"lxcprov doctor {shown(name)}"
        )
    else:
        err.print(f"attached to {where}: press Enter to see what answers")
    run.replace_process(argv)


def exec_(
    name: NameArg,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- COMMAND...]",
            help="Command and arguments, after --; none: a login shell, as lxcprov shell.",
        ),
    ] = None,
) -> None:
    """Run a command inside a running container as root, in /; exits with its exit code.

    The environment is clean: PATH, root's HOME, USER, and your TERM.
    """
    command = list(command or [])
    if command and command[0] == "--":
        command = command[1:]  # click keeps the separator when interspersed args are off
    term = os.environ.get("TERM")
    run.replace_process(attach.exec_argv(options.container(name), command, term))


def shell(name: NameArg) -> None:
    """A login shell as root inside a running container (HOME, cwd home, your TERM), as
    `incus shell` and `pct enter` give."""
    run.replace_process(attach.shell_argv(options.container(name), os.environ.get("TERM")))


def register_console(app: typer.Typer) -> None:
    app.command(epilog=examples("lxcprov console web", "lxcprov console web --tty 0"))(console)


def register_exec(app: typer.Typer) -> None:
    """exec and shell."""
    app.command(
        "exec",
        context_settings={"allow_interspersed_args": False},
        epilog=examples(
            "lxcprov exec web -- apt-get update",
            "lxcprov exec web -- sh -c 'ls /'",
            "lxcprov exec web",
        ),
    )(exec_)
    app.command(epilog=examples("lxcprov shell web"))(shell)
