"""Who may run what (lxcprov.cli.access): root for every command, anyone for help,
--version and completion. The real command as another user: tests/real/test_errors.py."""

from __future__ import annotations

import pytest

from lxcprov.cli import _command_word, _command_words, access, reference

WORDS = _command_words()


def test_the_command_words_are_every_command_and_group() -> None:
    listed = {words[1] for words, _ in reference.commands()[1:]}
    assert listed <= set(WORDS)
    assert "apply-worker" in WORDS  # hidden, and still root's only


@pytest.mark.parametrize(
    "argv",
    [
        ["ls"], ["ls", "--json"], ["--lxcpath", "/p", "ls"], ["-P", "/p", "new", "x"],
        ["recipes"], ["templates"], ["doctor"], ["net", "status"], ["net"],
        ["new", "x", "-t", "busybox", "--", "--help"],  # the template's --help
        ["apply-worker"], ["bases", "rm", "--unused"],
    ],
)  # fmt: skip
def test_commands_need_root(argv: list[str]) -> None:
    assert access.needs_root(_command_word(argv), argv, WORDS)


@pytest.mark.parametrize(
    "argv",
    [
        [], ["--help"], ["--version"], ["completion", "bash"], ["new", "--help"],
        ["net", "setup", "--help"], ["--lxcpath", "/p", "ls", "--help"],
        ["no-such-command"],  # click's "No such command" (exit 2), for anyone
    ],
)  # fmt: skip
def test_help_version_and_completion_do_not(argv: list[str]) -> None:
    assert not access.needs_root(_command_word(argv), argv, WORDS)


@pytest.mark.parametrize("words", [w for w, _ in reference.commands()[1:]], ids=" ".join)
def test_every_command_of_the_reference_needs_root_but_completion(words: list[str]) -> None:
    argv = words[1:]
    assert access.needs_root(_command_word(argv), argv, WORDS) == (words[1] != "completion")
