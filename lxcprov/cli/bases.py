"""`lxcprov bases`: the prepared bases `new` clones from (list, refresh, remove)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from lxcprov.cli.common import emit_json, err, options
from lxcprov.engine import recipes
from lxcprov.ops import bases, provision

app = typer.Typer(help="Prepared bases that `new` clones from.", no_args_is_help=False)


def _current_digest() -> str:
    return bases.digest(bases.base_recipes(recipes.load_all()))


@app.callback(invoke_without_command=True)
def ls(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the bases, what they were built from, and the containers cloned from them."""
    if ctx.invoked_subcommand is not None:
        return
    current = _current_digest()
    rows: list[dict[str, object]] = [
        {
            "name": b.name,
            **b.meta,
            "clones": b.clones,
            "current": b.meta.get("recipes_digest") == current,
        }
        for b in bases.list_bases(options.path())
    ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        err.print("no bases yet: the first `lxcprov new` of a template builds one")
    for b, r in zip(bases.list_bases(options.path()), rows, strict=True):
        state = "current" if r["current"] else "outdated (recipes changed)"
        err.print(
            f"[bold]{escape(b.name)}[/] {r.get('template')} {r.get('release')} "
            f"built {r.get('built')}, {state}, clones: {', '.join(b.clones) or 'none'}"
        )


@app.command("rm")
def rm(
    name: Annotated[str | None, typer.Argument(help="The base to remove.")] = None,
    unused: Annotated[
        bool, typer.Option("--unused", help="Remove every base without clones.")
    ] = False,
) -> None:
    """Remove a base (refused while containers are cloned from it)."""
    provision.require_root()
    targets = [name] if name else []
    if unused:
        targets += [b.name for b in bases.list_bases(options.path()) if not b.clones]
    if not targets:
        err.print("nothing to remove (give NAME or --unused)")
    for target in targets:
        bases.remove(options.path(), target)
        err.print(f"removed {escape(target)}")


@app.command("refresh")
def refresh() -> None:
    """Rebuild outdated bases with the current recipes; remove the old ones no one uses."""
    provision.require_root()
    current = _current_digest()
    chosen = bases.base_recipes(recipes.load_all())
    changed = 0
    for b in bases.list_bases(options.path()):
        if b.meta.get("recipes_digest") == current:
            continue
        args = [str(a) for a in b.meta.get("args", [])]  # type: ignore[attr-defined]
        spec = bases.spec_for(str(b.meta["template"]), str(b.meta["release"]), args, chosen)
        bases.ensure(options.path(), spec, chosen, lambda _line: None, err.print)
        changed += 1
        if not b.clones:
            bases.remove(options.path(), b.name)
            err.print(f"removed the outdated {escape(b.name)}")
    err.print("all bases are current" if not changed else f"rebuilt {changed} base(s)")
