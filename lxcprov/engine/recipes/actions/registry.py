"""The table of step actions, and how a step's TOML table becomes typed parameters.

An action is a planner function and a frozen dataclass of its parameters. The loader
turns each `[[steps]]` table into that dataclass when the recipe file is read: a missing,
unknown or wrongly typed key is an error naming the file and line, never a KeyError
halfway through planning a container.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NewType, TypeVar

from lxcprov.engine.recipes.model import Planned
from lxcprov.engine.recipes.secrets import Secrets
from lxcprov.engine.recipes.staging import StagedRootfs

# A file mode written as octal digits in TOML ("600"), held as an int.
Mode = NewType("Mode", int)
# A number, or a placeholder that renders to one ("{n}"), held as text.
NumberText = NewType("NumberText", str)

P = TypeVar("P")


@dataclass
class Context:
    rootfs: StagedRootfs
    facts: dict[str, object]
    secrets: Secrets


class Skip(Exception):
    """Raised by an action that does not apply to this container, with the reason."""


@dataclass(frozen=True)
class Action(Generic[P]):
    name: str
    params: type[P]
    plan: Callable[[Context, P], Planned]
    group: str  # what it touches: files, init, access, network

    @property
    def summary(self) -> str:
        return (self.plan.__doc__ or "").strip().splitlines()[0] if self.plan.__doc__ else ""


ACTIONS: dict[str, Action[Any]] = {}


def action(
    name: str, params: type[P], group: str
) -> Callable[[Callable[[Context, P], Planned]], Callable[[Context, P], Planned]]:
    """Register a planner under name, with the dataclass its parameters load into."""

    def register(fn: Callable[[Context, P], Planned]) -> Callable[[Context, P], Planned]:
        ACTIONS[name] = Action(name, params, fn, group)
        return fn

    return register


class ParamError(ValueError):
    """A step's parameters do not fit its action; the loader adds file and line."""


def _type_name(tp: object) -> str:
    if tp is Mode:
        return 'an octal mode string like "644"'
    if typing.get_origin(tp) is list:
        return "a list of strings"
    names: dict[object, str] = {str: "a string", bool: "true or false", int: "an integer"}
    return names.get(tp, str(tp))


def _convert(key: str, tp: object, value: object) -> object:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(key, inner[0], value)
    if tp is Mode:
        text = str(value)
        if isinstance(value, bool) or not text or any(c not in "01234567" for c in text):
            raise ParamError(f"`{key}` must be {_type_name(tp)}, not {value!r}")
        mode = int(text, 8)
        if mode > 0o7777:
            raise ParamError(f"`{key}` = {value!r} is not a file mode")
        return Mode(mode)
    if typing.get_origin(tp) is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParamError(f"`{key}` must be {_type_name(tp)}")
        return list(value)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if tp is NumberText and isinstance(value, int | str) and not isinstance(value, bool):
        return NumberText(str(value))  # minor = 5 and minor = "{n}" both render to text
    raise ParamError(f"`{key}` must be {_type_name(tp)}, not {value!r}")


@functools.cache
def _described(act: Action[Any]) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    """act's parameters: their resolved types, and their fields by key. Resolving the
    annotations (text under `from __future__ import annotations`) is most of a step's
    parsing: once an action."""
    cls = act.params
    fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(cls)}
    # TOML keys are snake_case in our recipes (only_if_exists); accept both spellings.
    fields.update({f.name: f for f in dataclasses.fields(cls)})
    return typing.get_type_hints(cls), fields


def parse_params(act: Action[P], raw: dict[str, object]) -> P:
    """raw (a step's keys minus the engine's own) as act's typed parameters."""
    cls = act.params
    hints, fields = _described(act)
    unknown = sorted(k for k in raw if k not in fields)
    if unknown:
        takes = sorted(f.name for f in dataclasses.fields(cls)) or ["no parameters"]  # type: ignore[arg-type]
        raise ParamError(
            f"action {act.name!r} does not take {', '.join(unknown)} (it takes {', '.join(takes)})"
        )
    values: dict[str, object] = {}
    for key, value in raw.items():
        f = fields[key]
        values[f.name] = _convert(key, hints[f.name], value)
    missing = sorted(
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ParamError(f"action {act.name!r} needs {', '.join(missing)}")
    return cls(**values)
