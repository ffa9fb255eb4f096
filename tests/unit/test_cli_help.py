"""Every command's --help renders (rich markup in a help text once broke `new --help`)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lxcprov import cli
from lxcprov.cli import app, helptext

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


@pytest.mark.parametrize("argv", [["--help"], [], ["shw"]], ids=["--help", "nothing", "unknown"])
def test_stand_ins_list_the_commands_exactly_as_the_whole_commands_do(argv: list[str]) -> None:
    # Without a command to run, typer gets stand-ins (name and help, no parameters):
    # what it prints must be what the fully built commands give.
    runner = CliRunner()
    with cli._only_the_command(cli._command_word(argv)):
        fast = runner.invoke(app, argv, prog_name="lxcprov")
        stand_ins = list(app.registered_commands)
    with cli._only_the_command(None, every_command=True):
        whole = runner.invoke(app, argv, prog_name="lxcprov")
    assert all(c.callback is cli._nothing for c in stand_ins)  # the fast path was taken
    assert (fast.exit_code, fast.output) == (whole.exit_code, whole.output)
    assert ("Did you mean 'show'?" if argv == ["shw"] else "\n  net ") in fast.output


def test_every_group_prints_plain_help_with_whole_summaries() -> None:
    from lxcprov.cli import reference

    groups = [(w, c) for w, c in reference.commands() if hasattr(c, "commands")]
    assert len(groups) >= 5  # the root, bases, mount, forward, net
    for words, group in groups:
        assert isinstance(group, helptext.Group), words
        assert group.rich_markup_mode is None, words
    text = CliRunner().invoke(app, ["--help"], prog_name="lxcprov", terminal_width=80).output
    assert "╭" not in text and "Commands:" in text
    # click would cut a summary at 45 characters with "..."; the whole one is wrapped.
    flat = " ".join(text.split())
    for command in (c for c in app.registered_commands if not c.hidden):
        assert helptext.summary(cli._stand_in(command).help) in flat, command.name


def test_examples_keep_one_command_a_line() -> None:
    text = CliRunner().invoke(app, ["export", "--help"], terminal_width=60).output
    assert "\n    lxcprov export web1 - | ssh other lxcprov import -\n" in text
    epilog = helptext.examples("lxcprov a b", "lxcprov c")
    assert helptext.example_lines(epilog) == ["lxcprov a b", "lxcprov c"]


@pytest.mark.parametrize("argv", [["--help"], ["show", "--help"], ["show"], ["lss"]])
def test_help_and_usage_errors_do_not_load_rich_markdown_or_pygments(argv: list[str]) -> None:
    # typer's rich help (typer.rich_utils) imports them: ~0.08 s of every --help.
    probe = (
        "import sys; sys.argv = ['lxcprov', *sys.argv[1:]]\n"
        "from lxcprov.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('typer.rich_utils', 'rich.markdown', 'pygments')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr
    assert "Usage: lxcprov" in done.stdout + done.stderr


def test_summary_is_the_first_paragraph_on_one_line() -> None:
    assert helptext.summary("Do this,\n  then that.\n\nMore.") == "Do this, then that."
    assert helptext.summary(None) == ""
