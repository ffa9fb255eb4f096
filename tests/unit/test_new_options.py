"""`new`'s options, parsed by the real CLI (typer and click, nothing run): each one lands
in the NewRequest field it names, all of them together too, and a request spelled back as
a command line (guided `new`, `new --check`) parses to the same request."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lxcprov.cli import app, new, newrequest, newrun
from lxcprov.ops.access import Access
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT
from lxcprov.ops.request import NewRequest

LXCPATH = Path("/srv/lxc")

# Options and what each changes in the request of `new c1 -t busybox`.
CASES: list[tuple[list[str], dict[str, Any]]] = [
    ([], {}),
    (["--image", "/img/rootfs.tar.xz"], {"image": "/img/rootfs.tar.xz"}),
    (["--pull"], {"pull": True}),
    (["--release", "trixie"], {"release": "trixie"}),
    (["-r", "trixie"], {"release": "trixie"}),
    (["--network", "none"], {"network": "none"}),
    (["--bridge", "br9"], {"bridge": "br9"}),
    (["--ip", "auto"], {"ip": "auto"}),
    (["--ip", "10.9.0.5/24"], {"ip": "10.9.0.5/24"}),
    (["--root-password-file", "/pw"], {"access": Access(Path("/pw"))}),
    (["--ssh-key", "/k1.pub", "--ssh-key", "/k2.pub"],
     {"access": Access(None, [Path("/k1.pub"), Path("/k2.pub")])}),
    (["--recipe", "hostname", "--recipe", "network"], {"only": ["hostname", "network"]}),
    (["--skip-recipe", "securetty"], {"skip": ["securetty"]}),
    (["--no-start"], {"start": False}),
    (["--dry-run"], {"dry_run": True}),
    (["--keep-on-failure"], {"keep_on_failure": True}),
    (["--boot-timeout", "12.5"], {"boot_timeout": 12.5}),
    (["--no-base"], {"use_base": False}),
    (["--privileged"], {"privileged": True}),
    (["--isolated"], {"isolated": True}),
    (["--force"], {"force": True}),
    (["--memory", "512M"], {"settings": {"memory": "512M"}}),
    (["--swap", "256M"], {"settings": {"swap": "256M"}}),
    (["--cpus", "0-1"], {"settings": {"cpus": "0-1"}}),
    (["--cpu-weight", "200"], {"settings": {"cpu-weight": "200"}}),
    (["--autostart", "yes"], {"settings": {"autostart": "yes"}}),
    (["--nesting"], {"settings": {"nesting": "yes"}}),
    (["--disk", "64M"], {"settings": {"disk": "64M"}}),
    (["--mount", "/srv/www:/var/www:ro", "--mount", "/srv/a:/a"],
     {"mounts": ["/srv/www:/var/www:ro", "/srv/a:/a"]}),
    (["--device", "tun", "--device", "/dev/fuse"], {"devices": ["tun", "/dev/fuse"]}),
    (["--publish", "8080:80", "--publish", "127.0.0.1:53:53/udp"],
     {"publish": ["8080:80", "127.0.0.1:53:53/udp"]}),
    (["--user-data", "/cc.yaml"], {"user_data": "/cc.yaml"}),
    (["--user-data-lenient"], {"user_data_lenient": True}),
    (["--", "--packages=sysvinit-core", "-x"],
     {"template_args": ["--packages=sysvinit-core", "-x"]}),
]  # fmt: skip
# Options that shape how `new` runs, not what it makes (checked below on their own).
NOT_IN_THE_REQUEST = {"--count", "--timings", "--verbose", "--json", "--json-lines", "--check"}


def _expected(changes: dict[str, Any]) -> NewRequest:
    return NewRequest(name="c1", template="busybox", lxcpath=LXCPATH, **changes)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Any:
    """parsed(words) -> [(kind, request, options of the run)] that `lxcprov WORDS` asked
    newrun for: typer and click parse, nothing is made."""
    calls: list[tuple[str, NewRequest, dict[str, Any]]] = []
    monkeypatch.setattr(newrun, "new_one", lambda req, **kw: calls.append(("one", req, kw)))
    monkeypatch.setattr(newrun, "new_many",
                        lambda reqs, **kw: calls.extend(("many", r, kw) for r in reqs))  # fmt: skip

    def parse(words: list[str]) -> list[tuple[str, NewRequest, dict[str, Any]]]:
        calls.clear()
        argv = ["-P", str(LXCPATH), *words]
        monkeypatch.setattr(sys, "argv", ["lxcprov", *argv])  # `--` is found in argv
        result = CliRunner().invoke(app, argv, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return list(calls)

    return parse


@pytest.mark.parametrize(
    ("words", "changes"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_each_option_lands_in_its_field(
    parsed: Any, words: list[str], changes: dict[str, Any]
) -> None:
    calls = parsed(["new", "c1", "-t", "busybox", *words])
    assert [(kind, req) for kind, req, _ in calls] == [("one", _expected(changes))]


def _merged(cases: list[tuple[list[str], dict[str, Any]]]) -> tuple[list[str], NewRequest]:
    """The words of several cases on one command line (template arguments last) and the
    request they make: a later value wins, root access and settings add up."""
    words = [w for case, _ in cases if case[:1] != ["--"] for w in case]
    words += [w for case, _ in cases if case[:1] == ["--"] for w in case]
    changes: dict[str, Any] = {}
    for _, change in cases:
        for key, value in change.items():
            if key == "settings":
                changes[key] = {**changes.get(key, {}), **value}
            elif key == "access" and key in changes:
                have = changes[key]
                changes[key] = Access(value.password_file or have.password_file,
                                      value.ssh_key_files or have.ssh_key_files)  # fmt: skip
            else:
                changes[key] = value
    return words, _expected(changes)


def test_every_option_at_once(parsed: Any) -> None:
    words, expected = _merged(CASES)
    calls = parsed(["new", "c1", "-t", "busybox", *words])
    assert [(kind, req) for kind, req, _ in calls] == [("one", expected)]
    # The settings keep `new --help`'s order (the order `set` applies them in).
    assert list(calls[0][1].settings) == [
        "memory", "swap", "cpus", "cpu-weight", "autostart", "disk", "nesting",
    ]  # fmt: skip


def test_every_pair_of_options(parsed: Any) -> None:
    for first, second in itertools.combinations(CASES[1:], 2):
        words, expected = _merged([first, second])
        calls = parsed(["new", "c1", "-t", "busybox", *words])
        assert [(kind, req) for kind, req, _ in calls] == [("one", expected)], words


def test_the_cases_cover_every_option_new_declares() -> None:
    declared = {max(p.opts, key=len) for p in new._command().params if p.opts[0].startswith("-")}
    tried = {w for words, _ in CASES for w in words[: words.index("--") if "--" in words else None]
             if w.startswith("--")}  # fmt: skip
    # --template is in every case (the request's template).
    assert declared - NOT_IN_THE_REQUEST == tried | {"--template"}
    assert declared >= NOT_IN_THE_REQUEST


@pytest.mark.parametrize(("words", "changes"), [*CASES, (_merged(CASES)[0], None)], ids=str)
def test_a_request_spelled_back_parses_to_itself(
    parsed: Any, words: list[str], changes: dict[str, Any] | None
) -> None:
    [(_, req, _)] = parsed(["new", "c1", "-t", "busybox", *words])
    spelled = newrequest.spell(req, new._command().params)
    assert spelled[:4] == ["new", "c1", "--template", "busybox"]
    [(_, again, _)] = parsed(spelled)
    assert again == req


def test_defaults_are_not_spelled(parsed: Any) -> None:
    [(_, req, _)] = parsed(["new", "c1", "-t", "busybox", "--network", "bridge",
                            "--boot-timeout", f"{DEFAULT_BOOT_TIMEOUT}"])  # fmt: skip
    assert new.shell_command(req) == "lxcprov new c1 --template busybox"


def test_what_only_in_process_callers_set_is_never_spelled_away() -> None:
    for req in (_expected({"mac": "02:00:00:00:00:01"}), _expected({"settings": {"ttys": "2"}})):
        with pytest.raises(ValueError, match="no `new` option"):
            new.shell_command(req)


def test_how_it_runs_is_not_part_of_the_request(parsed: Any) -> None:
    [(kind, req, how)] = parsed(["new", "c1", "-t", "busybox", "--timings", "-v", "--json-lines"])
    assert (kind, req) == ("one", _expected({}))
    assert how == {"dry_run": False, "json_out": False, "timings": True, "verbose": True,
                   "json_lines": True}  # fmt: skip
    many = parsed(["new", "web", "-t", "busybox", "--count", "3", "--json", "--memory", "64M"])
    assert [(kind, req.name) for kind, req, _ in many] == [("many", f"web{i}") for i in (1, 2, 3)]
    assert {r.settings["memory"] for _, r, _ in many} == {"64M"}
    assert many[0][2] == {"json_out": True, "timings": False}
    several = parsed(["new", "a", "b", "-t", "busybox", "--", "--arg"])
    assert [(r.name, r.template_args) for _, r, _ in several] == [
        ("a", ["--arg"]),
        ("b", ["--arg"]),
    ]


def test_check_prints_the_request_as_a_command(
    parsed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lxcprov.ops import guided

    seen: list[NewRequest] = []

    def check(req: NewRequest) -> NewRequest:
        seen.append(req)
        return req

    monkeypatch.setattr(guided, "check", check)
    words = ["-P", str(LXCPATH), "new", "c1", "-t", "busybox", "--no-start", "--memory", "64M",
             "--check", "--json"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["lxcprov", *words])
    result = CliRunner().invoke(app, words, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen == [_expected({"start": False, "settings": {"memory": "64M"}})]
    assert json.loads(result.stdout) == {"ok": True, "name": "c1", "command":
        "lxcprov new c1 --template busybox --no-start --memory 64M"}  # fmt: skip
