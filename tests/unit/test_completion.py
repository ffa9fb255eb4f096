"""Shell completion never puts a hostile name on the user's command line (issue 22, row 8).

A container's name is a directory in the lxcpath; whoever can make one there (or a
template, or an archive) picks its bytes. On main, `lxcprov start <TAB>` offered every
such name as is: bash inserted `a;touch x` into the command line, zsh evaluated what
lxcprov printed. These tests run the real completion path (`_LXCPROV_COMPLETE`, as the
scripts of `lxcprov completion SHELL` call it), and for bash the shell itself: the
script is sourced, the completion function fills COMPREPLY, and each word is put on a
command line the way a user's Enter would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lxcprov.cli import bashcomplete, complete
from tests.bashline import PROGRAM, REPO, Bash, bash, program_dir

GOOD = ["web1", "web2"]
HOSTILE = [
    "a;touch PWNED1",
    "$(touch PWNED2)",
    "`touch PWNED3`",
    "b\ntouch PWNED4",
    "c'd",
    'e"f',
    "-rf",
    "*",
    "g&&touch PWNED5",
    "h|touch PWNED6",
    "i\\",
    "j k",
    "l>PWNED7",
]


@pytest.fixture
def lxcpath(tmp_path: Path) -> Path:
    path = tmp_path / "lxc"
    for name in GOOD + HOSTILE:
        (path / name).mkdir(parents=True)
        (path / name / "config").write_text("lxc.uts.name = x\n")
    return path


@pytest.fixture
def shell_bin(tmp_path: Path) -> Path:
    """`lxcprov` on PATH: this tree's, run by this interpreter (as the scripts call it)."""
    return program_dir(tmp_path)


def _complete(lxcpath: Path, shell: str, **env: str) -> str:
    full = {**os.environ, "LXCPROV_LXCPATH": str(lxcpath), "_LXCPROV_COMPLETE": shell, **env}
    proc = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


# bash's own default (`echo "$COMP_WORDBREAKS"` in a fresh bash).
BREAKS = " \t\n\"'><=;|&(:"


def test_bash_offers_only_plain_names(lxcpath: Path) -> None:
    out = _complete(lxcpath, "complete_bash", COMP_LINE="lxcprov start ", COMP_WORDBREAKS=BREAKS)
    assert out.strip("\n").split("\n") == GOOD


def test_zsh_and_fish_offer_only_plain_names(lxcpath: Path) -> None:
    """zsh evaluates what lxcprov prints (typer's script: `eval $(...)`): only the plain
    names are in it; fish takes a line per value."""
    args = {"_TYPER_COMPLETE_ARGS": "lxcprov start ", "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    zsh = _complete(lxcpath, "complete_zsh", **args)
    assert zsh == '_arguments \'*: :(("web1"\n"web2"))\'\n'
    fish = _complete(lxcpath, "complete_fish", **args)
    assert fish.strip("\n").split("\n") == GOOD


def test_what_bash_completes_runs_as_the_command_the_user_meant(
    lxcpath: Path, shell_bin: Path, tmp_path: Path
) -> None:
    """The whole way, in a real interactive bash: readline completes `lxcprov start ` with
    every candidate (insert-completions) and the user presses Enter; lxcprov is a shell
    function there that records its arguments. Nothing else may run, and the line that
    ran is `start` with the plain names."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    calls = tmp_path / "calls"
    record = f"python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> {calls}"
    with bash(str(shell_bin), cwd, {"LXCPROV_LXCPATH": str(lxcpath)}) as sh:
        sh.run(f"lxcprov() {{ {record}; }}")  # completion still runs the program (env ...)
        sh.enter("lxcprov start ", Bash.INSERT_ALL)
    assert sorted(os.listdir(cwd)) == [], "a completed name ran a command"
    ran = [json.loads(line) for line in calls.read_text().splitlines()]
    assert ran == [["start", *GOOD]]


def test_snapshot_names_are_offered_only_when_plain(
    lxcpath: Path, shell_bin: Path, tmp_path: Path
) -> None:
    """A snapshot is a directory under the container's; whoever writes there picks its
    name. `restore web1 <TAB>` and `snapshot rm web1 <TAB>` offer the plain ones only,
    in bash (run to the Enter, as above), zsh and fish (review of issue 22, row 10)."""
    for snap in ["before", "s-2", *HOSTILE]:
        (lxcpath / "web1" / "snapshots" / snap).mkdir(parents=True)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    calls = tmp_path / "calls"
    record = f"python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> {calls}"
    with bash(str(shell_bin), cwd, {"LXCPROV_LXCPATH": str(lxcpath)}) as sh:
        assert sh.offered("lxcprov restore web1 ") == ["before", "s-2"]
        assert sh.offered("lxcprov snapshot rm web1 ") == ["before", "s-2"]
        sh.run(f"lxcprov() {{ {record}; }}")
        sh.enter("lxcprov restore web1 ", Bash.INSERT_ALL)
    assert sorted(os.listdir(cwd)) == [], "a completed snapshot name ran a command"
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [
        ["restore", "web1", "before", "s-2"]]  # fmt: skip
    args = {"_TYPER_COMPLETE_ARGS": "lxcprov restore web1 ",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args"}  # fmt: skip
    assert _complete(lxcpath, "complete_zsh", **args) == '_arguments \'*: :(("before"\n"s-2"))\'\n'
    assert _complete(lxcpath, "complete_fish", **args).strip("\n").split("\n") == ["before", "s-2"]


def test_setting_values_complete_in_a_real_bash(
    lxcpath: Path, shell_bin: Path, tmp_path: Path
) -> None:
    """bash splits `memory=` at the `=` (COMP_WORDBREAKS): what readline really does with
    `lxcprov set web1 memory=` and Tab (review of issue 23, row 2). A key completes
    without a space after its `=`, a value in place of bash's word after the `=`."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with bash(str(shell_bin), cwd, {"LXCPROV_LXCPATH": str(lxcpath)}) as sh:
        assert sh.offered("lxcprov set web1 memory=") == ["1G", "256M", "2G", "512M", "none"]
        assert sh.offered("lxcprov set web1 autostart=") == ["no", "yes"]
        assert sh.offered("lxcprov set web1 cpus=0") == ["0.5"]
        assert sh.tab("lxcprov set web1 mem") == "lxcprov set web1 memory="
        assert sh.tab("lxcprov set web1 memory=5") == "lxcprov set web1 memory=512M "
        assert sh.tab("lxcprov set web1 autostart=y") == "lxcprov set web1 autostart=yes "
        assert sh.tab("lxcprov set web1 memory=1G w") == "lxcprov set web1 memory=1G web"
        assert sh.offered("lxcprov set web1 memr") == [], "no key starts so"
        assert "web2" in sh.offered("lxcprov set web1 ")
        assert "memory=" in sh.offered("lxcprov set web1 ")


def test_bash_words_are_the_line_as_typed() -> None:
    """The split lxcprov makes of COMP_LINE, and what of a value bash already holds."""
    assert bashcomplete.words_of("lxcprov set b1 memory=5") == (["set", "b1"], "memory=5")
    assert bashcomplete.words_of("lxcprov set b1 ") == (["set", "b1"], "")
    assert bashcomplete.words_of("lxcprov 'st") == ([], "st")
    line = "lxcprov set b1 memory=5"
    assert bashcomplete.held_by_bash(line, "memory=5", BREAKS) == "memory="
    assert bashcomplete.held_by_bash(line, "memory=5", " ") == ""  # `=` taken out of it
    assert bashcomplete.held_by_bash("lxcprov forward add b1 80:8", "80:8", BREAKS) == "80:"
    assert bashcomplete.replies(["memory=512M", "memory=none", "swap=1G"], "memory=") == [
        "512M", "none"]  # fmt: skip


def test_every_completion_keeps_to_plain_words() -> None:
    assert complete.safe(["web1", "br_0", "lxc.x", "memory=", "ubuntu-cloud"]) == [
        "web1", "br_0", "lxc.x", "memory=", "ubuntu-cloud"]  # fmt: skip
    assert complete.safe([*HOSTILE, "", ".x", "$x", "a\tb", "ä"]) == []
