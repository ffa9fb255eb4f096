"""`lxcprov images`: the images `new --image` cached as bases (list, remove)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import helptext, lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.engine import disklimit
    from lxcprov.ops import images
else:
    images = lazy.module("lxcprov.ops.images")
    disklimit = lazy.module("lxcprov.engine.disklimit")

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
    show(found)


COLUMNS = ("reference", "digest", "size", "kind", "used_by")


def show(found: list[images.Cached]) -> None:
    """The table on stdout, as `ls` prints it (sizes rounded for reading, whatever the
    kind: a registry image's layers add up to no round number); notes on stderr."""
    from lxcprov.cli import table

    if not found:
        err.print("no images yet: `lxcprov new NAME --image REF` caches one")
        return
    rows: list[dict[str, table.Cell]] = [
        {"reference": c.base, "kind": "INCOMPLETE"} if c.incomplete else
        {"reference": c.reference, "digest": c.digest[:19], "size": disklimit.human(c.size),
         "kind": c.kind, "used_by": c.used_by}
        for c in found
    ]  # fmt: skip
    sys.stdout.write(table.table(rows, COLUMNS))
    sys.stdout.flush()
    for c in found:
        if c.incomplete:
            err.print(f"{shown(c.base)}: a killed build left it (lxcprov images rm {c.base})")


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
