"""A document's text (TOML, or JSON from `apply -`) -> its tree and the lines of its keys."""

from __future__ import annotations

import json
import tomllib
from typing import Any, Literal

from lxcprov.engine.apply.document.problems import HINT
from lxcprov.engine.apply.locate import Where, json_lines, toml_lines
from lxcprov.errors import InvalidArgumentError

Format = Literal["toml", "json"]


def load_text(text: str, source: str, fmt: Format) -> tuple[dict[str, Any], Where]:
    """The document's tree and the lines of its keys; a syntax error is one line."""
    if fmt == "toml":
        try:
            raw: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib says "... (at line 3, column 9)"
            raise InvalidArgumentError(f"{source}: not valid TOML: {exc}", hint=HINT) from None
        lines = toml_lines(text)
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})",
                hint=HINT,
            ) from None
        lines = json_lines(text)
    if not isinstance(raw, dict):
        raise InvalidArgumentError(f"{source}: the document must be a table (a JSON object)")
    return raw, Where(source, lines)
