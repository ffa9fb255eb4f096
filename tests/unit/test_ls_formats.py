"""`ls` output formats (pure): aligned table, CSV, YAML; unsafe names shown, not obeyed."""

from __future__ import annotations

import csv
import io
import json

from lxcprov.cli import table

ROWS: list[dict[str, table.Cell]] = [
    {"name": "web1", "state": "running", "ipv4": ["10.0.3.5"], "ipv6": [], "type": "unprivileged",
     "memory": "512M", "ports": ["8080->80/tcp"]},
    {"name": "db-long-name", "state": "stopped", "ipv4": [], "ipv6": None, "type": "privileged",
     "memory": None, "ports": []},
]  # fmt: skip
COLS = ["name", "state", "ipv4", "memory", "ports"]


def test_table_is_aligned_with_dashes_for_nothing() -> None:
    lines = table.table(ROWS, COLS).splitlines()
    assert lines[0].split() == ["NAME", "STATE", "IPV4", "MEMORY", "PORTS"]
    assert lines[1].split() == ["web1", "running", "10.0.3.5", "512M", "8080->80/tcp"]
    assert lines[2].split() == ["db-long-name", "stopped", "-", "-", "-"]
    # Columns start at the same offset on every line.
    starts = {
        line.index(word) for line, word in zip(lines, ["STATE", "running", "stopped"], strict=True)
    }
    assert len(starts) == 1


def test_csv_has_the_same_columns_and_empty_cells() -> None:
    parsed = list(csv.reader(io.StringIO(table.as_csv(ROWS, COLS))))
    assert parsed[0] == COLS
    assert parsed[2] == ["db-long-name", "stopped", "", "", ""]


def test_yaml_quotes_every_string_and_lists_lists() -> None:
    text = table.as_yaml(ROWS, ["name", "ipv4", "ports"])
    assert text.splitlines()[:3] == ['- name: "web1"', "  ipv4:", '    - "10.0.3.5"']
    assert '- name: "db-long-name"\n  ipv4: []' in text
    assert table.as_yaml([], COLS) == "[]\n"
    # A name YAML would read as a boolean or a number stays a string.
    assert '"yes"' in table.as_yaml([{"name": "yes"}], ["name"])
    assert json.loads(text.splitlines()[0].split(": ", 1)[1]) == "web1"


def test_control_characters_in_a_cell_are_shown_not_sent() -> None:
    out = table.table([{"name": "evil\x1b[2J", "state": "running"}], ["name", "state"])
    assert "\x1b" not in out and "\\x1b[2J" in out
