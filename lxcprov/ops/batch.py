"""Many `new`s at once: each in its own process (a fork of this one handed the request
object, or a fresh `python -m lxcprov` handed its JSON on stdin), so one failure spoils
nothing.

The first of them to need a base builds it (under the base's lock) while the others
wait for it; static addresses come from the bridge's locked address book, so they never
collide however many run at the same time.
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from lxcprov.engine import hostlimits
from lxcprov.errors import InvalidArgumentError
from lxcprov.ops import limits
from lxcprov.ops.request import NewRequest
from lxcprov.system import run


@dataclass
class Item:
    name: str
    state: str = "waiting"  # waiting, running, done, failed
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""


# A fresh lxcprov: this interpreter (the package's private virtualenv, or a venv), isolated
# (-I) as the installed command's launcher is: `-m` puts no current directory first on
# the import path (a root command run from a directory holding someone else's `lxcprov/`
# must not import it), and PYTHONPATH, PYTHONHOME, PYTHONSTARTUP and the user's site
# directory ($HOME/.local, usercustomize) reach no root child. The venv's own
# site-packages are found without the environment.
PYTHON_M = (sys.executable, "-I", "-m", "lxcprov")


@dataclass(frozen=True)
class Child:
    """How one child makes one request, given by the CLI (which owns the command line and
    the rendering): run(request) in a fork of this process, else argv, a fresh lxcprov
    that reads the request's JSON (NewRequest.to_json) on stdin."""

    run: Callable[[NewRequest], int]
    argv: list[str]


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    return lines[-1].removeprefix("error:").strip() if lines else stderr.strip()[-300:]


def new_many(
    reqs: list[NewRequest],
    on_update: Callable[[list[Item]], None],
    *,
    jobs: int = 16,
    warn: Callable[[str], None] = lambda _msg: None,
    child: Child,
) -> list[Item]:
    """One child per request, at most jobs at a time: a fork of this process that runs
    child.run(request) (its imports done already: about 0.3 s of CPU less per child), or,
    while another thread runs, child.argv with the request's JSON on stdin. Each child
    reports its outcome as JSON on stdout."""
    if len({r.name for r in reqs}) != len(reqs):
        raise InvalidArgumentError("the same container name is given twice")
    static = [r.ip for r in reqs if r.ip and r.ip != "auto"]
    if static:
        raise InvalidArgumentError(
            "one static --ip for several containers", hint="use --ip auto, or one new per address"
        )
    limits.refuse_what_cannot_fit(reqs, warn)  # before anything is made

    def judge(item: Item) -> None:
        if item.returncode == 0:
            item.state = "done"
            item.result = json.loads(item.stdout)
        else:
            item.state = "failed"
            item.error = _error_line(item.stderr)

    todo = [
        Job(r.name, child.argv, stdin=r.to_json(), in_process=functools.partial(child.run, r))
        for r in reqs
    ]
    return run_many(todo, on_update, jobs=jobs, judge=judge)


def warn_inotify(coming: int, warn: Callable[[str], None]) -> None:
    """Say so when more systemd containers are coming than root's inotify instances let
    boot (apply makes them anyway: a document is not refused for a host limit)."""
    found = hostlimits.refusal(limits.host_use(), None, hostlimits.Coming(coming, "systemd"))
    if found is not None:
        warn(f"{found.message}; {found.hint}")


def _read(file: IO[bytes] | None) -> str:
    if file is None:
        return ""
    file.seek(0)
    return file.read().decode(errors="replace")


@dataclass(frozen=True)
class Job:
    """One lxcprov child process: its name (for progress), command line and stdin, and
    what a fork of this process runs instead (the same work, its data already here)."""

    name: str
    argv: list[str]
    stdin: str | None = None
    in_process: Callable[[], int] | None = None  # its return value is the exit code

    def start(
        self, share_stderr: bool, stdout: IO[bytes], stderr: IO[bytes] | None
    ) -> subprocess.Popen[str] | run.Forked:
        # A fork only with no other thread in this process: a thread holding a lock at
        # that moment (a progress display's, a stream's) would hold it forever there.
        # The fork has its data already: its stdin is /dev/null, as a child's was when
        # it got its request as flags (a password file /dev/stdin reads as empty there).
        if self.in_process is not None and threading.active_count() == 1:
            return run.fork_call(self.in_process, stdout_file=stdout, stderr_file=stderr)
        return run.spawn(self.argv, input_text=self.stdin, share_stderr=share_stderr,
                         stdout_file=stdout, stderr_file=stderr)  # fmt: skip


def run_many(
    todo: list[Job],
    on_update: Callable[[list[Item]], None],
    *,
    jobs: int = 16,
    share_stderr: bool = False,
    judge: Callable[[Item], None] = lambda _item: None,
) -> list[Item]:
    """Run the jobs, at most `jobs` at a time; each item gets its exit code and output.

    judge(item) sees each one as it ends (state "done" until it says otherwise), so a
    progress display counts failures as they happen.
    """
    items = [Item(j.name) for j in todo]
    running: dict[int, tuple[Any, float, IO[bytes], IO[bytes] | None]] = {}
    pending = list(range(len(todo)))
    with contextlib.ExitStack() as files:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                i = pending.pop(0)
                # Output goes to files, not pipes: a child that writes much never blocks
                # on a pipe nobody reads while we wait for it to end.
                stdout = files.enter_context(tempfile.TemporaryFile())
                stderr = None if share_stderr else files.enter_context(tempfile.TemporaryFile())
                proc = todo[i].start(share_stderr, stdout, stderr)
                running[i] = (proc, time.monotonic(), stdout, stderr)
                items[i].state = "running"
            on_update(items)
            time.sleep(0.1)
            for i, (proc, started, out_file, err_file) in list(running.items()):
                if proc.poll() is None:
                    continue
                items[i].seconds = time.monotonic() - started
                items[i].returncode = proc.returncode
                items[i].stdout, items[i].stderr = _read(out_file), _read(err_file)
                items[i].state = "done"
                judge(items[i])
                del running[i]
    on_update(items)
    return items
