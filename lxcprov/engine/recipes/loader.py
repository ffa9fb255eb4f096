"""Loading recipes/*.toml: parse, validate against the action table, say file and line."""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from lxcprov.engine.facts import Facts
from lxcprov.engine.recipes.actions import ACTIONS, ParamError, parse_params
from lxcprov.engine.recipes.model import Recipe, Step
from lxcprov.engine.recipes.roles import ROLES, Role, parse_role
from lxcprov.engine.recipes.when import WhenError, compile_when
from lxcprov.errors import RecipeFileError
from lxcprov.system import hostfile

_RECIPE_KEYS = {"name", "summary", "fixes", "when", "scope", "order", "steps", "provides"}
_STEP_KEYS = {"action", "when", "each", "terminal"}
# Matched whole (fullmatch): `$` would also accept a trailing newline.
_TERMINAL = re.compile(r"console|ttys|all|tty\{n\}|tty\d+")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
FACT_NAMES = set(Facts(name="x").as_dict())


def builtin_dir() -> Path:
    """The recipes shipped with lxcprov: packaged copy first, then the source tree's."""
    packaged = Path(__file__).resolve().parents[2] / "_recipes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "recipes"


def recipe_dirs() -> list[Path]:
    """Built-in recipes, then the admin's ($LXCPROV_CONFIG_DIR/recipes), which win by name."""
    dirs = [Path(os.environ.get("LXCPROV_RECIPES_DIR") or builtin_dir())]
    config = Path(os.environ.get("LXCPROV_CONFIG_DIR", "/etc/lxcprov")) / "recipes"
    if config.is_dir():
        dirs.append(config)
    return dirs


def _step_lines(text: str) -> list[int]:
    return [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == "[[steps]]"]


def _when(value: object, where: str) -> tuple[Any, str]:
    if value is None:
        return None, ""
    if not isinstance(value, str):
        raise RecipeFileError(f"{where}: `when` must be a string")
    try:
        return compile_when(value, FACT_NAMES), value
    except WhenError as exc:
        raise RecipeFileError(
            f"{where}: {exc}",
            hint="a `when` is a short condition on the facts (README: Recipes)",
        ) from None


# The built-in recipes use 10 to 90; the bound keeps `recipes --json` writable (TOML's hex
# integers have no digit limit, JSON output has one).
ORDER_RANGE = range(-1000, 1001)


def _order(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecipeFileError(f"{where}: `order` must be an integer, not {str(value)[:40]!r}")
    if value not in ORDER_RANGE:
        raise RecipeFileError(
            f"{where}: `order` must be from {ORDER_RANGE.start} to {ORDER_RANGE.stop - 1}"
        )
    return value


def _provides(value: object, where: str) -> tuple[Role, ...]:
    items = value if isinstance(value, list) else [value]
    roles = [parse_role(v) for v in items]
    if any(r is None for r in roles):
        raise RecipeFileError(
            f"{where}: `provides` lists roles, not {value!r}",
            hint="roles: " + ", ".join(ROLES),
        )
    return tuple(r for r in roles if r is not None)


# Parsed recipes by file and content. A `new` reads the recipes twice (its checks, then
# doctor's view of the result) and each child of `new --count` again: parsing the TOML
# and typing each step's parameters was 40 ms of CPU each time, reading the files is
# not. Keyed by the bytes, an edited file is parsed again whatever its timestamps say.
_parsed: dict[tuple[Path, bytes], Recipe] = {}


# Far above any recipe (the built-in ones are under 2 KiB): a file this large is not one.
MAX_BYTES = 1 << 20


def _read(path: Path) -> bytes:
    try:
        raw = hostfile.read_regular(path, MAX_BYTES)
    except hostfile.NotReadable as exc:
        if exc.reason == "not a regular file":
            raise RecipeFileError(
                f"{path}: not a regular file", hint="a recipe is a TOML file (see lxcprov recipes)"
            ) from None
        raise RecipeFileError(f"{path}: cannot read it: {exc.reason}") from None
    if len(raw) > MAX_BYTES:
        raise RecipeFileError(f"{path}: larger than {MAX_BYTES // 1024} KiB: not a recipe")
    return raw


def load_file(path: Path) -> Recipe:
    raw = _read(path)
    known = _parsed.get((path, raw))
    if known is None:
        known = _parsed[(path, raw)] = _parse(path, raw)
    return known


def _parse(path: Path, raw: bytes) -> Recipe:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeFileError(
            f"{path}:{line}: not UTF-8 text (byte {exc.start})", hint="save the recipe as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)".
        raise RecipeFileError(f"{path}: {exc}", hint="fix the TOML syntax at that line") from None
    except (ValueError, RecursionError) as exc:
        # Valid TOML Python will not hold: an integer of more than 4300 digits (ValueError),
        # arrays nested thousands deep (tomllib recurses).
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        if "int_max_str_digits" in what:  # Python's advice, which no recipe can follow
            what = f"an integer of more than {sys.get_int_max_str_digits()} digits"
        raise RecipeFileError(f"{path}: {what}", hint="a recipe holds no such values") from None
    unknown = set(data) - _RECIPE_KEYS
    if unknown:
        raise RecipeFileError(f"{path}:1: unknown key(s) {', '.join(sorted(unknown))}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RecipeFileError(f"{path}:1: recipe name {name!r} must be lowercase-with-dashes")
    when, when_text = _when(data.get("when"), f"{path}:1")
    scope = data.get("scope", "base")
    if scope not in ("base", "instance"):
        raise RecipeFileError(f"{path}:1: scope must be 'base' or 'instance', not {scope!r}")
    lines = _step_lines(text)
    steps: list[Step] = []
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        raise RecipeFileError(f"{path}:1: a recipe needs at least one [[steps]] table")
    for index, raw in enumerate(raw_steps):
        line = lines[index] if index < len(lines) else 1
        where = f"{path}:{line}"
        if not isinstance(raw, dict) or "action" not in raw:
            raise RecipeFileError(f"{where}: step has no `action`")
        act = raw["action"]
        if act not in ACTIONS:
            raise RecipeFileError(
                f"{where}: unknown action {act!r}",
                hint="known actions: " + ", ".join(sorted(ACTIONS)),
            )
        try:
            params = parse_params(
                ACTIONS[act], {k: v for k, v in raw.items() if k not in _STEP_KEYS}
            )
        except ParamError as exc:
            raise RecipeFileError(f"{where}: {exc}") from None
        each = raw.get("each")
        if each not in (None, "tty"):
            raise RecipeFileError(f'{where}: `each` can only be "tty"')
        terminal = raw.get("terminal", "")
        if terminal and not (isinstance(terminal, str) and _TERMINAL.fullmatch(terminal)):
            raise RecipeFileError(
                f'{where}: `terminal` is "console", "ttys", "all" or "tty{{n}}", not {terminal!r}'
            )
        step_when, step_when_text = _when(raw.get("when"), where)
        steps.append(
            Step(act, params, step_when, step_when_text, each == "tty", line, str(terminal))
        )
    return Recipe(
        provides=_provides(data.get("provides", []), f"{path}:1"),
        name=name,
        summary=str(data.get("summary", "")),
        fixes=str(data.get("fixes", "")),
        when=when,
        when_text=when_text,
        scope=scope,
        order=_order(data.get("order", 50), f"{path}:1"),
        steps=tuple(steps),
        source=path,
    )


def load_all(dirs: list[Path] | None = None) -> list[Recipe]:
    """All recipes, later directories overriding earlier ones by name, in apply order."""
    by_name: dict[str, Recipe] = {}
    for directory in dirs if dirs is not None else recipe_dirs():
        for path in sorted(directory.glob("*.toml")):
            recipe = load_file(path)
            by_name[recipe.name] = recipe
    return sorted(by_name.values(), key=lambda r: (r.order, r.name))
