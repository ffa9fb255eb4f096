"""Shared helpers for the apply unit tests: a document read from text, a fake host."""

from __future__ import annotations

from pathlib import Path

from lxcprov.engine.apply import document
from lxcprov.engine.apply.document import Document, Env
from lxcprov.errors import InvalidArgumentError
from lxcprov.system.cgroups import CgroupHost

V1 = CgroupHost("hybrid", frozenset({"memory", "cpu", "cpuset"}), swap_accounting=True)
BASE = Path("/srv/docs")


def read_file(path: Path) -> bytes:
    if path.name == "missing":
        raise InvalidArgumentError(f"cannot read {path}: No such file or directory")
    return f"contents of {path}\n".encode()


ENV = Env(BASE, V1, read_file)


def parse(text: str, fmt: document.Format = "toml", name: str = "doc.toml") -> Document:
    raw, where = document.load_text(text, name, fmt)
    return document.parse(raw, where, ENV)


def problems(text: str, fmt: document.Format = "toml") -> list[str]:
    """Every problem of a document that must not parse, one line each."""
    try:
        parse(text, fmt)
    except InvalidArgumentError as exc:
        return exc.details or [exc.message]
    raise AssertionError("the document parsed")
