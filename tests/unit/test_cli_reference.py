"""The CLI teaches: every option says what to type (metavar) and what it does (help),
flags show no type, every command ends with examples, and docs/cli.md is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.core import TyperArgument, TyperOption

from lxcprov.cli import helptext, reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
COMMANDS = reference.commands()


@pytest.mark.parametrize(
    ("words", "cmd"), COMMANDS, ids=lambda x: " ".join(x) if isinstance(x, list) else ""
)
def test_every_parameter_says_what_to_type_and_what_it_does(words: list[str], cmd: object) -> None:
    for p in getattr(cmd, "params", []):
        label = f"{' '.join(words)} {p.name}"
        assert getattr(p, "help", None), f"{label}: no help text"
        if isinstance(p, TyperOption) and p.is_flag:
            continue
        assert isinstance(p, TyperOption | TyperArgument), label
        assert p.metavar, f"{label}: no metavar (the help would show a type)"
        assert "<" not in p.metavar and "str" not in p.metavar.lower(), label


@pytest.mark.parametrize(
    ("words", "cmd"), COMMANDS[1:], ids=lambda x: " ".join(x) if isinstance(x, list) else ""
)
def test_every_command_ends_with_real_examples(words: list[str], cmd: object) -> None:
    epilog = getattr(cmd, "epilog", None) or ""
    assert epilog.startswith("Examples:"), f"{' '.join(words)}: no examples"
    lines = helptext.example_lines(epilog)
    assert lines and all(ln.startswith("lxcprov ") for ln in lines), lines
    # An example names this command (a group's examples name one of its commands).
    assert any(ln.split()[: len(words)] == words for ln in lines), (words, lines)


def test_docs_cli_md_is_current() -> None:
    assert DOC.read_text() == reference.render(), (
        "docs/cli.md is out of date: python -m lxcprov.cli.reference > docs/cli.md"
    )


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "lxcprov", "--version"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout == f"lxcprov {version('lxcprov')}\n"


def test_starting_the_cli_imports_no_orchestration() -> None:
    """`--help`, `ls` and completion build the command tree only: the layers below are
    imported when a command runs (lxcprov.cli.lazy)."""
    code = "import sys, lxcprov.cli\nprint(' '.join(m for m in sys.modules if 'lxcprov' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    heavy = {m for m in loaded if m.startswith(("lxcprov.ops.", "lxcprov.engine."))}
    # Data with no imports: new's defaults, and the settings' help that new's options show.
    assert heavy <= {"lxcprov.ops.defaults", "lxcprov.engine.settings_words"}, sorted(heavy)
    assert not {m for m in loaded if m.startswith("lxcprov.system.hostnet")}, sorted(loaded)


def test_hostnet_hands_out_every_submodule_without_its_api() -> None:
    """hostnet's lazy __init__ must know each submodule (else `from hostnet import x`
    would load the whole API, and ls would start slowly again)."""
    from lxcprov.system import hostnet

    here = Path(hostnet.__file__).parent
    files = {p.stem for p in here.glob("*.py") if p.stem != "__init__"}
    assert files == set(hostnet._SUBMODULES)
