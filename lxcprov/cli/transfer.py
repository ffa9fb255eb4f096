"""Progress of a copy, export or import: a rich progress bar on a terminal, plain lines
otherwise (a log, a pipe), and nothing at all for work that ends within a second."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from lxcprov.cli.common import MIB, shown


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


class TransferView:
    """Called with (what, bytes done, bytes in all or 0) as bytes go through.

    Shows nothing for the first `delay` seconds of each transfer (most snapshots and
    copies of clones take milliseconds); then a bar on a terminal, or a line every
    `every` seconds where there is none; and a last line when a shown transfer ends.
    """

    def __init__(
        self,
        console: Console,
        *,
        delay: float = 1.0,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.delay, self.every, self.clock = delay, every, clock
        self.what = ""
        self.started = 0.0
        self.done = self.total = 0
        self.shown = False
        self.last_line = 0.0
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, what: str, done: int, total: int) -> None:
        now = self.clock()
        if what != self.what:
            self.close()
            self.what, self.started, self.shown = what, now, False
        self.done, self.total = done, total
        if now - self.started < self.delay:
            return
        if self.console.is_terminal:
            self._draw(done, total)
        elif not self.shown or now - self.last_line >= self.every:
            self.console.print(self._line(now), highlight=False)
            self.last_line = now
        self.shown = True

    def _draw(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task(shown(self.what), total=total or None)
        assert self.task is not None
        # An estimate of the total may be short (sparse files, headers): never past 100%.
        self.bar.update(self.task, completed=done, total=max(total, done) or None)

    def _line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        of = f" of about {_mib(self.total)} ({min(self.done * 100 // self.total, 100)}%)" \
            if self.total else ""  # fmt: skip
        return f"{shown(self.what)}: {_mib(self.done)}{of}, {self.done / MIB / elapsed:.1f} MiB/s"

    def close(self) -> None:
        """End the current transfer's display (a last line when it was shown)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar, self.task = None, None
        elif self.shown:
            elapsed = max(self.clock() - self.started, 1e-6)
            self.console.print(
                f"{shown(self.what)}: {_mib(self.done)} in {elapsed:.1f} s "
                f"({self.done / MIB / elapsed:.1f} MiB/s)",
                highlight=False,
            )
        self.shown = False
        self.what = ""
