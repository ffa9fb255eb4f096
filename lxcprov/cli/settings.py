"""`lxcprov set NAME KEY=VALUE...` and `lxcprov show NAME`: settings without lxc.conf."""

from __future__ import annotations

from typing import Annotated

import typer

from lxcprov.cli.common import emit_json, err, options, shown
from lxcprov.ops import settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
_COLOURS = {"changed": "green", "no change": "dim", "needs restart": "yellow"}


def set_(
    name: Annotated[str, typer.Argument(help="Container name.")],
    assignments: Annotated[
        list[str], typer.Argument(help="KEY=VALUE, e.g. memory=512M cpus=1 autostart=yes.")
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
    name: Annotated[str, typer.Argument(help="Container name.")],
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
    app.command("set")(set_)
    app.command()(show)
