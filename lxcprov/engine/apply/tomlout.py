"""An `apply` document written as TOML (tomllib reads TOML; nothing in the standard
library writes it). Only the shapes a document has: scalars, lists of scalars, lists of
inline tables, and the `[containers.NAME]` tables with `[[...files]]` below them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_BARE = re.compile(r"[A-Za-z0-9_-]+")
# What a TOML basic string must escape: ", \ and the controls but tab (DEL included).
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(name: str) -> str:
    return name if _BARE.fullmatch(name) else string(name)


def value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {type(v).__name__}")


def _is_tables(v: object) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def document(doc: Mapping[str, object], header: str = "") -> str:
    """TOML for a document (version, defaults, profiles, containers)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    if "version" in doc:
        lines.append(f"version = {value(doc['version'])}")
    for section in ("defaults", "profiles", "containers"):
        block = doc.get(section)
        if not isinstance(block, Mapping):
            continue
        if section == "defaults":
            lines += _table(("defaults",), block)
            continue
        for name, fields in block.items():
            assert isinstance(fields, Mapping)
            lines += _table((section, name), fields)
    return "\n".join(lines) + "\n"


def _table(path: tuple[str, ...], fields: Mapping[str, object]) -> list[str]:
    head = ".".join(key(p) for p in path)
    lines = ["", f"[{head}]"]
    later: list[str] = []
    for name, v in fields.items():
        if name == "files" and _is_tables(v):
            assert isinstance(v, list)
            for table in v:
                later += ["", f"[[{head}.{key(name)}]]"]
                later += [f"{key(k)} = {value(x)}" for k, x in table.items()]
            continue
        lines.append(f"{key(name)} = {value(v)}")
    return lines + later
