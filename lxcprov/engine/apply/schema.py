"""The JSON Schema of an `apply` document, generated from lxcprov.engine.apply.fields.

docs/apply.schema.json is this, written out (`python -m lxcprov.engine.apply.schema`);
a unit test keeps the file and the tables equal, and checks documents against it with a
real JSON Schema validator. lxcprov itself validates with its own checker (messages with
file, line and the nearest key name), which agrees with the schema on what is valid.
"""

from __future__ import annotations

import json
from typing import Any

from lxcprov.engine.apply import fields as F

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _string(f: F.Field) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string"}
    if f.pattern:
        out["pattern"] = f"^(?:{f.pattern})$"
    return out


def _field(f: F.Field) -> dict[str, Any]:
    out: dict[str, Any]
    if f.kind == "string":
        out = _string(f)
    elif f.kind == "enum":
        out = {"enum": list(f.choices)}
    elif f.kind == "boolean":
        out = {"type": "boolean"}
    elif f.kind == "integer":
        out = {"type": "integer"}
        if f.minimum is not None:
            out["minimum"] = f.minimum
        if f.maximum is not None:
            out["maximum"] = f.maximum
    elif f.kind == "size":
        out = {"type": ["string", "integer"]}
    elif f.kind == "number-or-string":
        out = {"type": ["string", "number"]}
    elif f.kind == "strings":
        out = {"type": "array", "items": _string(f)}
    elif f.kind == "names":
        out = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    elif f.kind == "mounts":
        table = _object(F.MOUNT_FIELDS, required=("source", "target"))
        out = {"type": "array", "items": {"anyOf": [{"type": "string"}, table]}}
    elif f.kind == "files":
        files = _object(F.FILE_FIELDS, required=("path",))
        files["oneOf"] = [{"required": ["content"]}, {"required": ["source"]}]
        out = {"type": "array", "items": files}
    elif f.kind == "commands":
        table = _object(F.COMMAND_FIELDS, required=("run",))
        out = {"type": "array", "items": {"anyOf": [{"type": "string", "minLength": 1}, table]}}
    else:
        raise AssertionError(f.kind)
    out["description"] = f.summary
    return out


def _object(fields: tuple[F.Field, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: _field(f) for f in fields},
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(required)
    return out


def schema() -> dict[str, Any]:
    container = _object(F.CONTAINER_FIELDS)
    declaration = _object((*F.CONTAINER_FIELDS, *F.DECLARATION_FIELDS))
    top = {f.name: f.summary for f in F.TOP_FIELDS}
    return {
        "$schema": DIALECT,
        "$id": "apply.schema.json",
        "title": "lxcprov apply document",
        "description": "Containers as a file: `lxcprov apply FILE.toml` (or JSON on stdin). "
        "See docs/apply.md.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": top["version"]},
            "defaults": {"$ref": "#/$defs/keys", "description": top["defaults"]},
            "profiles": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/keys"},
                "description": top["profiles"],
            },
            "containers": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/container"},
                "description": top["containers"],
            },
        },
        "$defs": {"keys": container, "container": declaration},
    }


def text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(text(), end="")
