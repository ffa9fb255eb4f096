"""The `lxcprov` command: a thin layer that parses options, calls the API and renders."""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from typer.main import get_command_name
from typer.models import CommandInfo

from lxcprov.cli import (
    access,
    archive,
    attach,
    bases,
    devices,
    doctor,
    files,
    fix,
    forwards,
    guard,
    helptext,
    images,
    lifecycle,
    ls,
    metrics,
    mounts,
    new,
    recipes,
    settings,
    snapshots,
    stats,
    templates,
)
from lxcprov.cli.common import err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import NotRootError
from lxcprov.system import locks

SHELLS = ("bash", "zsh", "fish")

app = typer.Typer(
    name="lxcprov",
    help="LXC containers that boot, have a network and a login console when created.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
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
    # A command that waits for another one's hold on a container says so, and for whom.
    locks.tell_waits(lambda msg: err.print(f"==> {shown(msg)}"))


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
    """Print the shell completion script (the lxcprov package installs it for each shell)."""
    from typer._completion_shared import get_completion_script

    from lxcprov.cli import bashcomplete

    if shell not in SHELLS:
        raise typer.BadParameter(f"one of {', '.join(SHELLS)}", param_hint="SHELL")
    if shell == "bash":  # bash splits `memory=` at the `=`: lxcprov's own script
        script = bashcomplete.SCRIPT % {"complete_func": bashcomplete.FUNCTION,
                                        "autocomplete_var": "_LXCPROV_COMPLETE",
                                        "prog_name": "lxcprov"}  # fmt: skip
    else:
        script = get_completion_script(
            prog_name="lxcprov", complete_var="_LXCPROV_COMPLETE", shell=shell
        )
    sys.stdout.write(script.strip() + "\n")


# In the order `lxcprov --help` lists them.
new.register(app)
fix.register_fix(app)
attach.register_console(app)
lifecycle.register(app)
ls.register(app)
stats.register(app)  # stats, top
metrics.register(app)
fix.register_convert(app)
attach.register_exec(app)  # exec, shell
recipes.register(app)
doctor.register(app)
settings.register(app)
snapshots.register(app)
archive.register(app)
files.register(app)  # push, pull
templates.register(app)
app.add_typer(bases.app, name="bases")
app.add_typer(images.app, name="images")
app.add_typer(mounts.app, name="mount")
app.add_typer(devices.app, name="device")
app.add_typer(forwards.app, name="forward")
importlib.import_module("lxcprov.cli.apply").register(app)  # apply, export-spec
# The network commands live in their own package and may be absent in a partial install.
with contextlib.suppress(ModuleNotFoundError):
    app.add_typer(importlib.import_module("lxcprov.cli.net").app, name="net")


def _terminated(_signum: int, _frame: object) -> None:
    # SIGTERM (kill, systemd stop) unwinds like Ctrl-C: a command undoes its half-made work.
    raise KeyboardInterrupt


# The root options that take a value (the next word is not a command).
_VALUE_OPTIONS = frozenset({"--lxcpath", "-P"})


def _command_word(args: list[str]) -> str | None:
    words = iter(args)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _nothing() -> None:
    """The callback of a stand-in command: it is listed, never run."""


def _name(info: CommandInfo) -> str:
    """The word that runs a registered command (typer's rule: the function's name)."""
    return info.name or get_command_name((info.callback or _nothing).__name__)


def _stand_in(info: CommandInfo) -> CommandInfo:
    """A command as the root help and "No such command" see it: its name and help texts,
    without the parameters typer would otherwise read from its signature."""
    callback = info.callback or _nothing
    stand_in = copy.copy(info)
    stand_in.name = _name(info)
    stand_in.help = info.help if info.help is not None else inspect.getdoc(callback)
    stand_in.callback = _nothing
    return stand_in


def _command_words() -> list[str]:
    """The words that name a command or a group of commands (hidden ones included)."""
    if not isinstance(app, typer.Typer):  # a test's stand-in
        return []
    return [_name(c) for c in app.registered_commands] + [
        g.name for g in app.registered_groups if g.name
    ]


@contextlib.contextmanager
def _only_the_command(word: str | None, *, every_command: bool = False) -> Iterator[None]:
    """typer turns every command's signature into click parameters on each run (about
    0.1 s for lxcprov's 35): build just the one being run. When no command is named
    (`--help`, no arguments, an unknown word), nothing runs and typer only lists the
    commands: it gets stand-ins with their names and help but no parameters. Completion
    (every_command) needs them all, whole."""
    if not isinstance(app, typer.Typer):  # a test's stand-in
        yield
        return
    commands, groups = app.registered_commands, app.registered_groups
    kept = [c for c in commands if _name(c) == word]
    kept_groups = [g for g in groups if g.name == word]  # fmt: skip
    sub_typers = [g.typer_instance for g in groups if isinstance(g.typer_instance, typer.Typer)]
    emptied = [(t, t.registered_commands, t.registered_groups) for t in sub_typers]
    if kept or kept_groups:
        app.registered_commands, app.registered_groups = kept, kept_groups
    elif not every_command:
        app.registered_commands = [_stand_in(c) for c in commands]
        for sub in sub_typers:  # a group is listed by its own help, not its commands'
            sub.registered_commands, sub.registered_groups = [], []
    try:
        yield
    finally:
        app.registered_commands, app.registered_groups = commands, groups
        for sub, sub_commands, sub_groups in emptied:
            sub.registered_commands, sub.registered_groups = sub_commands, sub_groups


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    word, every_command = _command_word(sys.argv[1:]), False
    if "_LXCPROV_COMPLETE" in os.environ:
        # A shell asks for completions: typer registers its shell classes only when it
        # adds its own --install-completion options, which lxcprov replaces with
        # `lxcprov completion SHELL`. Completion needs every command.
        from typer._click.shell_completion import add_completion_class
        from typer._completion_classes import completion_init

        from lxcprov.cli.bashcomplete import Bash

        completion_init()
        add_completion_class(Bash, "bash")  # the line as typed, not bash's words
        word, every_command = None, True
    guard.guarded(lambda: _run(word, every_command=every_command))


def _run(word: str | None, *, every_command: bool) -> None:
    if (
        os.geteuid() != 0
        and not every_command
        and access.needs_root(word, sys.argv[1:], _command_words())
    ):
        raise NotRootError("lxcprov needs root to manage containers")
    with _only_the_command(word, every_command=every_command):
        app()
