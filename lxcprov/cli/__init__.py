"""The `lxcprov` command: a thin layer that parses options, calls the API and renders."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from lxcprov.cli import (
    archive,
    bases,
    container,
    doctor,
    forwards,
    mounts,
    recipes,
    settings,
    snapshots,
    templates,
)
from lxcprov.cli.common import err, examples, options, shown
from lxcprov.errors import LxcprovError

SHELLS = ("bash", "zsh", "fish")

app = typer.Typer(
    name="lxcprov",
    help="LXC containers that boot, have a network and a login console when created.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def version() -> str:
    """The installed package's version: the one source of truth is its metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("lxcprov")
    except PackageNotFoundError:
        return "unknown (not installed: run scripts/install)"


def _show_version(value: bool) -> None:
    if value:
        print(f"lxcprov {version()}")
        raise typer.Exit


@app.callback()
def _root(
    lxcpath: Annotated[
        str | None,
        typer.Option(
            "--lxcpath",
            "-P",
            metavar="DIR",
            envvar="LXCPROV_LXCPATH",
            help="Where containers live (default: LXC's system lxcpath).",
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Print lxcprov's version and exit.",
        ),
    ] = False,
) -> None:
    # A plain string: the root check must come before any access check on the path.
    options.lxcpath = Path(lxcpath) if lxcpath else None


@app.command(
    epilog=examples(
        "lxcprov completion bash > /usr/share/bash-completion/completions/lxcprov",
        "lxcprov completion zsh > /usr/share/zsh/vendor-completions/_lxcprov",
    )
)
def completion(
    shell: Annotated[
        str,
        typer.Argument(metavar="bash|zsh|fish", help="The shell to print the script for."),
    ],
) -> None:
    """Print the shell completion script (scripts/install puts it where shells find it)."""
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        raise typer.BadParameter(f"one of {', '.join(SHELLS)}", param_hint="SHELL")
    script = get_completion_script(
        prog_name="lxcprov", complete_var="_LXCPROV_COMPLETE", shell=shell
    )
    sys.stdout.write(script.strip() + "\n")


container.register(app)
recipes.register(app)
doctor.register(app)
settings.register(app)
snapshots.register(app)
archive.register(app)
templates.register(app)
app.add_typer(bases.app, name="bases")
app.add_typer(mounts.app, name="mount")
app.add_typer(forwards.app, name="forward")
importlib.import_module("lxcprov.cli.apply").register(app)  # apply, export-spec
# The network commands live in their own package and may be absent in a partial install.
with contextlib.suppress(ModuleNotFoundError):
    app.add_typer(importlib.import_module("lxcprov.cli.net").app, name="net")


def _terminated(signum: int, _frame: object) -> None:
    # SIGTERM (kill, systemd stop) unwinds like Ctrl-C: a command undoes its half-made work.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    if "_LXCPROV_COMPLETE" in os.environ:
        # A shell asks for completions: typer registers its shell classes only when it
        # adds its own --install-completion options, which lxcprov replaces with
        # `lxcprov completion SHELL`.
        from typer._completion_classes import completion_init

        completion_init()
    try:
        app()
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
