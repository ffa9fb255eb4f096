"""`lxcprov forward add | rm | ls`: a container's port published on a host port."""

from __future__ import annotations

from typing import Annotated

import typer

from lxcprov.cli.common import emit_json, err, options, shown
from lxcprov.ops import forwards

app = typer.Typer(
    help="Published ports: a host port that leads to a container's port (IPv4, DNAT).",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
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


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The container.", metavar="NAME")],
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
    other containers alike).

    Example: lxcprov forward add web 8080 80
    """
    addr, port = forwards.parse_host(host)
    inside = port if container_port is None else container_port
    if not 0 < inside < 65536:
        raise typer.BadParameter("CONTAINER_PORT must be 1-65535")
    p = forwards.Publish(port, inside, "udp" if udp else "tcp", addr)
    _show([forwards.add(options.container(name), p)], json_out)


@app.command("rm")
def rm(
    name: Annotated[str, typer.Argument(help="The container.", metavar="NAME")],
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


@app.command("ls")
def ls(
    name: Annotated[
        str | None, typer.Argument(help="One container (default: all).", metavar="NAME")
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
