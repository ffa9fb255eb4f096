"""Forked children (run.fork_call, batch.run_many with in_process): the same exit codes,
streams and stdin as a fresh `python -m lxcprov` child, and a fresh interpreter whenever a
thread would make a fork unsafe."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import threading
import time
from typing import IO

import pytest

from lxcprov.ops import batch
from lxcprov.system import run


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode()


def _wait(proc: run.Forked, seconds: float = 10.0) -> int:
    end = time.monotonic() + seconds
    while proc.poll() is None:
        assert time.monotonic() < end, "the forked child did not end"
        time.sleep(0.01)
    assert proc.returncode is not None
    return proc.returncode


def test_output_exit_code_and_stdin_are_the_childs_own() -> None:
    def child() -> int:
        secret = sys.stdin.read()
        print(f"out {os.getpid()} {secret.strip()}")
        print("err line", file=sys.stderr)
        return 3

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = run.fork_call(child, input_text="pw-123\n", stdout_file=out, stderr_file=err)
        assert _wait(proc) == 3
        assert proc.pid != os.getpid()
        assert _read(out) == f"out {proc.pid} pw-123\n"
        assert _read(err) == "err line\n"


EXITS = [(SystemExit(0), 0), (SystemExit(7), 7), (SystemExit("text"), 1), (SystemExit(None), 0)]


@pytest.mark.parametrize(("raised", "code"), EXITS)
def test_sys_exit_in_the_child_is_its_exit_code(raised: SystemExit, code: int) -> None:
    def child() -> int:
        raise raised

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        assert _wait(run.fork_call(child, stdout_file=out, stderr_file=err)) == code


def test_an_exception_in_the_child_is_exit_1_with_its_traceback() -> None:
    def child() -> int:
        raise RuntimeError("boom in the child")

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        assert _wait(run.fork_call(child, stdout_file=out, stderr_file=err)) == 1
        assert "RuntimeError: boom in the child" in _read(err)


def test_no_stdin_reads_as_empty_and_kill_ends_it() -> None:
    def child() -> int:
        assert sys.stdin.read() == ""
        time.sleep(30)
        return 0

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = run.fork_call(child, stdout_file=out, stderr_file=err)
        time.sleep(0.2)
        proc.kill()
        assert _wait(proc) == -9
        assert "AssertionError" not in _read(err)


def test_run_many_forks_jobs_and_spawns_when_a_thread_runs() -> None:
    seen: list[str] = []

    def here(name: str) -> int:
        print(f"{os.getpid()} {name}")
        seen.append(name)  # in the child: the parent's list never changes
        return 0 if name == "ok" else 5

    jobs = [
        batch.Job(name, [*batch.PYTHON_M, "--no-such-option", name],
                  in_process=functools.partial(here, name))
        for name in ("ok", "bad")
    ]  # fmt: skip
    items = batch.run_many(jobs, lambda _items: None)
    assert [i.returncode for i in items] == [0, 5]
    assert items[0].stdout.split()[1:] == ["ok"]
    assert int(items[0].stdout.split()[0]) != os.getpid()
    assert seen == []

    # With another thread alive the same jobs run their argv in fresh interpreters:
    # `python -m lxcprov --no-such-option ok` is a usage error there (exit 2), not here()'s
    # 0 and 5.
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        items = batch.run_many(jobs, lambda _items: None)
    finally:
        stop.set()
        helper.join()
    assert [i.returncode for i in items] == [2, 2]
    assert "No such option" in items[0].stderr
