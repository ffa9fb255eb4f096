"""`man lxcprov` (lxcprov.cli.manpage): every command and option of the CLI is on the page,
and text from the CLI can never turn into roff requests or escapes."""

from __future__ import annotations

import re

import pytest
from typer import _click as click
from typer.core import TyperOption

from lxcprov.cli import helptext, manpage, reference

PAGE = manpage.render("9.9.9", "2024-01-02")
COMMANDS = reference.commands()
# The requests the renderer writes; any other line starting with . or ' would be text
# that roff took for a request (and dropped or obeyed).
REQUESTS = {".TH", ".SH", ".SS", ".TP", ".PP", ".RS", ".RE", ".nf", ".fi", ".nh", '.\\"'}


@pytest.mark.parametrize(
    ("text", "roff"),
    [
        ("--lxcpath", "\\-\\-lxcpath"),
        ("C:\\dir\\n", "C:\\edir\\en"),  # a backslash prints, never starts an escape
        (".hidden file", "\\&.hidden file"),
        ("'quoted' first", "\\&'quoted' first"),
        ("two\n.lines\n'three", "two\n\\&.lines\n\\&'three"),
        ("mid. sentence 'ok'", "mid. sentence 'ok'"),
        ("\\fB not bold", "\\efB not bold"),
        ("-.5", "\\-.5"),
    ],
)
def test_roff_text_escapes(text: str, roff: str) -> None:
    assert manpage.roff_text(text) == roff


def test_every_line_is_text_or_a_known_request() -> None:
    for line in PAGE.splitlines():
        if line.startswith((".", "'")):
            assert line.split()[0] in REQUESTS, line


def test_header_names_the_version_and_date() -> None:
    assert PAGE.splitlines()[1] == '.TH LXCPROV 1 "2024-01-02" "lxcprov 9.9.9" "User Commands"'
    assert "\n.SH NAME\nlxcprov \\- LXC containers" in PAGE


@pytest.mark.parametrize(
    ("words", "cmd"), COMMANDS[1:], ids=lambda x: " ".join(x) if isinstance(x, list) else ""
)
def test_every_command_has_its_section_options_and_examples(
    words: list[str], cmd: click.Command
) -> None:
    heading = f'.SS "{manpage.roff_text(" ".join(words))}"\n'
    assert heading in PAGE
    section = PAGE.split(heading, 1)[1].split("\n.SS ", 1)[0].split("\n.SH ", 1)[0]
    for p in cmd.params:
        if getattr(p, "hidden", False):
            assert not isinstance(p, TyperOption) or all(
                manpage.roff_text(n) not in section for n in p.opts
            )
            continue
        if isinstance(p, TyperOption):
            for name in (*p.opts, *p.secondary_opts):
                assert f"\\fB{manpage.roff_text(name)}\\fR" in section, (words, name)
        help_text = " ".join((getattr(p, "help", None) or "").split())
        assert manpage.roff_text(help_text) in section, (words, p.name)
    for example in helptext.example_lines(cmd.epilog):
        assert manpage.roff_text(example) in section.splitlines(), (words, example)


def test_root_options_and_the_reference_sections() -> None:
    root = COMMANDS[0][1]
    options = PAGE.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
    for p in root.params:
        if isinstance(p, TyperOption) and not p.hidden:
            for name in p.opts:
                assert manpage.roff_text(name) in options
    sections = re.findall(r"^\.SH (.+)$", PAGE, flags=re.M)
    assert sections == ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
                        "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"]  # fmt: skip
    assert "\\fB77\\fR" in PAGE and "\\fBLXCPROV_LXCPATH\\fR" in PAGE


def test_the_build_date_comes_from_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert manpage._build_date() == "2023-11-14"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert manpage._build_date() == ""
