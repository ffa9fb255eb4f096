"""`lxcprov mount add | rm | ls`: host directories inside a container."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import helptext, lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.engine import mounts as specs
    from lxcprov.ops import mounts
else:
    specs = lazy.module("lxcprov.engine.mounts")
    mounts = lazy.module("lxcprov.ops.mounts")

app = typer.Typer(
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
    help="Host directories inside a container (bind mounts).",
    no_args_is_help=True,
    epilog=examples("lxcprov mount add web /srv/www /var/www --ro", "lxcprov mount ls web"),
)
_COLOURS = {"changed": "green", "removed": "green", "no change": "dim", "needs restart": "yellow"}


def _show(result: mounts.Result, json_out: bool) -> None:
    if json_out:
        emit_json(result.as_dict())
    colour = _COLOURS[result.status]
    extra = f" ({shown(result.detail)})" if result.detail else ""
    err.print(f"{shown(result.mount.spec())}: [{colour}]{result.status}[/]{extra}")


@app.command(
    "add",
    epilog=examples(
        "lxcprov mount add web /srv/www /var/www --ro", "lxcprov mount add dev /home/me /src"
    ),
)
def add(
    name: NameArg,
    host_dir: Annotated[str, typer.Argument(help="A directory on the host.", metavar="HOST_DIR")],
    container_dir: Annotated[
        str, typer.Argument(help="Where it shows inside (absolute).", metavar="CONTAINER_DIR")
    ],
    ro: Annotated[bool, typer.Option("--ro", help="Read-only inside.")] = False,
    no_idmap: Annotated[
        bool,
        typer.Option(
            "--no-idmap",
            help="Unprivileged container: mount without id mapping (host files show as "
            "nobody inside unless owned by the container's ids).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Mount a host directory into a container (at once if it runs)."""
    m = specs.Mount(specs.check_target(container_dir), specs.check_source(host_dir), ro,
                    not no_idmap)  # fmt: skip
    container = options.container(name)
    _show(mounts.add(container, m), json_out)
    writers = mounts.who_can_write(container, m)
    if writers:
        err.print(f"  {shown(writers)}")


@app.command("rm", epilog=examples("lxcprov mount rm web /var/www"))
def rm(
    name: NameArg,
    container_dir: Annotated[
        str, typer.Argument(help="The mount's path inside.", metavar="CONTAINER_DIR")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Take a host directory out of a container (at once if it runs)."""
    _show(mounts.remove(options.container(name), container_dir), json_out)


@app.command("ls", epilog=examples("lxcprov mount ls web", "lxcprov mount ls web --json"))
def ls(
    name: NameArg,
    json_out: JsonOpt = False,
) -> None:
    """The host directories mounted into a container (while it runs: whether each one is
    mounted in it now)."""
    container = options.container(name)
    found = mounts.listing(container)
    running = bool(found) and container.running()
    lacking = {m.target for m in mounts.not_mounted(container)} if running else set()
    if json_out:
        emit_json([{**m.as_dict(), "mounted": m.target not in lacking if running else None}
                   for m in found])  # fmt: skip
        return
    if not found:
        err.print(f"no host directories are mounted into {shown(name)}")
    for m in found:
        mode = "ro" if m.ro else "rw"
        print(f"{m.target}  {m.source}  {mode}{'' if m.idmap else '  (not idmapped)'}"
              f"{'  (not mounted now)' if m.target in lacking else ''}")  # fmt: skip
    if lacking:
        err.print(f"[yellow]{shown(name)} runs without {', '.join(sorted(lacking))}[/]: "
                  f"lxcprov doctor {shown(name)} gives the command that mounts it now")  # fmt: skip
