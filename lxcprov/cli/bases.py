"""`lxcprov bases`: the prepared bases `new` clones from (list, refresh, remove)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import helptext, lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import plural

if TYPE_CHECKING:
    from lxcprov.ops import bases, progress
else:
    bases = lazy.module("lxcprov.ops.bases")
    progress = lazy.module("lxcprov.ops.progress")

app = typer.Typer(
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
    help="Prepared bases that `new` clones from.",
    no_args_is_help=False,
    epilog=examples("lxcprov bases", "lxcprov bases refresh", "lxcprov bases rm --unused"),
)


@app.callback(invoke_without_command=True)
def ls(
    ctx: typer.Context,
    json_out: JsonOpt = False,
) -> None:
    """List the bases, what they were built from, and the containers cloned from them."""
    if ctx.invoked_subcommand is not None:
        return
    current = bases.current_digest()
    found = bases.list_bases(options.path())
    rows: list[dict[str, object]] = [
        {**b.meta, "name": b.name, "clones": b.clones,
         "current": b.meta.get("recipes_digest") == current}
        for b in found
    ]  # fmt: skip
    if json_out:
        emit_json(rows)
        return
    if not rows:
        err.print("no bases yet: the first `lxcprov new` of a template builds one")
    for b, r in zip(found, rows, strict=True):
        if r.get("building"):
            err.print(f"[bold]{shown(b.name)}[/] being built now (a `new` builds it once)")
            continue
        if r.get("incomplete"):  # its build was killed before it wrote what it is
            err.print(
                f"[bold]{shown(b.name)}[/] half-built (its build was stopped): the next "
                f"`new` from it builds it again; `lxcprov bases rm {shown(b.name)}` removes it"
            )
            continue
        state = "current" if r["current"] else "outdated (recipes changed)"
        err.print(
            f"[bold]{shown(b.name)}[/] {r.get('template')} {r.get('release')} "
            f"built {r.get('built')}, {state}, clones: {', '.join(b.clones) or 'none'}"
        )


@app.command("rm", epilog=examples("lxcprov bases rm --unused"))
def rm(
    name: Annotated[
        str | None, typer.Argument(metavar="BASE", help="The base to remove (see: lxcprov bases).")
    ] = None,
    unused: Annotated[
        bool, typer.Option("--unused", help="Remove every base without clones.")
    ] = False,
) -> None:
    """Remove a base (refused while containers are cloned from it)."""
    removed = bases.remove_many(options.path(), [name] if name else [], unused=unused)
    if not removed:
        err.print("nothing to remove (give NAME or --unused)")
    for target in removed:
        err.print(f"removed {shown(target)}")


@app.command("refresh", epilog=examples("lxcprov bases refresh"))
def refresh() -> None:
    """Rebuild outdated bases with the current recipes; remove the old ones no one uses."""
    shows = progress.Progress(phase=lambda msg: err.print(f"==> {shown(msg)}"))
    done = bases.refresh(options.path(), shows)
    for name in done.removed:
        err.print(f"removed the outdated {shown(name)}")
    err.print(f"rebuilt {plural(len(done.rebuilt), 'base')}" if done.rebuilt
              else "all bases are current")  # fmt: skip
