"""`man lxcprov`, generated from the command tree as docs/cli.md is (lxcprov.cli.reference):
`python -m lxcprov.cli.manpage > lxcprov.1`. The Debian package builds it; nothing is
checked in, so the page always lists the commands and options of the code it ships with.

roff is a language, not plain text: every text from the CLI goes through roff_text, so a
`-` stays a copyable hyphen-minus (`\\-`), a backslash prints as one (`\\e`), and a line that
starts with `.` or `'` is text, not a request.
"""

from __future__ import annotations

import os
import sys
import time

from typer import _click as click
from typer.core import TyperOption

from lxcprov.cli import helptext, reference

NAME = "lxcprov"

ENVIRONMENT = (
    ("LXCPROV_LXCPATH", "Where containers live, as --lxcpath (default: LXC's system lxcpath)."),
    ("LXCPROV_CONFIG_DIR", "The admin's settings and recipes (default /etc/lxcprov)."),
    ("LXCPROV_STATE_DIR", "lxcprov's own state: bridges, addresses (default /var/lib/lxcprov)."),
    ("LXCPROV_RECIPES_DIR", "The built-in recipes, replaced as a whole (for tests)."),
    ("LXCPROV_DEBUG", "Set: an unexpected system error shows its traceback."),
    ("NO_COLOR", "Set: no colours, even on a terminal."),
)

FILES = (
    ("/etc/lxcprov/recipes/", "The admin's recipes; they win over the built-in ones by name."),
    ("/etc/lxcprov/net.toml", "The host network lxcprov manages (net setup)."),
    ("/var/lib/lxcprov/", "lxcprov's state; never removed by removing the package."),
    ("/usr/share/doc/lxcprov/README.md", "What lxcprov fixes, recipes, performance, safety."),
)

EXIT_STATUS = (
    ("0", "Success."),
    ("1", "The command failed; the error line says why and a hint line what to do."),
    ("2", "A usage error: an unknown option, a bad name or value."),
    ("69", "A tool lxcprov needs is missing (lxc, python3-lxc, ...)."),
    ("77", "Not root: every command but --help, --version and completion needs root."),
    ("130", "Interrupted; half-made work was undone."),
)

SEE_ALSO = "lxc-create(1), lxc-start(1), lxc-console(1), lxc.container.conf(5), dnsmasq(8), nft(8)"


def roff_text(text: str) -> str:
    """Text as roff prints it literally: `\\` as `\\e`, `-` as `\\-`, and no line that roff
    would read as a request (a leading `.` or `'`) or as an escape."""
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in escaped.split("\n")
    )


def _bold(text: str) -> str:
    return f"\\fB{roff_text(text)}\\fR"


def _italic(text: str) -> str:
    return f"\\fI{roff_text(text)}\\fR"


def _paragraphs(text: str) -> list[str]:
    """A help text's paragraphs, each on one line (roff fills them)."""
    return [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]


def _param(param: click.Parameter, ctx: click.Context) -> list[str]:
    metavar = reference.metavar_of(param, ctx)
    if isinstance(param, TyperOption):
        names = ", ".join(_bold(n) for n in (*param.opts, *param.secondary_opts))
        head = f"{names} {_italic(metavar)}" if metavar else names
    else:
        head = _italic(metavar)
    return [".TP", head, roff_text(" ".join((getattr(param, "help", None) or "").split()))]


def _command(words: list[str], cmd: click.Command) -> list[str]:
    ctx = click.Context(cmd, info_name=" ".join(words))
    usage = cmd.get_usage(ctx).strip().removeprefix("Usage:").strip()
    out = [f'.SS "{roff_text(" ".join(words))}"', ".nf", _bold(usage), ".fi"]
    for paragraph in _paragraphs(cmd.help or ""):
        out += [".PP", roff_text(paragraph)]
    params = [p for p in cmd.params if not getattr(p, "hidden", False)]
    if params:
        out += [".PP", "Options:", ".RS 4"]
        for p in params:
            out += _param(p, ctx)
        out.append(".RE")
    examples = helptext.example_lines(cmd.epilog)
    if examples:
        out += [".PP", "Examples:", ".RS 4", ".nf", *(roff_text(e) for e in examples), ".fi", ".RE"]
    return out


def _table(title: str, rows: tuple[tuple[str, str], ...], *, bold: bool = True) -> list[str]:
    out = [f".SH {title}"]
    for key, text in rows:
        out += [".TP", _bold(key) if bold else _italic(key), roff_text(text)]
    return out


def render(version: str, date: str = "") -> str:
    """The whole page; date (YYYY-MM-DD) goes into its header when given."""
    (_, root), *commands = reference.commands()
    root_ctx = click.Context(root, info_name=NAME)
    out = [
        ".\\\" Generated from lxcprov's CLI (python -m lxcprov.cli.manpage); do not edit.",
        f'.TH LXCPROV 1 "{date}" "{roff_text(NAME + " " + version)}" "User Commands"',
        ".nh",  # no hyphenation: an option name broken at its hyphen reads as two
        ".SH NAME",
        f"{NAME} \\- {roff_text(helptext.summary(root.help))}",
        ".SH SYNOPSIS",
        f"{_bold(NAME)} [{_italic('OPTIONS')}] {_italic('COMMAND')} [{_italic('ARGS')}]...",
        ".SH DESCRIPTION",
        roff_text(
            "lxcprov runs an LXC template (or clones a cached base), applies recipes (small, "
            "idempotent fixups of the container's files), sets up the host network (bridge, "
            "DHCP and DNS through dnsmasq, NAT through nftables) and returns once the "
            "container's console shows a login prompt."
        ),
        ".PP",
        roff_text(
            "Every command also answers --help, and every command's help ends with examples. "
            "lxcprov needs root, except for --help, --version and completion."
        ),
        ".SH OPTIONS",
    ]
    for p in root.params:
        if not getattr(p, "hidden", False):
            out += _param(p, root_ctx)
    out.append(".SH COMMANDS")
    for words, cmd in commands:
        out += _command(words, cmd)
    out += _table("ENVIRONMENT", ENVIRONMENT)
    out += _table("FILES", FILES, bold=False)
    out += _table("EXIT STATUS", EXIT_STATUS)
    out += [".SH SEE ALSO", roff_text(SEE_ALSO)]
    return "\n".join(out) + "\n"


def _build_date() -> str:
    """The date of a reproducible build (SOURCE_DATE_EPOCH, as dpkg-buildpackage sets it)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch.isdigit() else ""


if __name__ == "__main__":
    from lxcprov.cli import version

    sys.stdout.write(render(version(), _build_date()))
