"""The Ansible `container` module offers every key a container of an apply document has:
a key added to lxcprov's documents (nesting, disk, devices, ...) and forgotten here would
be a setting Ansible users cannot reach."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lxcprov.engine.apply.fields import CONTAINER_FIELDS

MODULE = Path(__file__).resolve().parents[2] / "ansible/plugins/modules/container.py"
# Keys of a document's container that a one-container task has no use for.
NOT_OPTIONS = {"state"}


def _module() -> tuple[set[str], set[str]]:
    tree = ast.parse(MODULE.read_text())
    fields: set[str] = set()
    options: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "FIELDS":
                fields = set(ast.literal_eval(node.value))
            if node.targets[0].id == "DOCUMENTATION":
                # The option names: the keys two spaces in, under `options:`.
                doc = ast.literal_eval(node.value).split("\noptions:\n", 1)[1]
                options = set(re.findall(r"^  ([a-z_]+):", doc, re.M))
    return fields, options


def test_every_container_key_is_an_option_of_the_module_and_documented() -> None:
    fields, options = _module()
    keys = {f.name for f in CONTAINER_FIELDS} - NOT_OPTIONS
    assert keys - fields == set(), "keys of apply documents missing from the module's FIELDS"
    assert fields - keys == set(), "module FIELDS that are no key of a document"
    assert fields <= options, "module FIELDS without a line in DOCUMENTATION"
