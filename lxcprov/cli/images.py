"""`lxcprov images`: the images `new --image` cached as bases (list, remove)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import helptext, lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.engine import sizes
    from lxcprov.ops import images
else:
    images = lazy.module("lxcprov.ops.images")
    sizes = lazy.module("lxcprov.engine.sizes")

app = typer.Typer(
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
    help="Images that `new --image` cached as bases.",
    no_args_is_help=False,
    epilog=examples("lxcprov images", "lxcprov images rm ./rootfs.tar.xz"),
)


@app.callback(invoke_without_command=True)
def ls(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the cached images: reference, digest, size, kind and the containers using it."""
    if ctx.invoked_subcommand is not None:
        return
    found = images.cached(options.path())
    if json_out:
        emit_json([c.as_json() for c in found])
        return
    if not found:
        err.print("no images yet: `lxcprov new NAME --image REF` caches one")
    for c in found:
        if c.incomplete:
            err.print(f"[bold]{shown(c.base)}[/] INCOMPLETE (lxcprov images rm {c.base})")
            continue
        err.print(
            f"[bold]{shown(c.reference)}[/] {c.digest[:19]} {sizes.format_size(c.size)} "
            f"{c.kind}, used by: {shown(', '.join(c.used_by)) or 'none'}"
        )


@app.command("rm", epilog=examples("lxcprov images rm sha256:4f2a9c"))
def rm(
    what: Annotated[
        str,
        typer.Argument(metavar="REF|DIGEST", help="The image's reference, digest or its base."),
    ],
) -> None:
    """Remove a cached image (refused while a container uses it)."""
    for base in images.remove(options.path(), what):
        err.print(f"removed {shown(base)}")
