"""Every problem of a document, gathered and raised together, and the wording they share."""

from __future__ import annotations

import difflib

from lxcprov.engine.apply.locate import Path as KeyPath
from lxcprov.engine.apply.locate import Where
from lxcprov.errors import InvalidArgumentError, plural

HINT = "the document's keys: docs/apply.md (JSON Schema: docs/apply.schema.json)"


class Problems:
    """Every problem of a document, one line each, raised together."""

    def __init__(self, where: Where) -> None:
        self.where = where
        self.found: list[tuple[int, str]] = []  # (line, message), shown in line order

    @property
    def lines(self) -> list[str]:
        return [text for _, text in sorted(self.found, key=lambda f: f[0])]

    def add(self, path: KeyPath, message: str) -> None:
        self.add_at(self.where.at(path), message, self.where.line(path) or 0)

    def add_at(self, at: str, message: str, line: int = 0) -> None:
        text = f"{at}: {message}"
        if text not in [t for _, t in self.found]:
            self.found.append((line, text))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        if len(self.lines) == 1:
            raise InvalidArgumentError(self.lines[0], hint=HINT)
        raise InvalidArgumentError(
            f"{self.where.source}: {plural(len(self.lines), 'problem')} (above); "
            "nothing was changed",
            hint=HINT,
            details=self.lines,
        )


def type_name(value: object) -> str:
    """What a value of the wrong type is, as a message says it."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def unknown_key(key: str, known: list[str]) -> str:
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"unknown key {key!r} (did you mean {near[0]!r}?)"
    return f"unknown key {key!r} (known: {', '.join(known)})"


def unknown_profile(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (profiles: {', '.join(known) or 'none'})"
    return f"no profile {name!r}{hint}"
