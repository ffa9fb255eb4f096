"""ls: containers as a table, CSV, JSON or YAML, once or live (--watch)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy
from lxcprov.cli.common import emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError, did_you_mean

if TYPE_CHECKING:
    from lxcprov.ops import listing
else:
    listing = lazy.module("lxcprov.ops.listing")


LS_COLUMNS = (
    "name", "state", "ipv4", "ipv6", "type", "kind", "memory", "disk", "snapshots", "ports",
    "autostart", "nesting", "memory_used", "cpu_percent",
)  # fmt: skip
# Measured only when --columns names one (a CPU% takes half a second to measure).
USAGE_COLUMNS = ("memory_used", "cpu_percent")
LS_STATES = ("RUNNING", "STOPPED", "FROZEN", "STARTING", "STOPPING", "BROKEN", "INCOMPLETE",
             "CREATING", "CHANGING", "DESTROYING")  # fmt: skip


def _columns(text: str | None, rows: list[dict[str, object]]) -> list[str]:
    if text:
        wanted = [c.strip().lower() for c in text.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in LS_COLUMNS]
        if unknown:
            raise InvalidArgumentError(
                f"unknown column {unknown[0]!r}{did_you_mean(unknown[0], LS_COLUMNS)}",
                hint="columns: " + ", ".join(LS_COLUMNS),
            )
        return wanted
    # By default a column that would be empty for every row is left out, and usage is not
    # measured.
    # kind (system or application) only once an application container is there.
    optional = {"ipv6", "ports", "memory", "disk", "snapshots", "autostart", "nesting", "kind"}
    return [
        c
        for c in LS_COLUMNS
        if c not in USAGE_COLUMNS
        and (c not in optional or any(r.get(c) and r.get(c) != "system" for r in rows))
    ]


def _usage_asked(columns: str | None) -> bool:
    return bool(columns) and any(c in (columns or "").lower() for c in USAGE_COLUMNS)


def ls(
    pattern: Annotated[
        str | None,
        typer.Argument(
            metavar="PATTERN",
            help="Only containers whose name matches this shell pattern, e.g. 'web*'.",
            autocompletion=complete.containers,
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="Only containers in this state: " + ", ".join(s.lower() for s in LS_STATES) + ".",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", metavar="table|csv|json|yaml", help="Output format."),
    ] = "table",
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            metavar="COLUMN,...",
            help="Columns to show, in order, from: " + ", ".join(LS_COLUMNS) + ".",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Short for --format json.")] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Stay, and show the list again each time it changes (json: a line)."
        ),
    ] = False,
) -> None:
    """List containers: name, state, addresses, type, memory limit, published ports."""
    from lxcprov.cli import table

    fmt = "json" if json_out else fmt.lower()
    if fmt not in table.FORMATS:
        raise InvalidArgumentError(
            f"unknown format {fmt!r}{did_you_mean(fmt, table.FORMATS)}",
            hint="table, csv, json or yaml",
        )
    if state is not None and state.upper() not in LS_STATES:
        raise InvalidArgumentError(
            f"unknown state {state!r}{did_you_mean(state.lower(), [s.lower() for s in LS_STATES])}",
            hint="states: " + ", ".join(s.lower() for s in LS_STATES),
        )
    usage = _usage_asked(columns)
    if watch:
        listing.watch(
            options.path(),
            lambda rows: _ls_show(rows, fmt, state, columns, pattern, watch=True),
            rows=lambda path: listing.listing(path, pattern=pattern, usage=usage),
        )
        return
    rows = listing.listing(options.path(), pattern=pattern, usage=usage)
    _ls_show(rows, fmt, state, columns, pattern)


def _ls_show(
    rows: list[listing.Row],
    fmt: str,
    state: str | None,
    columns: str | None,
    pattern: str | None,
    *,
    watch: bool = False,
) -> None:
    from lxcprov.cli import table

    if state:
        rows = [r for r in rows if r.state == state.upper()]
    usage = _usage_asked(columns)
    data = [r.with_usage() if usage else r.as_dict() for r in rows]
    if fmt == "json" and watch:
        print(json.dumps(data, sort_keys=True), flush=True)  # one line per change
        return
    if fmt == "json":
        emit_json(data)
        return
    # One spelling of a state in every format: LXC's own (RUNNING), as lxc-ls shows it.
    cells = [_readable(d) for d in data] if fmt == "table" else data
    chosen = _columns(columns, cells)
    if fmt == "csv":
        sys.stdout.write(table.as_csv(cells, chosen))  # type: ignore[arg-type]
    elif fmt == "yaml":
        sys.stdout.write(table.as_yaml(cells, chosen))  # type: ignore[arg-type]
    elif not rows:
        which = " ".join(
            part for part in (f"matching {pattern!r}" if pattern else "",
                              f"in state {state.upper()}" if state else "") if part
        )  # fmt: skip
        err.print(f"no containers{' ' + which if which else ''} in {options.path()}")
    else:
        sys.stdout.write(table.table(cells, chosen))  # type: ignore[arg-type]
    sys.stdout.flush()
    for r in rows:
        if r.busy:
            err.print(f"[blue]{shown(r.name)}[/]: being changed by {shown(r.busy)}")
        if r.problem:
            # LXC's errors begin with the name already ("web: LXC cannot load ...").
            problem = r.problem.removeprefix(f"{r.name}: ")
            err.print(f"[yellow]{shown(r.name)}[/]: {shown(problem)}")


def _readable(row: dict[str, object]) -> dict[str, object]:
    """A table's cells: memory used as 12M (bytes in csv, yaml and json)."""
    from lxcprov.cli import usage_view

    used = row.get("memory_used")
    if isinstance(used, int):
        row = {**row, "memory_used": usage_view.memory_cell(used, None)}
    return row


def register(app: typer.Typer) -> None:
    app.command(
        "ls",
        epilog=examples(
            "lxcprov ls",
            "lxcprov ls 'web*' --state running --columns name,ipv4",
            "lxcprov ls --format csv",
            "lxcprov ls --columns name,state,memory_used,cpu_percent",
            "lxcprov ls --watch --json",
        ),
    )(ls)
