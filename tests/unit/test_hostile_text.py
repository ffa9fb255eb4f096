"""Text from users, containers and templates is matched whole, shown inert, split only
on newlines, and never echoed when it is a secret or a file given to lxcprov."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.engine import settings_table
from lxcprov.engine.recipes.loader import load_file
from lxcprov.errors import InvalidArgumentError, InvalidNameError, RecipeFileError
from lxcprov.system import lxc
from lxcprov.system.cgroups import CgroupHost

# -- names and values are matched whole ---------------------------------------------


@pytest.mark.parametrize("name", ["web1\n", "web1\r", "web\n1", "-web1", "web_1", ""])
def test_a_container_name_is_matched_whole(name: str) -> None:
    with pytest.raises(InvalidNameError):
        lxc.check_name(name)
    lxc.check_name("web1")


def _ctx() -> settings_table.Ctx:
    return settings_table.Ctx(CgroupHost("v2", v2=frozenset({"cpu", "cpuset"})), [], {})


@pytest.mark.parametrize(
    ("setting", "raw"),
    [
        ("hostname", "web1\n.example"),  # `$` let the label "web1\n" through
        ("hostname", "a\n.lxc\n.b"),
        ("cpus", "0-1\n,2"),
    ],
)
def test_setting_values_are_matched_whole(setting: str, raw: str) -> None:
    with pytest.raises(InvalidArgumentError):
        settings_table.SETTINGS[setting].compute(raw, _ctx())
    assert settings_table.hostname("web1.example", _ctx()).keys == {"lxc.uts.name": "web1.example"}


@pytest.mark.parametrize(
    ("key", "value"), [("name", '"web\\n"'), ("terminal", '"tty1\\n"'), ("terminal", '"ttys\\n"')]
)
def test_recipe_names_and_terminals_are_matched_whole(tmp_path: Path, key: str, value: str) -> None:
    top, step = (f"{key} = {value}\n", "") if key == "name" else ("", f"{key} = {value}\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'{top}summary = "s"\n[[steps]]\naction = "file"\npath = "/etc/x"\ncontent = "x"\n{step}'
    )
    with pytest.raises(RecipeFileError):
        load_file(recipe)
