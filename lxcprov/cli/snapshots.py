"""`lxcprov snapshot`, `snapshots`, `snapshot rm` and `restore`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, each, lazy
from lxcprov.cli.common import MIB, JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError, plural

if TYPE_CHECKING:
    from lxcprov.ops import progress
    from lxcprov.ops import snapshots as snap_ops
    from lxcprov.system import snapstore
else:
    progress = lazy.module("lxcprov.ops.progress")
    snap_ops = lazy.module("lxcprov.ops.snapshots")

SnapArg = Annotated[
    str,
    typer.Argument(
        metavar="SNAP",
        help="The snapshot (see: lxcprov snapshots NAME).",
        autocompletion=complete.snapshots,
    ),
]


def _progress() -> progress.Progress:
    return progress.Progress(phase=lambda msg: err.print(f"==> {shown(msg)}"))


def _as_dict(meta: snapstore.Meta) -> dict[str, object]:
    return {"name": meta.name, "created": meta.created, "bytes": meta.bytes, "kind": meta.kind,
            "ids": meta.ids, "base": meta.base or None, "origin": meta.origin}  # fmt: skip


def snapshot(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME... [SNAP] | rm NAME SNAP",
            help="Containers (names, or patterns as in ls) and a name for the snapshot (the "
            "last word, when it is no container), or `rm`, a container and its snapshot.",
            autocompletion=complete.snapshot_words,
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Snapshot containers (a running one is frozen while copied); `snapshot rm` removes."""
    if len(words) == 3 and words[0] == "rm":
        snap_ops.remove(options.container(words[1]), words[2], _progress())
        if json_out:
            emit_json({"name": words[1], "removed": words[2]})
        err.print(f"removed snapshot {shown(words[2])} of {shown(words[1])}")
        return
    if not words or words[0] == "rm":
        raise InvalidArgumentError(
            "snapshot takes NAME... [SNAP], or rm NAME SNAP",
            hint="lxcprov snapshot web1 before-upgrade / lxcprov snapshot rm web1 before-upgrade",
        )
    names, snap = snap_ops.split_words(options.path(), words)

    def say(name: str, meta: snapstore.Meta) -> None:
        err.print(f"[green]snapshot {shown(meta.name)} of {shown(name)} taken[/] "
                  f"({meta.bytes / MIB:.1f} MiB)")  # fmt: skip

    each.for_each(
        names,
        lambda c: snap_ops.snapshot(c, snap, _progress()),
        say,
        lambda name, meta: {"container": name, **_as_dict(meta)},
        verb="snapshot",
        json_out=json_out,
        single_json=_as_dict,
    )


def snapshots(
    name: NameArg,
    json_out: JsonOpt = False,
) -> None:
    """A container's snapshots: name, time taken, size on disk."""
    found = snap_ops.listing(options.container(name))
    if json_out:
        emit_json([_as_dict(m) for m in found])
        return
    if not found:
        err.print(f"{shown(name)} has no snapshots (take one with: lxcprov snapshot {shown(name)})")
        return
    width = max(len(m.name) for m in found)
    for m in found:
        print(f"{m.name:<{width}}  {m.created}  {m.bytes / MIB:9.1f} MiB")


def restore(
    name: NameArg,
    snap: SnapArg,
    stop: Annotated[
        bool,
        typer.Option(
            "--stop", help="Stop the container first if it is running, and start it again after."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Put a container's files back as they were in a snapshot (a running one with
    --stop: it is stopped, restored, and started again)."""
    result = snap_ops.restore(options.container(name), snap, stop=stop, progress=_progress())
    if json_out:
        emit_json({"name": result.name, "snapshot": result.snapshot, "stopped": result.stopped,
                   "restarted": result.restarted, "shifted": result.shifted,
                   "fixups": result.fixups, "notes": result.notes})  # fmt: skip
    err.print(f"[green]{shown(name)} restored to {shown(snap)}[/]")
    if result.fixups:
        err.print(
            f"  its current hostname and network applied again ({plural(result.fixups, 'change')})"
        )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    if result.restarted:
        err.print(f"{shown(name)} is running again, as it was before")
    else:
        err.print(f"start it with: lxcprov start {shown(name)}")


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "lxcprov snapshot web1 before-upgrade",
            "lxcprov snapshot web1",
            "lxcprov snapshot 'web*' before-upgrade",
            "lxcprov snapshot rm web1 before-upgrade",
        )
    )(snapshot)
    app.command(epilog=examples("lxcprov snapshots web1", "lxcprov snapshots web1 --json"))(
        snapshots
    )
    app.command(
        epilog=examples(
            "lxcprov restore web1 before-upgrade", "lxcprov restore web1 before-upgrade --stop"
        )
    )(restore)
