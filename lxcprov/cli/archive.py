"""`lxcprov copy`, `lxcprov export` and `lxcprov import`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy, streams
from lxcprov.cli.common import MIB, JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError, plural

if TYPE_CHECKING:
    from lxcprov.cli.transfer import TransferView
    from lxcprov.ops import copy as copy_ops
    from lxcprov.ops import export as export_ops
    from lxcprov.ops import import_archive
    from lxcprov.ops.progress import Progress
else:
    copy_ops = lazy.module("lxcprov.ops.copy")
    export_ops = lazy.module("lxcprov.ops.export")
    import_archive = lazy.module("lxcprov.ops.import_archive")


def _view() -> TransferView:
    from lxcprov.cli.transfer import TransferView

    return TransferView(err)


def _progress(view: TransferView) -> Progress:
    from lxcprov.ops.progress import Progress

    def phase(msg: str) -> None:
        view.close()
        err.print(f"==> {shown(msg)}")

    return Progress(phase=phase, transfer=view)


def _net(mode: str, bridge: str, address: str) -> str:
    if mode == "static":
        return f"{address or 'a static address'} on {bridge}"
    return f"DHCP on {bridge}" if mode == "dhcp" else "no network"


def copy(
    name: NameArg,
    new: Annotated[
        str, typer.Argument(metavar="NEW", help="The new container's name (and hostname).")
    ],
    snapshot: Annotated[
        str | None,
        typer.Option("--snapshot", metavar="SNAP", help="Copy this snapshot of NAME instead."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """A new container from another's files, with an identity of its own (MAC, keys...)."""
    view = _view()
    try:
        done = copy_ops.copy(options.container(name), new, snapshot=snapshot,
                             progress=_progress(view))  # fmt: skip
    finally:
        view.close()
    net = done.network
    if json_out:
        emit_json({"name": done.name, "source": done.source, "snapshot": done.snapshot,
                   "how": done.how, "mac": done.mac or None, "network": net.mode,
                   "bridge": net.bridge or None, "address": net.address or None,
                   "privileged": done.privileged, "renewed": done.renewed,
                   "kept": done.kept, "not_kept": done.not_kept,
                   "seconds": round(done.seconds, 3)})  # fmt: skip
    err.print(f"[green]{shown(new)} copied from {shown(name)}[/] ({shown(done.how)}, "
              f"{done.seconds:.1f} s)")  # fmt: skip
    where = shown(_net(net.mode, net.bridge, net.address))
    renewed = ", ".join(done.renewed) or "no SSH keys or machine-id to renew"
    err.print(f"  its own: MAC {done.mac or '-'}, {where}, {renewed}")
    if done.kept:
        err.print(f"  as {shown(name)} has them: {shown(', '.join(done.kept))}")
    for line in done.not_kept:
        err.print(f"  not copied: {shown(line)}")
    err.print(f"start it with: lxcprov start {shown(new)}")


def export(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="The (stopped) container.", autocompletion=complete.containers
        ),
    ],
    file: Annotated[
        str,
        typer.Argument(metavar="FILE|-", help="FILE.tar.zst, FILE.tar.gz, or - for stdout (zstd)."),
    ],
    no_snapshots: Annotated[
        bool, typer.Option("--no-snapshots", help="Leave the snapshots out.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a stopped container and its snapshots to one archive (.tar.zst or .tar.gz)."""
    if json_out and file == "-":
        raise InvalidArgumentError("--json and - both want stdout", hint="give a FILE")
    if file == "-":
        streams.require_stdout("the archive")
    view = _view()
    try:
        done = export_ops.export(options.container(name), file, snapshots=not no_snapshots,
                                 progress=_progress(view))  # fmt: skip
    finally:
        view.close()
    rate = done.tar_bytes / MIB / max(done.seconds, 1e-6)
    if json_out:
        emit_json({"name": done.name, "file": done.file, "tar_bytes": done.tar_bytes,
                   "file_bytes": done.file_bytes, "snapshots": done.snapshots,
                   "seconds": round(done.seconds, 3)})  # fmt: skip
    size = f", {done.file_bytes / MIB:.1f} MiB compressed" if done.file_bytes else ""
    err.print(f"[green]exported {shown(name)} to {shown(file)}[/] ({done.tar_bytes / MIB:.1f} MiB"
              f"{size}, {plural(len(done.snapshots), 'snapshot')}, {done.seconds:.1f} s, "
              f"{rate:.0f} MiB/s)")  # fmt: skip


def import_(
    file: Annotated[
        str,
        typer.Argument(metavar="FILE|-", help="An archive from lxcprov export, or - for stdin."),
    ],
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="The new container's name (default: the archive's)."),
    ] = None,
    new_identity: Annotated[
        bool,
        typer.Option("--new-identity", help="A new MAC, address, SSH host keys and machine-id."),
    ] = False,
    privileged: Annotated[
        bool,
        typer.Option(
            "--privileged",
            help="Accept an archive of a privileged container (its root is root on this host).",
        ),
    ] = False,
    max_members: Annotated[
        int,
        typer.Option("--max-members", metavar="N", min=1, help="Refuse more members than N."),
    ] = 1_000_000,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="Refuse an archive whose files take more (e.g. 20G; default: the free space).",
        ),
    ] = None,
    max_ratio: Annotated[
        float,
        typer.Option(
            "--max-ratio",
            metavar="R",
            min=0,
            help="Refuse an archive that expands more than R times (0: no limit).",
        ),
    ] = 100,
    json_out: JsonOpt = False,
) -> None:
    """Make a container from an export (checked whole before anything is written)."""
    from lxcprov.engine import archive, sizes

    size = sizes.parse_size("--max-size", max_size) if max_size else None
    limits = archive.Limits(members=max_members, size=size)
    view = _view()
    try:
        done = import_archive.import_archive(
            file, options.path(), name, new_identity=new_identity, privileged=privileged,
            limits=limits, max_ratio=max_ratio, progress=_progress(view),
        )  # fmt: skip
    finally:
        view.close()
    net = done.network
    if json_out:
        emit_json({"name": done.name, "exported_as": done.exported_as, "ids": done.ids,
                   "privileged": done.ids == "privileged", "shifted": done.shifted,
                   "mac": done.mac or None, "network": net.mode, "bridge": net.bridge or None,
                   "address": net.address or None, "renewed": done.renewed,
                   "snapshots": done.snapshots, "dropped_config": done.dropped,
                   "left_out": done.left_out, "not_applied": done.not_applied,
                   "network_lines": done.network_lines, "disk_limit": done.disk or None,
                   "seconds": round(done.seconds, 3)})  # fmt: skip
    kind = "privileged" if done.ids == "privileged" else "unprivileged"
    err.print(f"[green]{shown(done.name)} imported[/] ({kind}"
              f"{', owners shifted' if done.shifted else ''}, "
              f"{plural(len(done.snapshots), 'snapshot')}, "
              f"{done.seconds:.1f} s)")  # fmt: skip
    err.print(f"  {shown(_net(net.mode, net.bridge, net.address))}, MAC {done.mac or '-'}"
              + (f"; renewed: {', '.join(done.renewed)}" if done.renewed else
                 "; SSH host keys and machine-id kept"))  # fmt: skip
    for line in done.network_lines:  # what the archive asked for, and what it got
        err.print(f"  {shown(line)}")
    if done.disk:
        from lxcprov.engine.sizes import format_size  # not at every start of the CLI

        err.print(f"  disk limit {format_size(done.disk)}, as recorded (a disk image of its own)")
    if done.dropped:
        err.print("[yellow]note:[/] not taken from the archive's config (hooks, host paths and "
                  "looser confinement are not an archive's to give; add them by hand if you "
                  "trust them):")  # fmt: skip
        for line in done.dropped:
            err.print(f"  {shown(line)}")
    if done.left_out:
        err.print(f"[yellow]note:[/] left out of its files ({len(done.left_out)}; LXC makes a "
                  "container's /dev at start):")  # fmt: skip
        for line in done.left_out[:10]:
            err.print(f"  {shown(line)}")
        if len(done.left_out) > 10:
            err.print(f"  ... and {len(done.left_out) - 10} more (--json lists them all)")
    if done.not_applied:
        err.print(f"[yellow]note:[/] carried but not applied: {shown(', '.join(done.not_applied))}")
    err.print(f"start it with: lxcprov start {shown(done.name)}")


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "lxcprov copy web1 web2", "lxcprov copy web1 web3 --snapshot before-upgrade"
        )
    )(copy)
    app.command(
        epilog=examples(
            "lxcprov export web1 web1.tar.zst", "lxcprov export web1 - | ssh other lxcprov import -"
        )
    )(export)
    app.command(
        "import",
        epilog=examples(
            "lxcprov import web1.tar.zst",
            "lxcprov import web1.tar.zst web1-copy",
            "lxcprov import trusted-privileged.tar.zst --privileged",
        ),
    )(import_)
