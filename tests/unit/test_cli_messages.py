"""Small promises of the CLI's words: plurals through errors.plural, a state spelled as ls
spells it, a command that checks its names before it says what it will do."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from lxcprov.cli import app
from lxcprov.cli.apply import all_match
from lxcprov.cli.ls import LS_STATES
from lxcprov.errors import InvalidArgumentError, NoSuchContainerError

SOURCE = Path(__file__).resolve().parents[2] / "lxcprov"


def _container(lxcpath: Path, name: str) -> None:
    (lxcpath / name).mkdir(parents=True)
    (lxcpath / name / "config").write_text(f"lxc.uts.name = {name}\nlxc.tty.max = 1\n")


def test_no_message_counts_with_a_parenthesised_plural() -> None:
    """ "0 snapshot(s)": a count in a message goes through errors.plural."""
    found = [
        f"{path.relative_to(SOURCE)}:{number}: {line.strip()}"
        for path in SOURCE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\}\s*[a-z]+\(s\)", line)
    ]
    assert found == []


def test_nothing_to_change_counts_the_containers_in_words() -> None:
    assert all_match(0) == "the document names no container"
    assert all_match(1) == "its one container matches the document"
    assert all_match(3) == "all 3 containers match the document"


def test_show_spells_the_state_as_ls_does(tmp_path: Path) -> None:
    _container(tmp_path, "b1")
    result = CliRunner().invoke(app, ["-P", str(tmp_path), "show", "b1"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "b1 (STOPPED; host " in result.stderr, result.stderr
    data = CliRunner().invoke(app, ["-P", str(tmp_path), "show", "b1", "--json"])
    assert '"state": "STOPPED"' in data.stdout and '"running": false' in data.stdout


def test_stop_refuses_a_pattern_before_it_says_it_stops(tmp_path: Path) -> None:
    _container(tmp_path, "x")
    result = CliRunner().invoke(app, ["-P", str(tmp_path), "stop", "w*", "x"])
    assert isinstance(result.exception, InvalidArgumentError)
    assert "no container matches 'w*'" in result.exception.message
    assert "stopping" not in result.stderr, result.stderr


def test_console_names_a_missing_container_before_asking_for_a_terminal(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["-P", str(tmp_path), "console", "nosuch"], input="")
    assert isinstance(result.exception, NoSuchContainerError), result.exception
    assert "no container 'nosuch'" in result.exception.message


def test_ls_state_help_lists_every_state_it_takes() -> None:
    text = CliRunner().invoke(app, ["ls", "--help"], terminal_width=400).output
    line = next(ln for ln in text.splitlines() if "--state" in ln)
    assert [s for s in LS_STATES if s.lower() not in line] == [], line


def test_an_lxcpath_that_is_a_dangling_symlink_is_named_as_such(tmp_path: Path) -> None:
    """It was "cannot make the lock .../NAME.lock: File exists" (outside review)."""
    link = tmp_path / "lx"
    link.symlink_to(tmp_path / "gone")
    for argv in (["ls"], ["show", "b1"]):
        result = CliRunner().invoke(app, ["-P", str(link), *argv])
        assert isinstance(result.exception, InvalidArgumentError), result.exception
        said = result.exception.message
        assert (
            said == f"the lxcpath {link} is a symlink to {tmp_path / 'gone'}, which does not exist"
        )
    assert not (tmp_path / "gone").exists(), "nothing is made through it"
