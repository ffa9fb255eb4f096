"""Recipe files: errors name the file and line; `when` cannot run code."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.engine.recipes import load_all, load_file, select
from lxcprov.engine.recipes.when import WhenError, compile_when, evaluate
from lxcprov.errors import RecipeFileError, UnknownRecipeError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "broken.toml"
    p.write_text(text)
    return p


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    p = _write(tmp_path, 'name = "x"\n\n[[steps]]\naction = "file\n')
    with pytest.raises(RecipeFileError, match=r"broken\.toml.*line 4"):
        load_file(p)


def test_unknown_action_names_the_steps_line(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        'name = "x"\n[[steps]]\naction = "file"\npath = "/a"\ncontent = ""\n\n'
        '[[steps]]\naction = "frobnicate"\n',
    )
    with pytest.raises(RecipeFileError, match=r"broken\.toml:7: unknown action 'frobnicate'"):
        load_file(p)


def test_missing_and_extra_parameters(tmp_path: Path) -> None:
    with pytest.raises(RecipeFileError, match="needs content"):
        load_file(_write(tmp_path, '[[steps]]\naction = "file"\npath = "/a"\n'))
    with pytest.raises(RecipeFileError, match="does not take colour"):
        load_file(
            _write(tmp_path, '[[steps]]\naction = "file"\npath = "/a"\ncontent = ""\ncolour = 1\n')
        )


def test_when_with_unknown_fact_or_code_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeFileError, match="unknown fact 'kernel'"):
        load_file(_write(tmp_path, 'when = "kernel == 6"\n[[steps]]\naction = "root-password"\n'))
    with pytest.raises(WhenError):
        compile_when("__import__('os').system('true')", {"init"})
    with pytest.raises(WhenError):
        compile_when("init.upper() == 'X'", {"init"})


def test_when_evaluates_over_facts() -> None:
    names = {"init", "ttys", "autodev"}
    expr = compile_when("init in ['sysvinit', 'busybox'] and ttys > 0 and not autodev", names)
    assert evaluate(expr, {"init": "busybox", "ttys": 4, "autodev": False})
    assert not evaluate(expr, {"init": "systemd", "ttys": 4, "autodev": False})
    assert not evaluate(expr, {"init": "busybox", "ttys": 0, "autodev": False})


def test_builtin_recipes_load_and_unknown_names_are_refused() -> None:
    recipes = load_all()
    names = {r.name for r in recipes}
    assert {
        "getty-systemd",
        "getty-inittab",
        "tty-nodes",
        "securetty",
        "hostname",
        "root-access",
    } <= names
    assert [r.name for r in select(recipes, ["hostname"], [])] == ["hostname"]
    assert "hostname" not in {r.name for r in select(recipes, [], ["hostname"])}
    with pytest.raises(UnknownRecipeError, match="nope"):
        select(recipes, ["nope"], [])
    with pytest.raises(UnknownRecipeError):
        select(recipes, [], ["nope"])
