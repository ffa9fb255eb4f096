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

from lxcprov.cli import complete

REPO = Path(__file__).resolve().parents[2]
# As the console script runs it (click names the completion variable after argv[0]).
PROGRAM = "import sys; sys.argv[0] = 'lxcprov'; from lxcprov.cli.program import run; run()"
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
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "lxcprov"
    wrapper.write_text(f'#!/bin/sh\ncd {REPO} && exec {sys.executable} -c "{PROGRAM}" "$@"\n')
    wrapper.chmod(0o755)
    return bindir


def _complete(lxcpath: Path, shell: str, **env: str) -> str:
    full = {**os.environ, "LXCPROV_LXCPATH": str(lxcpath), "_LXCPROV_COMPLETE": shell, **env}
    proc = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_bash_offers_only_plain_names(lxcpath: Path) -> None:
    out = _complete(lxcpath, "complete_bash", COMP_WORDS="lxcprov start ", COMP_CWORD="2")
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
    """The whole way: bash sources the script, completes `lxcprov start `, and each word
    it would insert is run as the command line it makes (lxcprov is a function there that
    records its arguments). Nothing else may run, and each line is `start NAME`."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    calls = tmp_path / "calls"
    script = f"""
source <(lxcprov completion bash)
COMP_WORDS=(lxcprov start ""); COMP_CWORD=2
_lxcprov_completion lxcprov
lxcprov() {{ python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> {calls}; }}
for word in "${{COMPREPLY[@]}}"; do
    eval "lxcprov start $word" 2>/dev/null
done
"""
    env = {**os.environ, "LXCPROV_LXCPATH": str(lxcpath),
           "PATH": f"{shell_bin}:{os.environ['PATH']}"}  # fmt: skip
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(cwd)) == [], "a completed name ran a command"
    ran = [json.loads(line) for line in calls.read_text().splitlines()]
    assert ran == [["start", name] for name in GOOD]


def test_every_completion_keeps_to_plain_words() -> None:
    assert complete.safe(["web1", "br_0", "lxc.x", "memory=", "ubuntu-cloud"]) == [
        "web1", "br_0", "lxc.x", "memory=", "ubuntu-cloud"]  # fmt: skip
    assert complete.safe([*HOSTILE, "", ".x", "$x", "a\tb", "ä"]) == []
