"""`lxcprov recipes`: what each recipe fixes and when it applies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lxcprov.cli import lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.engine import recipes as engine
else:
    engine = lazy.module("lxcprov.engine.recipes")


def recipes(json_out: JsonOpt = False) -> None:
    """List the recipes, what they fix and when they apply."""
    loaded = engine.load_all()
    if json_out:
        emit_json(
            [
                {
                    "name": r.name,
                    "summary": r.summary,
                    "fixes": r.fixes,
                    "when": r.when_text or "always",
                    "scope": r.scope,
                    "order": r.order,
                    "source": str(r.source),
                    "steps": [s.action for s in r.steps],
                }
                for r in loaded
            ]
        )
        return
    for r in loaded:
        err.print(f"[bold]{shown(r.name)}[/] ({r.scope}): {shown(r.summary)}")
        if r.fixes:
            err.print(f"    fixes: {shown(r.fixes)}")
        err.print(f"    when:  {shown(r.when_text or 'always')}")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("lxcprov recipes", "lxcprov recipes --json"))(recipes)
