"""Rows as a table, CSV, JSON or YAML: what `ls` prints (pure, unit-tested).

A table is aligned and stable (the caller sorts); cells are made safe for a terminal;
an empty cell is "-". CSV and YAML carry the same columns as the table; JSON is the
whole row, as before.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from lxcprov.cli.common import printable

Cell = str | int | bool | None | list[str]
FORMATS = ("table", "csv", "json", "yaml")


def _text(value: Cell) -> str:
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def table(rows: Sequence[dict[str, Cell]], columns: Sequence[str]) -> str:
    header = [c.upper() for c in columns]
    body = [[printable(_text(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *body]]  # fmt: skip
    return "\n".join(lines) + "\n"


def as_csv(rows: Sequence[dict[str, Cell]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if _text(r.get(c)) == "-" else _text(r.get(c)) for c in columns])
    return out.getvalue()


def _yaml_scalar(value: Cell) -> str:
    # JSON scalars are YAML scalars: quoted strings cannot be misread (yes, no, 1e3, :).
    return json.dumps(value)


def as_yaml(rows: Sequence[dict[str, Cell]], columns: Sequence[str]) -> str:
    """A YAML sequence of mappings (block style), the table's columns in order."""
    if not rows:
        return "[]\n"
    lines: list[str] = []
    for r in rows:
        for i, c in enumerate(columns):
            lead = "- " if i == 0 else "  "
            value = r.get(c)
            if isinstance(value, list):
                items = "".join(f"\n    - {_yaml_scalar(v)}" for v in value)
                lines.append(f"{lead}{c}:{items}" if value else f"{lead}{c}: []")
            else:
                lines.append(f"{lead}{c}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"
