"""Every command's --help renders (rich markup in a help text once broke `new --help`)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

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
