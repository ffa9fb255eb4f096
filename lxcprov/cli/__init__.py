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

from lxcprov.cli import bases, container, doctor, forwards, mounts, recipes, settings, templates
from lxcprov.cli.common import err, options, shown
from lxcprov.errors import LxcprovError

app = typer.Typer(
    name="lxcprov",
    help="LXC containers that boot, have a network and a login console when created.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    lxcpath: Annotated[
        str | None,
        typer.Option(
            "--lxcpath",
            "-P",
            envvar="LXCPROV_LXCPATH",
            help="Where containers live (default: LXC's system lxcpath).",
        ),
    ] = None,
) -> None:
    # A plain string: the root check must come before any access check on the path.
    options.lxcpath = Path(lxcpath) if lxcpath else None


container.register(app)
recipes.register(app)
doctor.register(app)
settings.register(app)
templates.register(app)
app.add_typer(bases.app, name="bases")
app.add_typer(mounts.app, name="mount")
app.add_typer(forwards.app, name="forward")
# The network commands live in their own package and may be absent in a partial install.
with contextlib.suppress(ModuleNotFoundError):
    app.add_typer(importlib.import_module("lxcprov.cli.net").app, name="net")


def _terminated(signum: int, _frame: object) -> None:
    # SIGTERM (kill, systemd stop) unwinds like Ctrl-C: a command undoes its half-made work.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
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
