"""One block of keys (defaults, a profile, a container, a mount, a file, a command): an
unknown key named with the nearest known one, each value checked against its Field's
kind (fields.Kind) and normalised (a size in bytes becomes a string, a name a list)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.document.entries import Entries
from lxcprov.engine.apply.document.problems import Problems, type_name, unknown_key
from lxcprov.engine.apply.document.spec import Env
from lxcprov.engine.apply.locate import Path as KeyPath

CheckValue = Callable[[F.Field, object, KeyPath], object | None]


class Checker:
    def __init__(self, problems: Problems, env: Env) -> None:
        self.p = problems
        self.env = env
        entries = Entries(problems, env, self.block)
        # "table" is the kind of no value: parse() reads profiles and containers itself.
        self._by_kind: dict[F.Kind, CheckValue] = {
            "string": self._choice,
            "enum": self._choice,
            "boolean": self._boolean,
            "integer": self._integer,
            "size": self._size,
            "number-or-string": self._number_or_string,
            "strings": self._strings,
            "names": self._names,
            "mounts": lambda _f, value, path: entries.mounts(value, path),
            "files": lambda _f, value, path: entries.files(value, path),
            "commands": lambda _f, value, path: entries.commands(value, path),
        }

    def keys(self, block: Mapping[str, object], path: KeyPath, known: tuple[F.Field, ...]) -> bool:
        names = [f.name for f in known]
        ok = True
        for key in block:
            if key not in names:
                self.p.add((*path, key), unknown_key(key, names))
                ok = False
        return ok

    def block(
        self, block: object, path: KeyPath, known: tuple[F.Field, ...]
    ) -> dict[str, object] | None:
        """The block's values, checked and normalised (None when it is not a table)."""
        if not isinstance(block, dict):
            self.p.add(path, f"must be a table, not {type_name(block)}")
            return None
        self.keys(block, path, known)
        out: dict[str, object] = {}
        for f in known:
            if f.name in block:
                value = self.value(f, block[f.name], (*path, f.name))
                if value is not None:
                    out[f.name] = value
        return out

    def value(self, f: F.Field, value: object, path: KeyPath) -> object | None:
        """value checked as f's kind says (None, and a problem added, when it is wrong)."""
        check = self._by_kind.get(f.kind)
        if check is None:
            raise AssertionError(f.kind)
        return check(f, value, path)

    def _string(self, f: F.Field, value: object, path: KeyPath) -> str | None:
        if not isinstance(value, str):
            self.p.add(path, f"must be a string, not {type_name(value)}")
            return None
        if "\0" in value:
            self.p.add(path, "must not hold a NUL character")
            return None
        if f.pattern and not re.fullmatch(f.pattern, value):
            self.p.add(path, f"{value!r} is not valid here (it must match {f.pattern})")
            return None
        return value

    def _choice(self, f: F.Field, value: object, path: KeyPath) -> str | None:
        text = self._string(f, value, path)
        if text is not None and f.choices and text not in f.choices:
            self.p.add(path, f"{text!r} is not one of {', '.join(f.choices)}")
            return None
        return text

    def _strings(self, f: F.Field, value: object, path: KeyPath) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.p.add(path, f"must be a list of strings, not {type_name(value)}")
            return None
        out = [self._string(f, v, (*path, i)) for i, v in enumerate(value)]
        return tuple(v for v in out if v is not None) if None not in out else None

    def _names(self, f: F.Field, value: object, path: KeyPath) -> tuple[str, ...] | None:
        if isinstance(value, str):
            return (value,)
        return self._strings(f, value, path)

    def _boolean(self, _f: F.Field, value: object, path: KeyPath) -> bool | None:
        if not isinstance(value, bool):
            self.p.add(path, f"must be true or false, not {type_name(value)}")
            return None
        return value

    def _integer(self, f: F.Field, value: object, path: KeyPath) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.p.add(path, f"must be an integer, not {type_name(value)}")
            return None
        if (f.minimum is not None and value < f.minimum) or (
            f.maximum is not None and value > f.maximum
        ):
            self.p.add(path, f"{value} is outside {f.minimum}..{f.maximum}")
            return None
        return value

    def _size(self, _f: F.Field, value: object, path: KeyPath) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            self.p.add(path, f'must be a size like "512M" or bytes, not {type_name(value)}')
            return None
        return value

    def _number_or_string(self, _f: F.Field, value: object, path: KeyPath) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:g}"
        if not isinstance(value, str):
            self.p.add(path, f'must be a number or a string like "0-1", not {type_name(value)}')
            return None
        return value
