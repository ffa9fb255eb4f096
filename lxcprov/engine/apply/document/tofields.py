"""A spec back to document keys: what the worker of one container is sent, and what
export-spec writes."""

from __future__ import annotations

from typing import Any

from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.document.spec import CommandSpec, ContainerSpec, FileSpec
from lxcprov.engine.mounts import Mount


def to_fields(spec: ContainerSpec) -> dict[str, object]:
    """The document keys of spec, in the table's order (only those it has).

    parse() of {"containers": {name: to_fields(spec)}} gives spec back (its name and
    places aside): the worker of one container is sent exactly this.
    """
    out: dict[str, object] = {}
    for f in F.CONTAINER_FIELDS:
        if f.name not in spec.given:
            continue
        out[f.name] = _setting(spec, f) if f.setting else _value(getattr(spec, f.name), f.name)
    return out


def _setting(spec: ContainerSpec, f: F.Field) -> object:
    """A settings key as the document writes it (`set` keeps yes/no and digits)."""
    value: object = spec.settings[f.setting]
    if f.kind == "boolean":
        return value == "yes"
    if f.kind == "integer":
        return int(str(value))
    return value


def _value(value: object, name: str) -> object:
    """The spec's value of key name as the document writes it (tuples become lists)."""
    seq: tuple[Any, ...] = value if isinstance(value, tuple) else ()
    if name == "mounts":
        return [mount_fields(m) for m in seq]
    if name == "publish":
        return [p.spec() for p in seq]
    if name == "files":
        return [_file_fields(x) for x in seq]
    if name == "first_boot":
        return [_command_fields(c) for c in seq]
    if isinstance(value, tuple):
        return list(value)
    return value


def mount_fields(m: Mount) -> dict[str, object]:
    out: dict[str, object] = {"source": m.source, "target": m.target}
    if m.ro:
        out["ro"] = True
    if not m.idmap:
        out["idmap"] = False
    return out


def _file_fields(f: FileSpec) -> dict[str, object]:
    out: dict[str, object] = {"path": f.path}
    if f.source is not None:
        out["source"] = f.source
    else:
        out["content"] = f.content if f.content is not None else f.data.decode()
    if f.mode is not None:
        out["mode"] = f"{f.mode:04o}"
    if f.owner is not None:
        out["owner"] = f.owner
    return out


def _command_fields(c: CommandSpec) -> object:
    """A command as a string, or a table when its timeout is not the default."""
    if c.timeout == F.DEFAULT_COMMAND_TIMEOUT:
        return c.run
    return {"run": c.run, "timeout": c.timeout}


def one(spec: ContainerSpec) -> dict[str, object]:
    """A document of spec alone."""
    return {"version": 1, "containers": {spec.name: to_fields(spec)}}
