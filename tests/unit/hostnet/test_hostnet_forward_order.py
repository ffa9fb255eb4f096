"""The order of a forward's two writes, the table (forwards.json) and the rules: whatever
point a kill stops it at, a port is never forwarded while `forward ls` does not list it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lxcprov.system.hostnet import api, forwards, settings
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.hostnet.settings import NetSettings

WEB = Forward("web@/l", "tcp", 8080, 80, "10.50.0.5")
SSH = Forward("web@/l", "tcp", 2222, 22, "10.50.0.5")
DB = Forward("db@/l", "tcp", 5432, 5432, "10.50.0.6")

# Each step: ("rules", what the rules forward) or ("table", what it lists), in order.
Steps = list[tuple[str, tuple[Forward, ...]]]


@pytest.fixture
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Steps:
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    settings.save(NetSettings("br9", ipaddress.IPv4Interface("10.50.0.1/24")))
    forwards.write("br9", [WEB, SSH, DB])
    done: Steps = []
    write = forwards.write

    def setup(bridge: str, *, published: Sequence[Forward] | None = None, **_: Any) -> None:
        rules = forwards.read(bridge) if published is None else sorted(published)
        done.append(("rules", tuple(rules)))

    def record(bridge: str, listed: list[Forward]) -> None:
        done.append(("table", tuple(sorted(listed))))
        write(bridge, listed)

    monkeypatch.setattr(api, "setup", setup)
    monkeypatch.setattr(forwards, "write", record)
    monkeypatch.setattr(forwards, "check_host_port", lambda fw: None)
    return done


def _open_but_unlisted(done: Steps) -> list[str]:
    """After each step (a kill may come there), a forwarded port the table does not list."""
    listed, rules, bad = {WEB, SSH, DB}, {WEB, SSH, DB}, []
    for what, now in done:
        listed, rules = (set(now), rules) if what == "table" else (listed, set(now))
        bad += [f"after {what}: {f.label()}" for f in rules - listed]
    return bad


def test_removal_takes_the_rules_away_before_the_table(steps: Steps) -> None:
    assert api.remove_forwards("br9", "web@/l", 8080) == [WEB]
    kept = tuple(sorted((SSH, DB)))
    assert steps == [("rules", kept), ("table", kept)]
    assert _open_but_unlisted(steps) == []


def test_forget_takes_the_rules_away_before_the_table(steps: Steps) -> None:
    api.forget("br9", "web@/l")
    assert steps == [("rules", (DB,)), ("table", (DB,))]
    assert _open_but_unlisted(steps) == []


def test_addition_writes_the_table_before_the_rules(steps: Steps) -> None:
    new = Forward("db@/l", "tcp", 8443, 443, "10.50.0.6")
    api.add_forward("br9", new)
    assert steps == [("table", tuple(sorted((WEB, SSH, DB, new)))),
                     ("rules", tuple(sorted((WEB, SSH, DB, new))))]  # fmt: skip
    assert _open_but_unlisted(steps) == []


def test_a_replaced_forward_is_unpublished_first(steps: Steps) -> None:
    moved = Forward("web@/l", "tcp", 8080, 81, "10.50.0.5")  # the same host port, elsewhere
    api.add_forward("br9", moved)
    assert [what for what, _ in steps] == ["rules", "table", "rules"]
    assert WEB not in steps[0][1] and moved not in steps[0][1]
    assert set(steps[1][1]) == set(steps[2][1]) == {moved, SSH, DB}
    assert _open_but_unlisted(steps) == []


def test_removing_nothing_writes_nothing(steps: Steps) -> None:
    assert api.remove_forwards("br9", "nobody@/l") == []
    assert not api.forget("br9", "nobody@/l")
    assert steps == []
