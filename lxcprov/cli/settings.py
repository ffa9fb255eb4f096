"""`lxcprov set NAME KEY=VALUE...` and `lxcprov show NAME`: settings without lxc.conf."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.ops import settings
else:
    settings = lazy.module("lxcprov.ops.settings")
_COLOURS = {"changed": "green", "no change": "dim", "needs restart": "yellow"}


def set_(
    name: NameArg,
    assignments: Annotated[
        list[str],
        typer.Argument(
            metavar="KEY=VALUE...",
            help="Settings, e.g. memory=512M cpus=1 autostart=yes (lxcprov show lists them).",
            autocompletion=complete.setting_keys,
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Change settings (memory, swap, cpus, cpu-weight, autostart, hostname, ttys, ...)."""
    results = settings.set_words(options.container(name), assignments)
    if json_out:
        emit_json([r.as_dict() for r in results])
    for r in results:
        colour = _COLOURS[r.status]
        extra = f" ({shown(r.detail)})" if r.detail else ""
        err.print(f"{r.setting} = {shown(r.value)}: [{colour}]{r.status}[/]{extra}")
    if any(r.status == "needs restart" for r in results):
        err.print(f"restart to apply: lxcprov stop {name} && lxcprov start {name}")
    elif all(r.status == "no change" for r in results):
        err.print("nothing to change")


def show(
    name: NameArg,
    json_out: JsonOpt = False,
) -> None:
    """The container's settings (with units) and the raw keys of its LXC config."""
    view = settings.show(options.container(name))
    if json_out:
        emit_json(view.as_dict())
        return
    state = "running" if view.running else "stopped"
    err.print(f"[bold]{shown(name)}[/] ({state}; host {shown(view.cgroup)})")
    width = max(len(k) for k in view.settings)
    for key, value in view.settings.items():
        print(f"{key:<{width}}  {value}")
    err.print("[bold]config keys[/] (lxcprov set changes the ones above; the rest is yours)")
    for key, value in view.raw:
        print(f"  {key} = {value}")


def register(app: typer.Typer) -> None:
    app.command(
        "set",
        epilog=examples("lxcprov set web memory=512M cpus=2", "lxcprov set web autostart=yes"),
    )(set_)
    app.command(epilog=examples("lxcprov show web", "lxcprov show web --json"))(show)
