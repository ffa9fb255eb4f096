"""Progress of long transfers: nothing for a second, then a bar on a terminal or plain
lines elsewhere, and a last line (lxcprov.cli.transfer)."""

from __future__ import annotations

import io

from rich.console import Console

from lxcprov.cli.common import MIB
from lxcprov.cli.transfer import TransferView


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _view(terminal: bool) -> tuple[TransferView, io.StringIO, Clock]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    clock = Clock()
    return TransferView(console, clock=clock), out, clock


def test_work_of_under_a_second_shows_nothing() -> None:
    view, out, clock = _view(terminal=False)
    view("copying to c2", 0, 10 * MIB)
    clock.now += 0.5
    view("copying to c2", 10 * MIB, 10 * MIB)
    view.close()
    assert out.getvalue() == ""


def test_plain_lines_where_there_is_no_terminal() -> None:
    view, out, clock = _view(terminal=False)
    view("exporting web1", 0, 100 * MIB)
    for step in range(1, 13):
        clock.now += 1
        view("exporting web1", step * 8 * MIB, 100 * MIB)
    view.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "exporting web1: 8.0 MiB of about 100.0 MiB (8%), 8.0 MiB/s"
    assert len(lines) == 4, lines  # at 1 s, 6 s, 11 s, and the last line
    assert lines[-1] == "exporting web1: 96.0 MiB in 12.0 s (8.0 MiB/s)"
    assert "\x1b" not in out.getvalue()


def test_a_bar_on_a_terminal() -> None:
    view, out, clock = _view(terminal=True)
    view("importing web1", 0, 100 * MIB)
    clock.now += 2
    view("importing web1", 50 * MIB, 100 * MIB)
    view("importing web1", 150 * MIB, 100 * MIB)  # an estimate that was short: no error
    view.close()
    assert "importing web1" in out.getvalue() and "MiB" in out.getvalue()
