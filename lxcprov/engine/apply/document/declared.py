"""One `[containers.KEY]` declaration: its keys checked, then merged over the defaults and
the profiles it `extends` (in order); a later value replaces an earlier one (lists too:
they are never appended). Where each merged value was set is kept for the messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.document.checker import Checker
from lxcprov.engine.apply.document.problems import unknown_profile
from lxcprov.engine.apply.locate import Path as KeyPath


@dataclass
class Declared:
    key: str
    path: KeyPath
    values: dict[str, object]  # merged, checked values
    origins: dict[str, KeyPath]  # value -> where it was set
    count: int | None


def declare(
    key: str,
    block: object,
    defaults: dict[str, object],
    profiles: Mapping[str, dict[str, object]],
    check: Checker,
) -> Declared | None:
    """The declaration at containers.KEY, merged (None when it is not a table)."""
    path: KeyPath = ("containers", key)
    checked = check.block(block, path, (*F.CONTAINER_FIELDS, *F.DECLARATION_FIELDS))
    if checked is None:
        return None
    layers: list[tuple[dict[str, object], KeyPath]] = [(defaults, ("defaults",))]
    extends = checked.pop("extends", ())
    assert isinstance(extends, tuple)
    for i, profile in enumerate(extends):
        if profile not in profiles:
            check.p.add((*path, "extends", i), unknown_profile(profile, list(profiles)))
            continue
        layers.append((profiles[profile], ("profiles", profile)))
    count = checked.pop("count", None)
    assert count is None or isinstance(count, int)  # checked as an integer
    layers.append((checked, path))
    values: dict[str, object] = {}
    origins: dict[str, KeyPath] = {}
    for layer, origin in layers:
        for name, value in layer.items():
            values[name] = value
            origins[name] = (*origin, name)
    return Declared(key, path, values, origins, count)
