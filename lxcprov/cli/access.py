"""Who may run what: every command needs root, except the ones that read nothing of the
host (help, --version, `completion`, and the shells' completion requests).

Checked once, before a command parses its options: a user who is not root gets
lxcprov's one "needs root" line (exit 77) from every command, instead of whatever the
first file it cannot read would say ("Permission denied", an empty list, a half report).
"""

from __future__ import annotations

from collections.abc import Iterable

# Commands anyone may run: they print what lxcprov is, not what the host has.
OPEN = frozenset({"completion"})


def needs_root(word: str | None, args: Iterable[str], commands: Iterable[str]) -> bool:
    """Whether `lxcprov ARGS` (word: its command word) runs a command that needs root.

    No command (the root's help, --version, nothing), an unknown word (click says so), a
    command of OPEN, and any help (`--help` before a `--`, after which the words belong to
    the command) do not."""
    if word is None or word in OPEN or word not in set(commands):
        return False
    for arg in args:
        if arg == "--":
            break
        if arg == "--help":
            return False
    return True
