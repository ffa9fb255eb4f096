"""Progress of long work, reported through callbacks: one code path serves a terminal,
--json and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    """A phase starts (one line saying what is being waited for); a template printed a line."""

    phase: Callable[[str], None] = lambda _msg: None
    line: Callable[[str], None] = lambda _line: None
    # Bytes copied, exported or imported so far, of about how many (0: not known).
    transfer: Callable[[str, int, int], None] = lambda _what, _done, _total: None

    def meter(self, what: str, total: int) -> Callable[[int], None]:
        """A counter to give a copy, told each chunk's size, reporting the running total."""
        done = 0

        def add(n: int) -> None:
            nonlocal done
            done += n
            self.transfer(what, done, total)

        self.transfer(what, 0, total)
        return add
