"""docs/apply.schema.json is the fields table written out, and a real JSON Schema validator
agrees with lxcprov's own checker on what a valid document is (the examples of
docs/apply.md included)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

from lxcprov.engine.apply import schema
from lxcprov.errors import InvalidArgumentError
from tests.unit.apply.docs import parse

REPO = Path(__file__).resolve().parents[3]
SCHEMA_FILE = REPO / "docs" / "apply.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_schema_file_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text() == schema.text(), (
        "regenerate it: .venv/bin/python -m lxcprov.engine.apply.schema > docs/apply.schema.json"
    )
    jsonschema.Draft202012Validator.check_schema(schema.schema())


def _examples() -> list[str]:
    text = (REPO / "docs" / "apply.md").read_text()
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def test_the_documentation_examples_are_valid_for_both() -> None:
    examples = _examples()
    assert len(examples) >= 3
    for example in examples:
        raw = tomllib.loads(example)
        VALIDATOR.validate(raw)
        try:
            parse(example)
        except InvalidArgumentError as exc:
            # Only what needs a host may fail here (files the example names).
            assert all("cannot read" in d for d in exc.details or [exc.message]), exc.details


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ('[containers.a]\ntemplate = "busybox"\n', True),
        ('[containers.a]\nmemory = 536870912\ncpus = 0.5\n', True),
        ('[containers.a]\ncpus = "0-1"\nttys = 2\n', True),
        ('[containers.a]\nmounts = ["/a:/b", { source = "/c", target = "/d", ro = true }]\n', True),
        ('[containers.a]\nfirst_boot = ["x", { run = "y", timeout = 9 }]\n', True),
        ('[containers.w]\ncount = 3\nextends = "p"\n[profiles.p]\ncpus = 1\n', True),
        ('[containers.a]\nimage = "/srv/rootfs.tar"\n', True),
        ('[containers.a]\nimage = ["/srv/rootfs.tar"]\n', False),
        ('[containers.a]\nmemroy = "1G"\n', False),
        ('[containers.a]\nttys = "2"\n', False),
        ('[containers.a]\nttys = 64\n', False),
        ('[containers.a]\nautostart = "yes"\n', False),
        ('[containers.a]\nstate = "up"\n', False),
        ('[containers.a]\ngroups = ["bad-name"]\n', False),
        ('[containers.a]\nmounts = [{ source = "/c" }]\n', False),
        ('[[containers.a.files]]\npath = "/x"\n', False),
        ('[[containers.a.files]]\npath = "/x"\ncontent = "a"\nsource = "b"\n', False),
        ('[[containers.a.files]]\npath = "/x"\ncontent = "a"\nmode = "9"\n', False),
        ('[containers.a]\nfirst_boot = [{ timeout = 3 }]\n', False),
        ('[profiles.p]\ncount = 2\n', False),
        ('version = 2\n', False),
        ('[containres.a]\n', False),
    ],
)  # fmt: skip
def test_schema_and_checker_agree(text: str, valid: bool) -> None:
    raw = tomllib.loads(text)
    schema_says = VALIDATOR.is_valid(raw)
    try:
        parse(text)
        checker_says = True
    except InvalidArgumentError:
        checker_says = False
    assert (schema_says, checker_says) == (valid, valid)
