"""stats and top: what each container uses (CPU, memory, pids, disk, network, uptime)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy
from lxcprov.cli.common import emit_json, err, options
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError, did_you_mean

if TYPE_CHECKING:
    from lxcprov.cli import usage_view
    from lxcprov.engine.usage import Stats
    from lxcprov.ops import stats as ops_stats
else:  # loaded when a command runs: `lxcprov --help` stays light
    ops_stats = lazy.module("lxcprov.ops.stats")
    usage_view = lazy.module("lxcprov.cli.usage_view")

Names = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[NAME]...",
        help="Containers (names or ls's shell patterns); every one when none is given.",
        autocompletion=complete.containers,
    ),
]


def _interval(value: float, *, least: float) -> float:
    if not value >= least or value > 3600:  # `not >=`: NaN too
        raise InvalidArgumentError(
            f"--interval {value:g}: not between {least:g} and 3600 seconds",
            hint="e.g. --interval 2",
        )
    return value


def _table(stats: list[Stats]) -> str:
    from lxcprov.cli import table

    rows = [usage_view.cells(s) for s in stats]
    return table.table(rows, list(usage_view.COLUMNS))  # type: ignore[arg-type]


def stats(
    names: Names = None,
    json_out: Annotated[bool, typer.Option("--json", help="One object per container.")] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            metavar="SECONDS",
            help="CPU%% is measured over this long (0: not measured, at once). With --watch: "
            "between two samples.",
        ),
    ] = 0.5,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Stay, and print them again each interval (json: a line)."),
    ] = False,
    no_disk: Annotated[
        bool,
        typer.Option(
            "--no-disk", help="Leave the disk out (null): no walk of the containers' files."
        ),
    ] = False,
) -> None:
    """What each container uses: CPU (seconds, and % of one core), memory used (and swap,
    and its limit), processes, disk, network bytes received and sent, uptime."""
    path = options.path()
    if watch:
        _interval(interval, least=0.1)

        def show(sample: list[Stats]) -> None:
            if json_out:
                print(json.dumps([s.as_dict() for s in sample], sort_keys=True), flush=True)
            else:
                sys.stdout.write(_table(sample) + "\n")
                sys.stdout.flush()

        ops_stats.watch(path, names or [], interval, show, disk=not no_disk)
        return
    found = ops_stats.stats(path, names or [], _interval(interval, least=0.0), disk=not no_disk)
    if json_out:
        emit_json([s.as_dict() for s in found])
        return
    if not found:
        err.print(f"no containers in {path}")
        return
    sys.stdout.write(_table(found))
    for s in found:
        if s.reading is None:
            why = "not running" if s.state in ("STOPPED", "FROZEN") else s.state.lower()
            err.print(f"{s.name}: {why}: nothing to measure" + ("" if no_disk else " but its disk"))


@contextlib.contextmanager
def _keys() -> Iterator[int]:
    """stdin in cbreak mode (a key arrives at once, unechoed), restored on the way out."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _key_within(fd: int, seconds: float) -> str:
    """A key pressed within seconds ("" for none). An arrow, Home or a function key sends
    ESC and more at once: read whole and ignored, so it never reads as q or a sort key."""
    ready, _, _ = select.select([fd], [], [], max(0.0, seconds))
    if not ready:
        return ""
    key = os.read(fd, 1).decode(errors="replace")
    if key == "\x1b":
        while select.select([fd], [], [], 0.02)[0]:
            os.read(fd, 64)
        return ""
    return key


def top(
    names: Names = None,
    interval: Annotated[
        float, typer.Option("--interval", metavar="SECONDS", help="Between two refreshes.")
    ] = 2.0,
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            metavar="COLUMN",
            help="Sort by cpu%%, memory, disk, pids, rx or name (keys c m d p r n switch).",
        ),
    ] = "cpu%",
    count: Annotated[
        int,
        typer.Option("--count", metavar="N", help="Stop after N refreshes (0: until q)."),
    ] = 0,
) -> None:
    """A live table of what each container uses, busiest first, refreshed every interval;
    q quits. Not on a terminal: the table is printed again each interval, as plain lines."""
    interval = _interval(interval, least=0.2)
    column = sort.lower().replace("%", "") + ("%" if sort.lower().startswith("cpu") else "")
    columns = list(usage_view.SORTS.values())
    if column not in columns:
        raise InvalidArgumentError(
            f"unknown sort column {sort!r}{did_you_mean(sort, columns)}", hint=", ".join(columns)
        )
    if count < 0:
        raise InvalidArgumentError(f"--count {count}: not 0 or more", hint="e.g. --count 5")
    sampler = ops_stats.Sampler(options.path())
    words = names or []
    sampler.sample(ops_stats.names_of(options.path(), words))  # the first CPU% needs a before
    if sys.stdin.isatty() and sys.stdout.isatty():
        _live(sampler, words, interval, column, count)
    else:
        _plain(sampler, words, interval, column, count)


def _sample(sampler: ops_stats.Sampler, words: list[str]) -> list[Stats]:
    from lxcprov.errors import LxcprovError

    try:
        names = ops_stats.names_of(sampler.lxcpath, words)
    except LxcprovError:
        names = []
    return sampler.sample(names)


def _plain(sampler: ops_stats.Sampler, words: list[str], interval: float, column: str,
           count: int) -> None:  # fmt: skip
    done = 0
    while True:
        time.sleep(interval)
        sample = usage_view.ordered(_sample(sampler, words), column)
        stamp = time.strftime("%H:%M:%S")
        sys.stdout.write(f"{stamp}  {len(sample)} containers, by {column}\n{_table(sample)}\n")
        sys.stdout.flush()
        done += 1
        if count and done >= count:
            return


def _live(sampler: ops_stats.Sampler, words: list[str], interval: float, column: str,
          count: int) -> None:  # fmt: skip
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    def render(sample: list[Stats]) -> Table:
        t = Table(
            title=f"lxcprov top: {len(sample)} containers, by {column} "
            "(keys: c m d p r n sort, q quits)",
            title_justify="left",
            box=None,
            header_style="bold",
        )
        for c in usage_view.COLUMNS:
            t.add_column(c.upper(), justify="left" if c in ("name", "state") else "right",
                         style="bold" if c == column else None)  # fmt: skip
        for s in usage_view.ordered(sample, column):
            t.add_row(*(Text(usage_view.cells(s)[c]) for c in usage_view.COLUMNS))
        return t

    done = 0
    shown: list[Stats] | None = None
    console = Console(highlight=False)
    with _keys() as fd, Live(console=console, auto_refresh=False, screen=True) as live:
        due = time.monotonic() + interval
        while True:
            key = _key_within(fd, due - time.monotonic())
            if key in ("q", "Q"):
                return
            if key in usage_view.SORTS:  # sorted again at once, measured at the next refresh
                column = usage_view.SORTS[key]
                if shown is not None:
                    live.update(render(shown), refresh=True)
            if key:
                continue
            shown = _sample(sampler, words)
            live.update(render(shown), refresh=True)
            due = time.monotonic() + interval
            done += 1
            if count and done >= count:
                return


def register(app: typer.Typer) -> None:
    app.command(
        "stats",
        epilog=examples(
            "lxcprov stats",
            "lxcprov stats web1 --json",
            "lxcprov stats --watch --json --interval 2",
        ),
    )(stats)
    app.command("top", epilog=examples("lxcprov top", "lxcprov top --sort memory"))(top)
