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
        str | None,
        typer.Option(
            "--mode",
            help="The node's mode inside (octal; 0660 when first added, else as recorded).",
            metavar="MODE",
        ),
    ] = None,
    uid: Annotated[
        int | None,
        typer.Option(
            "--uid", help="The node's owner inside (0-65535; 0, else as recorded).", metavar="UID"
        ),
    ] = None,
    gid: Annotated[
        int | None,
        typer.Option(
            "--gid", help="The node's group inside (0-65535; 0, else as recorded).", metavar="GID"
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Give a container a host device (at once if it runs; kept for every start).

    Run again on a device it has, it changes only the options given. A running container
    that could not get it at once (the message says why) keeps it recorded for its next
    start, and the command exits 1."""
    keep = frozenset(k for k, v in (("mode", mode), ("uid", uid), ("gid", gid)) if v is None)
    ids = {"uid": specs.check_id("uid", uid or 0), "gid": specs.check_id("gid", gid or 0)}
    checked = specs.check_mode(mode) if mode is not None else specs.DEFAULT_MODE
    wanted = devices.resolve(device, mode=checked, **ids)
    results = devices.add(options.container(name), wanted, keep)
    _show(results, json_out)
    _exit_if_live_failed(name, results)


def _exit_if_live_failed(name: str, results: list[devices.Result]) -> None:
    """Exit 1 when the running container did not get (or lose) a device at once: the
    record is kept, so the next start does it; a script must see it did not happen now."""
    if any(r.status == "needs restart" for r in results):
        err.print(f"the record is kept; the next start of {shown(name)} does it: "
                  f"lxcprov restart {shown(name)}")  # fmt: skip
        raise typer.Exit(1)


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
    """Take a device out of a container (at once if it runs; else exits 1: gone from the
    record, so the next start does it)."""
    results = devices.remove(options.container(name), device)
    _show(results, json_out)
    _exit_if_live_failed(name, results)


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
        state = {
            "same": "",
            "gone": f"  (not on the host: plug it back in, or lxcprov device rm {name} {d.path})",
            "other": f"  (another device on the host now: lxcprov device rm {name} {d.path} "
            f"&& lxcprov device add {name} {d.path})",
        }[item.state]
        print(f"{d.path}  {d.kind} {d.major}:{d.minor}  {d.mode:04o}  {d.uid}:{d.gid}{state}")
