"""docs/cli.md, generated from the command tree: `python -m lxcprov.cli.reference`.

The reference is checked in; a unit test regenerates it and fails when the file differs,
so the docs can never describe options the CLI no longer has.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer import _click as click
from typer.core import TyperArgument, TyperOption

from lxcprov.cli import app, helptext

HEADER = """# lxcprov command reference

Generated from the CLI itself (`python -m lxcprov.cli.reference > docs/cli.md`); a test
fails when this file is out of date. Every command also answers `--help`.
"""


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, cmd)]
    subs: dict[str, Any] = getattr(cmd, "commands", {})  # a group (typer's TyperGroup)
    for name in sorted(subs):
        if not getattr(subs[name], "hidden", False):  # internal (apply's worker)
            found += _walk(subs[name], [*path, name])
    return found


def commands() -> list[tuple[list[str], click.Command]]:
    """Every command of lxcprov with its words (the root first)."""
    root = typer.main.get_command(app)
    return _walk(root, ["lxcprov"])


def metavar_of(param: click.Parameter, ctx: click.Context) -> str:
    if isinstance(param, TyperOption) and param.is_flag:
        return ""
    return param.metavar or param.make_metavar(ctx)


def names_of(param: click.Parameter) -> str:
    if isinstance(param, TyperOption):
        return ", ".join(f"`{n}`" for n in (*param.opts, *param.secondary_opts))
    assert isinstance(param, TyperArgument)
    return "argument"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    out = [HEADER]
    for words, cmd in commands():
        ctx = click.Context(cmd, info_name=" ".join(words))
        out.append(f"\n## `{' '.join(words)}`\n")
        out.append(f"```\n{cmd.get_usage(ctx).strip()}\n```\n")
        if cmd.help:
            out.append(cmd.help.strip() + "\n")
        rows = []
        for p in cmd.params:
            if getattr(p, "hidden", False):
                continue
            names = names_of(p)
            metavar = metavar_of(p, ctx)
            help_text = getattr(p, "help", None) or ""
            value = f"`{_cell(metavar)}`" if metavar else "-"
            rows.append(f"| {names} | {value} | {_cell(help_text)} |")
        if rows:
            out.append("| option | value | what it does |\n|---|---|---|")
            out.extend(rows)
            out.append("")
        if cmd.epilog:
            body = helptext.example_lines(cmd.epilog)
            out.append("Examples:\n\n```\n" + "\n".join(body) + "\n```\n")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
