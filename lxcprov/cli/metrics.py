"""metrics: what each container uses, in Prometheus' text format (docs/metrics.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy
from lxcprov.cli.common import err, options
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError

if TYPE_CHECKING:
    from lxcprov.engine import listen as listen_addr
    from lxcprov.ops import metrics as ops_metrics
else:
    listen_addr = lazy.module("lxcprov.engine.listen")
    ops_metrics = lazy.module("lxcprov.ops.metrics")


def metrics(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...",
            help="Containers (names or ls's shell patterns); every one when none is given.",
            autocompletion=complete.containers,
        ),
    ] = None,
    textfile: Annotated[
        Path | None,
        typer.Option(
            "--textfile",
            metavar="PATH",
            help="Write them to PATH, replaced atomically (for node_exporter's textfile "
            "collector: /var/lib/prometheus/node-exporter/lxcprov.prom on Debian).",
        ),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="[ADDR:]PORT",
            help="Stay, and answer GET /metrics on this port with a fresh sample each time; "
            "127.0.0.1 unless an address is given (0.0.0.0 or [::] to be reached from other "
            "hosts). Port 0: a free one, printed.",
        ),
    ] = None,
) -> None:
    """What each container uses, in Prometheus' text exposition format: CPU seconds,
    memory (and its limit, swap), processes, disk (and its limit), network bytes, start
    time and state, one series per container with a name label (docs/metrics.md)."""
    if textfile is not None and listen is not None:
        raise InvalidArgumentError(
            "--textfile and --listen: one or the other",
            hint="a timer writes the file (lxcprov-metrics.timer); --listen is a server",
        )
    path, words = options.path(), names or []
    if listen is not None:
        where = listen_addr.parse(listen)

        def ready(url: str) -> None:
            err.print(f"lxcprov metrics: answering at {url} (Ctrl-C stops)")
            if not where.loopback:
                err.print(
                    f"lxcprov metrics: {where.host} is reachable from outside this host: "
                    "whoever can connect reads every container's name and usage"
                )

        ops_metrics.listen(path, words, where, ready)
        err.print("lxcprov metrics: stopped")
        return
    if textfile is not None:
        ops_metrics.write_textfile(path, words, textfile)
        return
    sys.stdout.write(ops_metrics.exposition(path, words))


def register(app: typer.Typer) -> None:
    app.command(
        "metrics",
        epilog=examples(
            "lxcprov metrics",
            "lxcprov metrics web1 'db*'",
            "lxcprov metrics --textfile /var/lib/prometheus/node-exporter/lxcprov.prom",
            "lxcprov metrics --listen 9100",
            "lxcprov metrics --listen 0.0.0.0:9100",
        ),
    )(metrics)
