"""How `--help` looks: click's plain text (like git, pip or pct), not typer's rich panels.

Why plain: typer's rich help imports rich's Markdown (markdown-it) and Traceback
(pygments) to draw its boxes, about 0.08 s before the first line of every `--help` and
every usage error; plain text also reads the same in a pipe, a log or `less`. The one
change to click's layout: the command list shows each command's whole first paragraph,
wrapped, where click would cut it at 45 characters.
"""

from __future__ import annotations

from typer import _click as click
from typer.core import TyperGroup

EXAMPLES = "Examples:"


def examples(*lines: str) -> str:
    """A command's help epilog: real invocations, one per line. click's \\b keeps the
    paragraph as written (one command a line) instead of rewrapping it."""
    return f"{EXAMPLES}\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def example_lines(epilog: str | None) -> list[str]:
    """The invocations of an epilog that examples() wrote."""
    lines = [ln.strip() for ln in (epilog or "").splitlines()]
    return [ln for ln in lines if ln and ln not in (EXAMPLES, "\b")]


def summary(help_text: str | None) -> str:
    """A command's line in a list: the first paragraph of its help, on one line."""
    return " ".join((help_text or "").split("\n\n")[0].split())


class Group(TyperGroup):
    """A command group whose list of commands says what each does, uncut."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or summary(command.help)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
