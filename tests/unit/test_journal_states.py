"""The state a container is listed in while an lxcprov command works on it: what the
command does to it, never "CREATING" for one that already existed."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.system import journal


def _entry(command: str, creating: bool) -> journal.Entry:
    return journal.Entry(Path("/x/.lxcprov/journal/c.toml"), "c", command, (), 1, 1,
                         "2026-12-07 15:00:00", "start", creating)  # fmt: skip


@pytest.mark.parametrize(
    ("command", "creating", "state"),
    [
        ("new", True, "CREATING"),
        ("copy", True, "CREATING"),
        ("import", True, "CREATING"),
        (journal.REMOVAL, True, "DESTROYING"),
        ("set", False, "CHANGING"),
        ("snapshot", False, "CHANGING"),
        ("restore", False, "CHANGING"),
        ("convert", False, "CHANGING"),
    ],
)
def test_busy_state_says_what_the_command_does(command: str, creating: bool, state: str) -> None:
    """The state shown when the container cannot be read as LXC's meanwhile (one being
    changed keeps its own state otherwise: test_changes_existing)."""
    assert _entry(command, creating).busy_state == state


def test_changes_existing() -> None:
    assert _entry("snapshot", False).changes_existing
    assert _entry("set", False).changes_existing
    assert not _entry("new", True).changes_existing
    assert not _entry(journal.REMOVAL, True).changes_existing
