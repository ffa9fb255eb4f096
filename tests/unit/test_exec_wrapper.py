"""What `exec` runs inside before the command (ops/attach.py's _EXEC), run here by the
shells containers have (dash; busybox's ash): what exec cannot run is lxcprov's line and
hint with a shell's exit code, never the wrapper's own error with its line number."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lxcprov.ops.attach import _EXEC, EXEC_PATH

PATH = EXEC_PATH.split("=", 1)[1]
SHELLS = [["/bin/sh"]] + ([[str(b), "sh"]] if (b := shutil.which("busybox")) else [])


def _exec(shell: list[str], *command: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": EXEC_PATH.split("=", 1)[1]}
    return subprocess.run([*shell, "-c", _EXEC, "d1", *command], env=env, cwd="/",
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[-1] if len(s) > 1 else s[0])
@pytest.mark.parametrize(
    ("command", "code", "lines"),
    [
        (["cd", "/tmp"], 127, ["error: cd is not a program in d1 (it is part of the shell)",
                               "hint: to run a shell command: lxcprov exec d1 -- sh -c 'cd /tmp'"]),
        (["/etc/passwd"], 126, ["error: /etc/passwd is not a program in d1 (it is not executable)",
                                "hint: a script: lxcprov exec d1 -- sh /etc/passwd; or make it "
                                "executable: chmod +x /etc/passwd"]),
        (["/tmp"], 126, ["error: /tmp is a directory in d1, not a program",
                         "hint: list it with: lxcprov exec d1 -- ls /tmp"]),
        (["nosuchcmd", "-x"], 127, ["error: no such command in d1: nosuchcmd",
                                    "hint: it is on no directory of d1's PATH ("
                                    f"{PATH}): install it there, or give its full path"]),
        (["/no/such"], 127, ["error: no such file in d1: /no/such",
                                  "hint: look for it with: lxcprov exec d1 -- ls -l /no/such"]),
    ],
)  # fmt: skip
def test_what_exec_cannot_run_is_one_line_and_a_hint(
    shell: list[str], command: list[str], code: int, lines: list[str]
) -> None:
    done = _exec(shell, *command)
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (code, lines, "")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[-1] if len(s) > 1 else s[0])
def test_programs_run_as_given_with_their_exit_code(shell: list[str], tmp_path: Path) -> None:
    # echo is a builtin too: the program on PATH is run, as exec always did.
    assert _exec(shell, "echo", "a  b", "*").stdout == "a  b *\n"
    assert _exec(shell, "sh", "-c", "exit 3").returncode == 3
    script = tmp_path / "run me"
    script.write_text('#!/bin/sh\necho "$HOME $USER $#"\n')
    script.chmod(0o755)
    done = _exec(shell, str(script), "x", "y")
    assert (done.returncode, done.stdout, done.stderr) == (0, "/root root 2\n", "")
