"""`lxcprov forward add | rm | ls`: a container's port published on a host port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, helptext, lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.ops import forwards
else:
    forwards = lazy.module("lxcprov.ops.forwards")

app = typer.Typer(
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
    help="Published ports: a host port that leads to a container's port (IPv4, DNAT).",
    no_args_is_help=True,
    epilog=examples("lxcprov forward add web 8080 80", "lxcprov forward ls"),
)
UdpOpt = Annotated[bool, typer.Option("--udp", help="UDP instead of TCP.")]
_COLOURS = {"changed": "green", "removed": "green", "no change": "dim", "needs restart": "yellow"}


def _show(results: list[forwards.Result], json_out: bool) -> None:
    if json_out:
        emit_json([r.as_dict() for r in results])
    for r in results:
        extra = f" ({shown(r.detail)})" if r.detail else ""
        colour = _COLOURS[r.status]
        err.print(f"{shown(r.forward.label())} via {r.forward.address}: [{colour}]{r.status}[/]"
                  f"{extra}")  # fmt: skip
        for change in r.host:
            err.print(f"  host: {shown(change)}")


@app.command(
    "add",
    epilog=examples(
        "lxcprov forward add web 8080 80",
        "lxcprov forward add dns 192.0.2.10:53 --udp",
    ),
)
def add(
    name: NameArg,
    host: Annotated[
        str,
        typer.Argument(
            help="The host port, optionally on one host address only.",
            metavar="[HOST_ADDR:]HOST_PORT",
        ),
    ],
    container_port: Annotated[
        int | None,
        typer.Argument(help="The container's port (default: the same).", metavar="CONTAINER_PORT"),
    ] = None,
    udp: UdpOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Publish a container's port on the host (from other machines, the host itself and
    other containers alike)."""
    addr, port = forwards.parse_host(host)
    inside = port if container_port is None else container_port
    if not 0 < inside < 65536:
        raise typer.BadParameter("CONTAINER_PORT must be 1-65535")
    p = forwards.Publish(port, inside, "udp" if udp else "tcp", addr)
    _show([forwards.add(options.container(name), p)], json_out)


@app.command("rm", epilog=examples("lxcprov forward rm web 8080", "lxcprov forward rm web"))
def rm(
    name: NameArg,
    host: Annotated[
        str | None,
        typer.Argument(
            help="The published host port (default: all of them).", metavar="[HOST_ADDR:]HOST_PORT"
        ),
    ] = None,
    udp: UdpOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Unpublish a container's port (or all its ports)."""
    proto: forwards.Proto | None = None
    if host is not None:
        proto = "udp" if udp else "tcp"
    _show(forwards.remove(options.container(name), host, proto), json_out)


@app.command("ls", epilog=examples("lxcprov forward ls", "lxcprov forward ls web --json"))
def ls(
    name: Annotated[
        str | None,
        typer.Argument(
            help="One container (default: all).",
            metavar="NAME",
            autocompletion=complete.containers,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Published ports, of one container or of all."""
    found = forwards.listing(options.container(name) if name else None)
    if json_out:
        emit_json([{**f.as_dict(), "bridge": b} for b, f in found])
        return
    if not found:
        err.print("no published ports" + (f" for {shown(name)}" if name else ""))
    for bridge, f in found:
        print(f"{f.label()}  via {f.address}  ({bridge})")
