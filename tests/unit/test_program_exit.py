"""The program's quick exit (lxcprov.cli.program): the same exit codes and output as a
normal interpreter exit, atexit callbacks included; only the teardown is skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--version"], 0), (["nosuch"], 2), (["show"], 2), (["completion", "tcsh"], 2)],
)
def test_exit_codes_and_output_are_those_of_main(argv: list[str], code: int) -> None:
    fast = subprocess.run(
        [sys.executable, "-m", "lxcprov", *argv], capture_output=True, text=True, timeout=60
    )
    # The same command through main() and a normal interpreter exit.
    slow = _python("import sys; sys.argv[0] = 'lxcprov'; from lxcprov.cli import main; main()",
                   *argv)  # fmt: skip
    assert fast.returncode == slow.returncode == code
    assert (fast.stdout, fast.stderr) == (
        slow.stdout,
        slow.stderr.replace("lxcprov", "python -m lxcprov"),
    )


def test_long_output_is_whole_and_atexit_callbacks_run() -> None:
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('ATEXIT-RAN', file=sys.stderr))\n"
        "sys.argv = ['lxcprov', '--help']\n"
        "from lxcprov.cli.program import run\n"
        "run()\n"
    )
    done = _python(code)
    whole = _python("import sys; sys.argv = ['lxcprov', '--help']\n"
                    "from lxcprov.cli import main; main()")  # fmt: skip
    # Shorter than stdout's buffer to a pipe (8 KiB): only the explicit flush writes it.
    assert done.returncode == 0 and done.stdout == whole.stdout and len(done.stdout) > 1000
    assert done.stderr.strip() == "ATEXIT-RAN"


@pytest.mark.parametrize(
    ("value", "status", "stderr"), [("None", 0, ""), ("3", 3, ""), ("'bad'", 1, "bad\n")]
)
def test_exit_now_reads_the_code_as_system_exit_does(value: str, status: int, stderr: str) -> None:
    done = _python(f"from lxcprov.cli.program import exit_now; exit_now({value})")
    normal = _python(f"raise SystemExit({value})")
    assert done.returncode == normal.returncode == status
    assert done.stderr == normal.stderr == stderr


@pytest.mark.parametrize("closed", ["<&-", ">&-", "2>&-"])
def test_a_closed_standard_stream_is_dev_null_not_a_traceback(closed: str) -> None:
    """`lxcprov new <&-` (review 24): Python leaves sys.stdin None, and the next file
    lxcprov opened would have taken fd 0."""
    script = f"exec {sys.executable} -m lxcprov new {closed}; "
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    if closed != "2>&-":
        assert proc.stderr.startswith("error: missing NAME and --template"), proc.stderr


def test_a_spelled_timeout_is_the_one_asked() -> None:
    from lxcprov.cli import newrequest

    assert [newrequest._number(v) for v in (1e8, 120.0, 1.5, 0.1)] == [
        "100000000", "120", "1.5", "0.1"
    ]  # fmt: skip


def test_an_archive_for_a_closed_stdout_is_refused_not_lost(tmp_path: Path) -> None:
    """`export NAME - >&-` said "exported" while the archive went to /dev/null (review 24b)."""
    script = f"LXCPROV_LXCPATH={tmp_path} exec {sys.executable} -m lxcprov export x - >&-"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: stdout is closed: the archive would be lost"), proc.stderr
