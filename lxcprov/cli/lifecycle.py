"""start, restart, stop, destroy: containers by names or ls's patterns, each reported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, each, lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError, StartFailedError, StopFailedError
from lxcprov.ops.defaults import START_LOGIN_TIMEOUT

if TYPE_CHECKING:
    from lxcprov.cli import doctor as doctor_cli
    from lxcprov.ops import autostart, halt, lifecycle, recovery, startorder
else:
    doctor_cli = lazy.module("lxcprov.cli.doctor")
    autostart = lazy.module("lxcprov.ops.autostart")
    halt = lazy.module("lxcprov.ops.halt")
    lifecycle = lazy.module("lxcprov.ops.lifecycle")
    startorder = lazy.module("lxcprov.ops.startorder")


NamesOpt = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="NAME...",
        help="Containers: names, or shell patterns as in ls ('web*').",
        autocompletion=complete.containers,
    ),
]
NamesArg = Annotated[
    list[str],
    typer.Argument(
        metavar="NAME...",
        help="Containers: names, or shell patterns as in ls ('web*').",
        autocompletion=complete.containers,
    ),
]


def _say_started(name: str, started: lifecycle.Started) -> None:
    doctor_cli.show_findings(started.warnings)
    for note in started.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    if started.already:
        err.print(f"{shown(name)} is already running")
        return
    err.print(f"[green]{shown(name)} is {started.state}[/]")
    if started.login_tty is not None:
        where = f"tty{started.login_tty}" if started.login_tty else "the console"
        err.print(f"login prompt seen on {where}")


def _started_json(name: str, started: lifecycle.Started) -> dict[str, object]:
    return {"name": name, "state": started.state, "login_tty": started.login_tty,
            "already_running": started.already,
            "warnings": [f.as_dict() for f in started.warnings]}  # fmt: skip


def start(
    names: NamesOpt = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Start every autostart=yes container, their network first."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Start containers, several at once, each until its login prompt shows (or, with
    --all, the autostart ones, network first, a group of one start order at a time). One
    already running is left as it is."""
    if all_:
        if names:
            raise InvalidArgumentError(
                "give NAME... or --all, not both", hint="lxcprov start --all"
            )
        result = autostart.start_all(
            options.path(),
            lambda msg: err.print(f"==> {shown(msg)}"),
            # Each as it ends: a group of many says its first at once, not after its last.
            lambda i: err.print(f"{shown(i.name)}: {shown(i.status)} {shown(i.detail)}"),
        )
        if json_out:
            emit_json({"ok": result.ok, "containers": [
                {"name": i.name, "status": i.status, "detail": i.detail} for i in result.containers
            ]})  # fmt: skip
        if not result.ok:
            raise StartFailedError("some autostart containers did not start")
        return
    if not names:
        raise InvalidArgumentError("start needs NAME... or --all", hint="lxcprov start web1")
    each.for_each(
        names,
        lambda c: lifecycle.start(c, login_timeout=START_LOGIN_TIMEOUT),
        _say_started,
        _started_json,
        verb="start",
        json_out=json_out,
        at_once=startorder.AT_ONCE,
    )


def restart(names: NamesArg, json_out: JsonOpt = False) -> None:
    """Stop containers (clean shutdown, then kill after 30 s) and start them again, several
    at once, each until its login prompt shows; a stopped one is just started."""
    each.for_each(
        names,
        lambda c: lifecycle.restart(c, login_timeout=START_LOGIN_TIMEOUT),
        _say_started,
        _started_json,
        verb="restart",
        json_out=json_out,
        at_once=startorder.AT_ONCE,
    )


def stop(
    names: NamesOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Stop every running container (at host shutdown).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Stop containers, all at once (clean shutdown, then kill after 30 s)."""
    if all_:
        if names:
            raise InvalidArgumentError("give NAME... or --all, not both", hint="lxcprov stop --all")
        err.print("stopping every running container (clean shutdowns, at once)")
        stopped = halt.stop_all(
            options.path(), lambda who, state: err.print(f"{shown(who)} is {shown(state)}")
        )
        if json_out:
            emit_json([{"name": who, "state": state} for who, state in stopped])
        if any(state.startswith("not stopped") for _who, state in stopped):
            raise StopFailedError("some containers did not stop")
        return
    if not names:
        raise InvalidArgumentError("stop needs NAME... or --all", hint="lxcprov stop web1")

    def announced() -> None:
        # Said once the names are known good (a pattern that matches nothing is refused).
        if each.several(names):
            err.print("stopping them at once (clean shutdowns; each killed if not down in 30 s)")
        else:
            err.print(f"stopping {shown(names[0])} (a clean shutdown; killed if not down in 30 s)")

    each.for_each(
        names,
        halt.stop,
        lambda name, state: err.print(f"{shown(name)} is {state}"),
        lambda name, state: {"name": name, "state": state},
        verb="stop",
        json_out=json_out,
        at_once=halt.AT_ONCE,
        before=announced,
    )


def destroy(
    names: NamesArg,
    force: Annotated[
        bool,
        typer.Option("--force", "-f", help="Stop it first if running; remove a half-made one."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove containers and their rootfs."""

    def say(name: str, removed: recovery.Removed) -> None:
        for line in removed.done:
            err.print(f"  {shown(line)}")
        err.print(f"{shown(name)} destroyed")

    each.for_each(
        names,
        lambda c: lifecycle.destroy(c, force=force),
        say,
        lambda name, removed: {"name": name, "destroyed": True, "done": removed.done},
        verb="destroy",
        json_out=json_out,
    )


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples("lxcprov start web", "lxcprov start web1 web2 'db*'", "lxcprov start --all")
    )(start)
    app.command(epilog=examples("lxcprov restart web", "lxcprov restart 'web*'"))(restart)
    app.command(
        epilog=examples("lxcprov stop web", "lxcprov stop web1 web2", "lxcprov stop --all")
    )(stop)
    app.command(epilog=examples("lxcprov destroy web", "lxcprov destroy --force web 'test*'"))(
        destroy
    )
