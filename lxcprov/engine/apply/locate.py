"""Where each key of a document is in its text: the line every message names.

tomllib and json give values, not positions, so the text is scanned once more (after it
parsed, so it is known to be well-formed) and every key path gets the line it starts on:
("containers", "web", "memory") -> 12, ("containers", "web", "files", 0) -> 20. A path
that is not found is named by its nearest ancestor's line. The scan is best effort: an
odd corner it does not follow costs a line number, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Path = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def dotted(path: Path) -> str:
    """containers.web.files[0].mode"""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass
class Where:
    """A document's name and the lines of its keys."""

    source: str  # the file, or "<stdin>"
    lines: Mapping[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        for cut in range(len(path), 0, -1):
            found = self.lines.get(path[:cut])
            if found is not None:
                return found
        return None

    def at(self, path: Path) -> str:
        """FILE:LINE: KEY (or FILE: KEY when the line is not known)."""
        line = self.line(path)
        place = f"{self.source}:{line}" if line is not None else self.source
        return f"{place}: {dotted(path)}" if path else place


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found: dict[Path, int] = {}

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def mark(self, path: Path) -> None:
        self.found.setdefault(path, self.line)

    def skip_space(self, newlines: bool, comments: bool = True) -> None:
        while not self.done():
            ch = self.peek()
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.advance()
            elif comments and ch == "#":
                while not self.done() and self.peek() != "\n":
                    self.advance()
            else:
                return

    def string(self) -> str:
        """A quoted string at pos (TOML basic, literal or multi-line; JSON): its text."""
        for quote in ('"""', "'''"):
            if self.peek(3) == quote:
                self.advance(3)
                start = self.pos
                end = self.text.find(quote, start)
                end = len(self.text) if end < 0 else end
                while self.text[end + 3 : end + 4] == quote[0]:  # """" ends one later
                    end += 1
                self.advance(end - start + 3)
                return self.text[start:end]
        quote = self.peek()
        self.advance()
        out = ""
        while not self.done() and self.peek() != quote:
            if quote == '"' and self.peek() == "\\":
                out += self.peek(2)
                self.advance(2)
                continue
            out += self.peek()
            self.advance()
        self.advance()
        return out


class _Toml(_Scanner):
    def key(self) -> tuple[str, ...]:
        """A dotted key (bare or quoted parts) at pos."""
        parts: list[str] = []
        while not self.done():
            self.skip_space(newlines=False, comments=False)
            if self.peek() in "\"'":
                parts.append(self.string())
            else:
                start = self.pos
                while not self.done() and self.peek() in _BARE:
                    self.advance()
                parts.append(self.text[start : self.pos])
            self.skip_space(newlines=False, comments=False)
            if self.peek() != ".":
                return tuple(parts)
            self.advance()
        return tuple(parts)

    def value(self, path: Path) -> None:
        self.skip_space(newlines=False)
        ch = self.peek()
        if ch in "\"'":
            self.string()
        elif ch == "[":
            self.advance()
            index = 0
            while not self.done():
                self.skip_space(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                self.mark((*path, index))
                self.value((*path, index))
                self.skip_space(newlines=True)
                if self.peek() == ",":
                    self.advance()
                    index += 1
        elif ch == "{":
            self.advance()
            while not self.done():
                self.skip_space(newlines=True)
                if self.peek() == "}":
                    self.advance()
                    return
                key = self.key()
                self.mark((*path, *key))
                self.advance()  # =
                self.value((*path, *key))
                self.skip_space(newlines=True)
                if self.peek() == ",":
                    self.advance()
        else:
            while not self.done() and self.peek() not in ",]}\n#":
                self.advance()

    def scan(self) -> dict[Path, int]:
        table: Path = ()
        counts: dict[Path, int] = {}
        while not self.done():
            self.skip_space(newlines=True)
            if self.done():
                break
            if self.peek() == "[":
                many = self.peek(2) == "[["
                self.advance(2 if many else 1)
                path: Path = self.key()
                self.advance(2 if many else 1)
                if many:
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    self.mark(path)
                    path = (*path, index)
                for cut in range(1, len(path) + 1):
                    self.mark(path[:cut])
                table = path
                continue
            key = self.key()
            for cut in range(1, len(key) + 1):
                self.mark((*table, *key[:cut]))
            if self.peek() != "=":
                break  # not TOML as expected: keep what was found
            self.advance()
            self.value((*table, *key))
        return self.found


class _Json(_Scanner):
    def value(self, path: Path) -> None:
        self.skip_space(newlines=True, comments=False)
        ch = self.peek()
        if ch == '"':
            self.string()
        elif ch in "[{":
            close = "]" if ch == "[" else "}"
            self.advance()
            index = 0
            while not self.done():
                self.skip_space(newlines=True, comments=False)
                if self.peek() == close:
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    index += 1
                    continue
                if ch == "{":
                    key = self.string()
                    self.mark((*path, key))
                    self.skip_space(newlines=True, comments=False)
                    self.advance()  # :
                    self.value((*path, key))
                else:
                    self.mark((*path, index))
                    self.value((*path, index))
        else:
            while not self.done() and self.peek() not in ",]} \t\r\n":
                self.advance()

    def scan(self) -> dict[Path, int]:
        self.value(())
        return self.found


def toml_lines(text: str) -> dict[Path, int]:
    try:
        return _Toml(text).scan()
    except (IndexError, ValueError):
        return {}


def json_lines(text: str) -> dict[Path, int]:
    try:
        return _Json(text).scan()
    except (IndexError, ValueError):
        return {}
