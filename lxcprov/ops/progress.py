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
