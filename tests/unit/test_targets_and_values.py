"""Several containers by names and patterns; settings that must have a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.engine.settings_table import parse_assignments
from lxcprov.errors import InvalidArgumentError, InvalidNameError, LxcprovError, plural
from lxcprov.ops import targets
from lxcprov.system import lxc

P = Path("/var/lib/x")


@pytest.fixture(autouse=True)
def some(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["db1", "web1", "web2", "web10"]
    monkeypatch.setattr(
        lxc, "list_containers", lambda path: [lxc.Container(n, path) for n in names]
    )


def test_names_and_patterns_in_order_each_once() -> None:
    got = targets.resolve(P, ["web?", "db1", "web1", "web*"])
    assert [c.name for c in got] == ["web1", "web2", "db1", "web10"]
    # A plain name is passed on as it is: the command says what is wrong with it.
    assert [c.name for c in targets.resolve(P, ["nosuch"])] == ["nosuch"]


def test_a_pattern_that_matches_nothing_or_a_bad_name_stops_it() -> None:
    with pytest.raises(InvalidArgumentError, match="no container matches 'x\\*'"):
        targets.resolve(P, ["web1", "x*"])
    with pytest.raises(InvalidNameError):
        targets.resolve(P, ["web1", "bad/name"])


def test_one_plain_name_keeps_its_shape_and_more_make_a_list() -> None:
    assert not targets.several(["web1"])
    assert targets.several(["web*"]) and targets.several(["web1", "db1"])


def test_each_reports_every_container_and_goes_on_after_a_failure() -> None:
    def work(c: lxc.Container) -> str:
        if c.name == "web2":
            raise LxcprovError("broken", hint="fix it")
        return c.name.upper()

    seen: list[str] = []
    done = targets.each(targets.resolve(P, ["web*"]), work, on_done=lambda d: seen.append(d.name))
    assert [(d.name, d.result, d.ok) for d in done] == [
        ("web1", "WEB1", True), ("web2", None, False), ("web10", "WEB10", True),
    ]  # fmt: skip
    assert seen == ["web1", "web2", "web10"]
    parallel = targets.each(targets.resolve(P, ["web*"]), work, at_once=3)
    assert [d.ok for d in parallel] == [True, False, True]


EMPTY = [
    ("memory=", "memory=none removes it"),
    ("hostname= ", "for example hostname=web1"),
    ("autostart=", "for example autostart=yes"),
]


@pytest.mark.parametrize(("word", "hint"), EMPTY)
def test_an_empty_value_is_refused_never_a_silent_removal(word: str, hint: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        parse_assignments([word])
    assert err.value.hint == hint


def test_near_misses_and_plurals() -> None:
    with pytest.raises(InvalidArgumentError, match="did you mean 'memory'"):
        parse_assignments(["memroy=1G"])
    assert parse_assignments(["memory=none"]) == {"memory": "none"}
    assert (plural(1, "error"), plural(2, "error"), plural(0, "change")) == (
        "1 error", "2 errors", "0 changes",
    )  # fmt: skip


def test_set_finds_every_name_before_it_changes_any(tmp_path: Path) -> None:
    """`set b1 memory=1G cpus 2` (a missed '='): refused before b1 changes, naming the
    setting it was meant to be; a name that is no container is refused first too."""
    from typer.testing import CliRunner

    from lxcprov.cli import app
    from lxcprov.errors import NoSuchContainerError

    (tmp_path / "b1").mkdir()
    config = tmp_path / "b1" / "config"
    config.write_text("lxc.uts.name = b1\n")
    assert lxc.Container("b1", tmp_path).exists()
    words = ["-P", str(tmp_path), "set", "b1", "memory=1G"]
    for extra, error, said in (
        (["cpus", "2"], InvalidArgumentError, "(did you mean 'cpus=2'?)"),
        (["memroy", "1G"], InvalidArgumentError, "(did you mean 'memory=1G'?)"),
        (["web3"], NoSuchContainerError, "no container 'web3' in"),
        (["cpus"], InvalidArgumentError, "(did you mean 'cpus=VALUE'?)"),
    ):
        result = CliRunner().invoke(app, [*words, *extra])
        assert isinstance(result.exception, error), (extra, result.output, result.exception)
        assert said in result.exception.message, result.exception.message
        assert config.read_text() == "lxc.uts.name = b1\n", "nothing changed"
    near = CliRunner().invoke(app, ["-P", str(tmp_path), "set", "web3", "b1", "cpus=1"])
    assert isinstance(near.exception, NoSuchContainerError)
    assert "(did you mean 'web2'?)" in near.exception.message
    assert config.read_text() == "lxc.uts.name = b1\n"
