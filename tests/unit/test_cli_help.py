"""Every command's --help renders (rich markup in a help text once broke `new --help`)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from lxcprov import cli
from lxcprov.cli import app

COMMANDS = [
    [], ["new"], ["fix"], ["console"], ["start"], ["stop"], ["destroy"], ["ls"], ["exec"],
    ["recipes"], ["doctor"], ["set"], ["show"], ["bases"], ["bases", "rm"], ["bases", "refresh"],
    ["templates"], ["net"], ["net", "setup"], ["net", "status"], ["net", "teardown"],
    ["snapshot"], ["snapshots"], ["restore"], ["copy"], ["export"], ["import"],
]  # fmt: skip


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "lxcprov")
def test_help_renders(words: list[str]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["show", "web"], "show"),
        (["-P", "/srv/lxc", "show", "web"], "show"),
        (["--lxcpath", "show", "ls"], "ls"),  # "show" is the lxcpath here
        (["--lxcpath=/srv/lxc", "net", "status"], "net"),
        (["--help"], None),
        ([], None),
    ],
)
def test_the_command_word_skips_root_options_and_their_values(
    argv: list[str], word: str | None
) -> None:
    assert cli._command_word(argv) == word


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    old = sys.argv
    sys.argv = ["lxcprov", *argv]
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return int(exited.value.code or 0), out.out + out.err


def test_main_builds_only_the_command_run_and_keeps_every_command_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = (list(app.registered_commands), list(app.registered_groups))
    code, text = _main(["shw", "web"], capsys)  # unknown: every command, for the suggestion
    assert code == 2 and "Did you mean 'show'?" in text, text
    code, text = _main(["snapshots", "--help"], capsys)
    assert code == 0 and "lxcprov snapshots web1 --json" in text
    code, text = _main(["--help"], capsys)
    assert code == 0 and all(f" {c} " in text for c in ("new", "show", "snapshots", "net"))
    assert (app.registered_commands, app.registered_groups) == before  # restored each time
