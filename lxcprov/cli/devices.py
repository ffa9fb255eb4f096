"""`lxcprov device add | rm | ls`: host devices inside a container."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import helptext, lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.engine import devices as specs
    from lxcprov.ops import devices
else:
    specs = lazy.module("lxcprov.engine.devices")
    devices = lazy.module("lxcprov.ops.devices")

app = typer.Typer(
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
    help="Host devices inside a container (tun, fuse, kvm, a GPU, a USB device, any node).",
    no_args_is_help=True,
    epilog=examples("lxcprov device add vpn tun", "lxcprov device ls vpn"),
)
_COLOURS = {"changed": "green", "removed": "green", "no change": "dim", "needs restart": "yellow"}
_DEVICE_HELP = (
    "tun, fuse, kvm, gpu (every /dev/dri/renderD*), usb:BUS-PORT (e.g. usb:1-2, as in "
    "/sys/bus/usb/devices) or a device path such as /dev/ttyUSB0."
)


def complete_device(incomplete: str) -> list[str]:
    """The named devices (a path is the shell's own file completion to type)."""
    return [w for w in ("tun", "fuse", "kvm", "gpu", "usb:") if w.startswith(incomplete)]


def _show(results: list[devices.Result], json_out: bool) -> None:
    if json_out:
        emit_json([r.as_dict() for r in results])
    for r in results:
        colour = _COLOURS[r.status]
        extra = f" ({shown(r.detail)})" if r.detail else ""
        given = f" (from {shown(r.resolved_from)})" if r.resolved_from else ""
        err.print(f"{shown(r.device.path)}{given}: [{colour}]{r.status}[/]{extra}")


@app.command(
    "add",
    epilog=examples(
        "lxcprov device add vpn tun",
        "lxcprov device add build fuse",
        "lxcprov device add lab usb:1-2 --uid 1000 --gid 1000",
        "lxcprov device add ml gpu --mode 0666",
    ),
)
def add(
    name: NameArg,
    device: Annotated[
        str,
        typer.Argument(help=_DEVICE_HELP, metavar="DEVICE", autocompletion=complete_device),
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="The node's mode inside (octal).", metavar="MODE")
    ] = "0660",
    uid: Annotated[
        int, typer.Option("--uid", help="The node's owner inside (0-65535).", metavar="UID")
    ] = 0,
    gid: Annotated[
        int, typer.Option("--gid", help="The node's group inside (0-65535).", metavar="GID")
    ] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Give a container a host device (at once if it runs; kept for every start)."""
    ids = {"uid": specs.check_id("uid", uid), "gid": specs.check_id("gid", gid)}
    wanted = devices.resolve(device, mode=specs.check_mode(mode), **ids)
    _show(devices.add(options.container(name), wanted), json_out)


@app.command(
    "rm", epilog=examples("lxcprov device rm vpn tun", "lxcprov device rm lab /dev/bus/usb/001/004")
)
def rm(
    name: NameArg,
    device: Annotated[
        str, typer.Argument(help="A device as `device ls` shows it, or its name.", metavar="DEVICE")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Take a device out of a container (at once if it runs)."""
    _show(devices.remove(options.container(name), device), json_out)


@app.command("ls", epilog=examples("lxcprov device ls vpn", "lxcprov device ls vpn --json"))
def ls(name: NameArg, json_out: JsonOpt = False) -> None:
    """The host devices a container has."""
    found = devices.listing(options.container(name))
    if json_out:
        emit_json([d.as_dict() for d in found])
        return
    if not found:
        err.print(f"{shown(name)} has no host devices of lxcprov's")
    for item in found:
        d = item.device
        state = "" if item.present else f"  (not on the host: lxcprov device rm {name} {d.path})"
        print(f"{d.path}  {d.kind} {d.major}:{d.minor}  {d.mode:04o}  {d.uid}:{d.gid}{state}")
