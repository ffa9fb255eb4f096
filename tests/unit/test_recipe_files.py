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


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ('action = "file"\npath = "/a"\ncontent = 5', "`content` must be a string, not 5"),
        ('action = "file"\npath = "/a"\ncontent = ""\nmode = "9"', "octal mode"),
        ('action = "file"\npath = "/a"\ncontent = ""\nmode = "77777"', "is not a file mode"),
        ('action = "lines"\npath = "/a"\nlines = "one"', "`lines` must be a list of strings"),
        ('action = "lines"\npath = "/a"\nlines = [1]', "`lines` must be a list of strings"),
        ('action = "disable-lines"\npath = "/a"\npattern = "(("', "not a regular expression"),
        ('action = "file"\npath = "/a"\ncontent = ""\nonly_if_exists = "yes"', "true or false"),
        ('action = "symlink"\npath = "/a"\ntarget = "/b"\nterminal = "tty"', "`terminal` is"),
        ('action = "root-password"\nextra = 1', "does not take extra"),
    ],
)
def test_step_parameters_are_typed_at_load(tmp_path: Path, step: str, message: str) -> None:
    p = _write(tmp_path, f'name = "x"\n\n[[steps]]\n{step}\n')
    with pytest.raises(RecipeFileError) as exc:
        load_file(p)
    assert str(p) + ":3:" in exc.value.message
    assert message in exc.value.message


def test_recipe_level_keys_are_checked(tmp_path: Path) -> None:
    step = '\n[[steps]]\naction = "root-password"\n'
    with pytest.raises(RecipeFileError, match="`provides` lists roles"):
        load_file(_write(tmp_path, 'provides = ["consoles"]' + step))
    with pytest.raises(RecipeFileError, match="`order` must be an integer"):
        load_file(_write(tmp_path, 'order = "early"' + step))
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'name = "caf\xe9"\n' + step.encode())
    with pytest.raises(RecipeFileError, match="not UTF-8"):
        load_file(p)


def test_every_builtin_recipe_provides_a_role() -> None:
    for recipe in load_all():
        assert recipe.provides, f"{recipe.name} provides nothing: doctor and set cannot find it"


def test_a_file_is_parsed_once_per_content_and_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`new` reads the recipes twice and each child of `new --count` again: the same bytes
    are not parsed again, and an edit is seen even with the same timestamps."""
    import os
    import tomllib

    parsed: list[str] = []
    real = tomllib.loads

    def counting(text: str) -> dict[str, object]:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(tomllib, "loads", counting)  # the module loader parses with
    step = '[[steps]]\naction = "root-password"\n'
    p = _write(tmp_path, 'summary = "one"\n' + step)
    first = load_file(p)
    assert load_file(p) is first and len(parsed) == 1
    stamp = p.stat()
    p.write_text('summary = "two"\n' + step)
    os.utime(p, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert load_file(p).summary == "two" and len(parsed) == 2
    # A broken edit is refused every time, not remembered as the last good one.
    p.write_text('summary = "three"\n[[steps]]\naction = "colour"\n')
    for _ in range(2):
        with pytest.raises(RecipeFileError, match="unknown action"):
            load_file(p)


def test_what_is_not_a_regular_file_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO named *.toml in the recipe directory blocked every `new` for good (a read
    waits for a writer); a link to /dev/zero would read without end; a directory, a file
    far too large: each is one line naming the file, at once."""
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    (tmp_path / "dir.toml").mkdir()
    big = tmp_path / "big.toml"
    big.write_text('summary = "' + "x" * (2 << 20) + '"\n')
    for path, says in ((fifo, "not a regular file"), (tmp_path / "zero.toml", "not a regular"),
                       (tmp_path / "dir.toml", "not a regular"), (big, "larger than")):  # fmt: skip
        with pytest.raises(RecipeFileError, match=says) as caught:
            load_file(path)
        assert str(path) in caught.value.message
    only_fifo = tmp_path / "d"
    only_fifo.mkdir()
    os.mkfifo(only_fifo / "a.toml")
    with pytest.raises(RecipeFileError, match="not a regular file"):
        load_all([only_fifo])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("x = " + "1" * 5000 + "\n", "digits"),  # Python's int limit, not TOML's
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ('summary = "\xe9t\xe9"\n', "not UTF-8"),
    ],
)
def test_toml_python_cannot_hold_is_a_recipe_error(tmp_path: Path, text: str, says: str) -> None:
    """tomllib raises ValueError or RecursionError there, not TOMLDecodeError: `recipes`
    and `new` printed a traceback, and `new --count` died whole."""
    p = tmp_path / "odd.toml"
    p.write_bytes(text.encode("latin-1") if "UTF-8" in says else text.encode())
    with pytest.raises(RecipeFileError, match=says) as caught:
        load_file(p)
    assert caught.value.message.startswith(str(p))


def test_a_device_is_refused_before_it_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a device can act by itself (a watchdog starts counting): a recipe that
    is a link to one is refused from its stat, and never opened."""
    import os

    opened: list[str] = []
    real_open = os.open

    def recording(path: str | Path, flags: int, *args: int) -> int:
        opened.append(str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", recording)
    link = tmp_path / "dev.toml"
    link.symlink_to("/dev/null")
    with pytest.raises(RecipeFileError, match="not a regular file"):
        load_file(link)
    assert opened == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("order = 0x" + "f" * 20000, "`order` must be from -1000 to 1000"),
        ("order = 1001", "`order` must be from -1000 to 1000"),
        ('when = "' + "not " * 3000 + 'autodev"', "at most 500"),
        ('when = "' + "(" * 240 + "autodev" + ")" * 240 + '"', "does not parse"),
    ],
)
def test_an_order_or_a_condition_out_of_bounds_is_one_line(
    tmp_path: Path, text: str, says: str
) -> None:
    """A 20000-digit hex order loaded, then `recipes --json` died writing it; a `when` of
    3000 nested `not`s overflowed the parser's stack: a traceback from new and doctor."""
    p = _write(tmp_path, text + '\n[[steps]]\naction = "root-password"\n')
    with pytest.raises(RecipeFileError, match=says) as caught:
        load_file(p)
    assert caught.value.message.startswith(str(p))
