"""The whole document: its top keys, defaults and profiles read, each container declared,
expanded into specs and checked across containers; every problem raised at once."""

from __future__ import annotations

from collections.abc import Mapping

from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.document.across import check_across
from lxcprov.engine.apply.document.checker import Checker
from lxcprov.engine.apply.document.declared import Declared, declare
from lxcprov.engine.apply.document.expand import expand
from lxcprov.engine.apply.document.problems import Problems
from lxcprov.engine.apply.document.spec import Document, Env
from lxcprov.engine.apply.locate import Where


def parse(raw: Mapping[str, object], where: Where, env: Env) -> Document:
    """The checked document; raises one InvalidArgumentError listing every problem."""
    problems = Problems(where)
    check = Checker(problems, env)
    check.keys(raw, (), F.TOP_FIELDS)
    version = raw.get("version", 1)
    if version != 1 or isinstance(version, bool):  # true == 1 in Python, not in TOML
        problems.add(("version",), f"{version!r} is not a version this lxcprov reads (1)")
    defaults = check.block(raw.get("defaults", {}), ("defaults",), F.CONTAINER_FIELDS) or {}
    profiles: dict[str, dict[str, object]] = {}
    for name, block in _table(raw, "profiles", problems).items():
        checked = check.block(block, ("profiles", name), F.CONTAINER_FIELDS)
        if checked is not None:
            profiles[name] = checked
    declared: list[Declared] = []
    for key, block in _table(raw, "containers", problems).items():
        one = declare(key, block, defaults, profiles, check)
        if one is not None:
            declared.append(one)
    specs = expand(declared, problems, where, env)
    check_across(specs, problems)
    problems.raise_if_any()
    return Document(where.source, tuple(specs))


def _table(raw: Mapping[str, object], key: str, problems: Problems) -> dict[str, object]:
    """raw[key], a table of profiles or of containers (empty when it is something else)."""
    table = raw.get(key, {})
    if not isinstance(table, dict):
        problems.add((key,), f"must be a table of {key}")
        return {}
    return table
