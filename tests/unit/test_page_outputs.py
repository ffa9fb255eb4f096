"""The JSON outputs Cockpit's page builds on: ls fields and --watch, templates, new --check,
doctor --fix --only, a password read once from a pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lxcprov.cli import app
from lxcprov.cli.new import shell_command
from lxcprov.ops import guided, listing
from lxcprov.ops.access import Access
from lxcprov.ops.doctor import _only
from lxcprov.ops.doctor.model import Finding, FindingId
from lxcprov.ops.request import NewRequest
from lxcprov.system import lxc


class Done(Exception):
    pass


def test_watch_reports_the_list_now_and_on_each_change_only() -> None:
    a = listing.Row("a", "STOPPED", [], privileged=False, memory="128M", autostart=False)
    up = listing.Row("a", "RUNNING", [], privileged=False, memory="128M", autostart=False)
    leased = listing.Row("a", "RUNNING", ["10.0.3.5"], privileged=False, memory="128M")
    looks = iter([[a], [a], [up], [up], [leased], [], []])
    seen: list[list[listing.Row]] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 7:
            raise Done

    with pytest.raises(Done):
        listing.watch(Path("/x"), seen.append, 0.5, rows=lambda _p: next(looks), sleep=sleep)
    assert seen == [[a], [up], [leased], []]
    assert set(slept) == {0.5}


def test_a_row_says_memory_and_autostart() -> None:
    row = listing.Row("a", "RUNNING", ["10.0.3.5"], privileged=False, memory="128M",
                        autostart=True)  # fmt: skip
    data = row.as_dict()
    assert (data["memory"], data["autostart"], data["privileged"]) == ("128M", True, False)
    assert (data["name"], data["state"], data["ipv4"]) == ("a", "RUNNING", ["10.0.3.5"])


def test_templates_json_lists_what_is_installed_with_releases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lxc, "available_templates", lambda: ["busybox", "debian", "mine"])
    result = CliRunner().invoke(app, ["templates", "--json"])
    assert result.exit_code == 0, result.output
    data = {t["name"]: t for t in json.loads(result.stdout)}
    assert set(data) == {"busybox", "debian"}  # a template no family knows is not offered
    assert data["debian"]["takes_release"] is True
    assert data["debian"]["default_release"] == "bookworm"
    assert "bookworm" in data["debian"]["releases"]
    assert data["busybox"]["takes_release"] is False
    assert data["busybox"]["releases"] == []


def test_new_check_prints_the_command_and_makes_nothing(tmp_path: Path) -> None:
    if not lxc.TEMPLATE_DIR.joinpath("lxc-busybox").is_file():
        pytest.fail("the busybox template is missing: run ./scripts/install")
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    words = ["-P", str(tmp_path / "lxc"), "new", "c1", "-t", "busybox", "--network", "none",
             "--root-password-file", str(pw), "--memory", "64M", "--check", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, words)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {"ok": True, "name": "c1", "command": (
        f"lxcprov new c1 --template busybox --network none --root-password-file {pw} "
        "--memory 64M")}  # fmt: skip
    assert not (tmp_path / "lxc" / "c1").exists()


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--memory", "12x"], 2, "memory=12x: not a size"),
        (["--template", "no-such"], 2, "unknown template"),
        (["--cpus", "0"], 2, "cpus=0: not a CPU count"),
    ],
)
def test_new_check_says_what_is_wrong(
    tmp_path: Path, extra: list[str], code: int, message: str
) -> None:
    words = ["-P", str(tmp_path), "new", "c1", "-t", "busybox", "--network", "none",
             *extra, "--check", "--json"]  # fmt: skip
    result = _lxcprov(*words)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert message in result.stderr  # error: ... and hint: ..., as a page shows them
    assert "hint: " in result.stderr


def test_new_check_needs_one_name_and_a_template(tmp_path: Path) -> None:
    result = _lxcprov("-P", str(tmp_path), "new", "c1", "--check")
    assert result.returncode == 2
    assert "--check and --json-lines take one NAME and --template" in result.stderr


def _lxcprov(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lxcprov", *words], capture_output=True,
                          text=True, check=False, timeout=60)  # fmt: skip


def test_a_piped_password_shows_as_a_placeholder(tmp_path: Path) -> None:
    req = NewRequest("c1", "busybox", tmp_path, network="none",
                     access=Access(Path("/dev/stdin")))  # fmt: skip
    shown = guided.shown_request(req, typed_password=True)
    assert "--root-password-file PASSWORD_FILE" in shell_command(shown)


def test_access_reads_its_files_once(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    access = Access(pw)
    assert access.secrets().root_password == "secret"
    pw.unlink()  # a pipe, once read, is empty: the second ask must not read again
    again = access.secrets()
    assert again.root_password == "secret"
    again.ssh_keys.append("x")
    assert access.secrets().ssh_keys == []


def _finding(id_: FindingId) -> Finding:
    return Finding(id_, "error", "container", "c1", "m", "w", "f")


def test_fix_only_keeps_the_named_findings() -> None:
    found = [_finding("root-locked"), _finding("console-empty"), _finding("root-locked")]
    assert _only(found, ()) == found
    assert [f.id for f in _only(found, ("console-empty",))] == ["console-empty"]
    assert _only(found, ("nothing",)) == []
