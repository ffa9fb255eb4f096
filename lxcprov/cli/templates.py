"""`lxcprov templates`: the templates installed here, whether they can work, their releases."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lxcprov.cli import lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.ops import guided
else:
    guided = lazy.module("lxcprov.ops.guided")


def templates(json_out: JsonOpt = False) -> None:
    """List the templates `new` can use here (what each needs, its releases); `new`
    refuses one that cannot work here unless --force."""
    choices = guided.template_choices()
    if json_out:
        emit_json([t.as_dict() for t in choices])
        return
    for t in choices:
        mark = "" if t.usable else f" [yellow](cannot work here: {shown(t.why_not)})[/]"
        releases = f" releases: {', '.join(t.releases)}" if t.releases else ""
        err.print(f"[bold]{shown(t.name)}[/]: {shown(t.needs)}{shown(releases)}{mark}")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("lxcprov templates", "lxcprov templates --json"))(templates)
