"""The only place in lxcprov that starts subprocesses.

Commands are argv lists, never shell strings. Output is either captured or streamed
line by line to a callback (the template's output is shown under the progress display,
never lost), and a failure becomes a CommandFailedError that carries the tail of it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from lxcprov.errors import CommandFailedError, MissingDependencyError

# Tail of the output kept for an error message when a streamed command fails.
_TAIL_LINES = 15


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# The Debian package each program lxcprov runs comes in: a missing one's hint names it
# (MissingDependencyError's own hint is about lxc, which is wrong for skopeo or zstd).
_PACKAGES = {
    "skopeo": "skopeo",
    "zstd": "zstd",
    "setpriv": "util-linux",
    "xz": "xz-utils",
    "gzip": "gzip",
    "tar": "tar",
    "cp": "coreutils",
    "dnsmasq": "dnsmasq-base",
    "openssl": "openssl",
    "ssh-keygen": "openssh-client",
    "mkfs.ext4": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "resize2fs": "e2fsprogs",
    "dumpe2fs": "e2fsprogs",
    "losetup": "mount",
    "mount": "mount",
    "umount": "mount",
    "sysctl": "procps",
    "systemctl": "systemd",
}


def install_hint(program: str) -> str:
    """How to get program: its Debian package, LXC's for its lxc-* commands."""
    name = os.path.basename(program)
    if name.startswith("lxc-"):
        return "apt-get install lxc (the lxcprov package depends on it)"
    package = _PACKAGES.get(name)
    if package is None:
        return f"install the Debian package that has {name} (apt-file search bin/{name})"
    return f"apt-get install {package}"


def which(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingDependencyError(f"{program} is not installed", hint=install_hint(program))
    return path


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # Tools we run must speak plain English so we can recognise their messages.
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Result:
    """Run argv to completion with captured output."""
    which(argv[0])
    proc = subprocess.run(
        list(argv),
        input=input_text,
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=timeout,
        check=False,
    )
    result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise CommandFailedError(
            f"{argv[0]} failed with exit code {proc.returncode}: "
            + (proc.stderr.strip().splitlines() or ["(no output)"])[-1],
            hint="command: " + " ".join(argv),
        )
    return result


def output_of(argv: Sequence[str], *, timeout: float) -> Result:
    """Run argv with stdout and stderr as one stream (in the order written), for at most
    timeout seconds. Never raises for the command's own failure: returncode is its exit
    code (-1 when it ran out of time, and was killed) and stdout what it printed."""
    which(argv[0])
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_env(None),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output or b""
        text = out.decode(errors="replace") if isinstance(out, bytes) else out
        return Result(tuple(argv), -1, text + f"\n[killed after {timeout:g} s]\n", "")
    return Result(tuple(argv), proc.returncode, proc.stdout.decode(errors="replace"), "")


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGKILL when lxcprov dies (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _before_exec(then: Callable[[], None] | None) -> None:
    _die_with_parent()
    if then is not None:
        then()


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
    before_exec: Callable[[], None] | None = None,
) -> tuple[int, list[str]]:
    """Run argv, passing each output line (stdout and stderr merged) to on_line.
    before_exec runs in the child before exec (no subprocess, no lock there).

    The command runs in a process group of its own whose id (its pid) goes to on_start
    (for a journal): it dies with lxcprov, and whatever it started can still be found and
    stopped after lxcprov was killed. Returns the exit code and the last lines.
    """
    which(argv[0])
    tail: list[str] = []
    with subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=_env(env),
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
        # preexec_fn runs in the forked child before exec, where a lock another thread
        # held at the fork stays held. Safe here: it streams a template run (lxc.create),
        # and the one thread lxcprov starts (new's closing advice, system/background.py)
        # starts only after lxc-start, once the template has run.
        preexec_fn=functools.partial(_before_exec, before_exec),
    ) as proc:
        try:
            if on_start is not None:
                on_start(proc.pid)
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                del tail[:-_TAIL_LINES]
                on_line(line)
            code = proc.wait()
        except BaseException:
            # Interrupted (Ctrl-C, an error in on_line): the template run stops with us.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _await_group_end(proc, _GROUP_END_SECONDS)
            raise
    return code, tail


# How long an interrupted run's process group gets to be gone. A killed process closes
# its files only as it exits; until then it still holds what it held (the template's own
# lock), and what runs next (the cleanup of its partial cache) would see a run at work.
_GROUP_END_SECONDS = 10.0


def _await_group_end(proc: subprocess.Popen[str], seconds: float) -> None:
    """Wait (at most seconds) until no process of proc's group is left: its leader reaped
    here, the rest by whoever inherited them."""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(seconds)
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # a member we may not signal: not ours to wait for
            return
        time.sleep(0.02)


def replace_process(argv: Sequence[str]) -> None:
    """Replace lxcprov with argv (used to hand the terminal to lxc-console, lxc-attach).

    Every descriptor but stdin, stdout and stderr is closed first: one lxcprov's caller
    left open (a lock file under flock, a host file) would pass through lxc-attach into
    the container, where its root could read or hold it for as long as it likes."""
    path = which(argv[0])
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.execv(path, list(argv))


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    share_stderr: bool = False,
    stdout_file: IO[bytes] | None = None,
    stderr_file: IO[bytes] | None = None,
) -> subprocess.Popen[str]:
    """Start argv in the background with captured output (for many `new`s at once).

    input_text is written to its stdin, which is then closed (a secret-bearing job never
    goes on a command line, where every user could read it); share_stderr leaves its
    stderr on ours, so its progress (and a test's fault point) shows as it happens.
    stdout_file / stderr_file take its output instead of pipes (files never fill up and
    block a child that writes much while nobody reads).
    """
    which(argv[0])
    stderr: int | IO[bytes] | None = subprocess.PIPE
    if share_stderr:
        stderr = None
    elif stderr_file is not None:
        stderr = stderr_file
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL if input_text is None else subprocess.PIPE,
        stdout=stdout_file if stdout_file is not None else subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=_env(env),
    )
    if input_text is not None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died at once: its exit code says why
            proc.stdin.write(input_text)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it again
    return proc


class Forked:
    """A child made by fork_call, with the part of Popen's interface run_many uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def fork_call(
    fn: Callable[[], int],
    *,
    input_text: str | None = None,
    stdout_file: IO[bytes],
    stderr_file: IO[bytes] | None = None,
) -> Forked:
    """Run fn in a forked copy of this process, as spawn runs a command: stdin from
    input_text (else /dev/null), stdout (and stderr unless shared) to the files; fn's
    return value is the exit code. The copy has this process's imports already done,
    which a fresh `python -m lxcprov` pays again (about 0.3 s of CPU per child).

    Only for a process with no other thread (a thread holding a lock at the fork would
    hold it forever in the child): the caller checks.
    """
    read_end, write_end = os.pipe() if input_text is not None else (None, None)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            stdin = read_end if read_end is not None else os.open(os.devnull, os.O_RDONLY)
            os.dup2(stdin, 0)
            os.dup2(stdout_file.fileno(), 1)
            if stderr_file is not None:
                os.dup2(stderr_file.fileno(), 2)
            if write_end is not None:
                os.close(write_end)
            # Fresh stream objects on fds 0-2: the parent's may be a progress display's
            # proxies, or hold what it had buffered.
            sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
            code = fn()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # the child must end here, whatever happened
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
    if read_end is not None and write_end is not None:
        os.close(read_end)
        with contextlib.suppress(BrokenPipeError), os.fdopen(write_end, "w") as pipe:
            pipe.write(input_text or "")  # a password or key: far below a pipe's buffer
    return Forked(pid)


def daemon(argv: Sequence[str]) -> int:
    """Start argv as a daemon of its own (a host service lxcprov starts where no service
    manager does): its own session, no terminal, output discarded, and it outlives
    lxcprov. Returns its pid."""
    path = which(argv[0])
    proc = subprocess.Popen(
        [path, *argv[1:]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd="/",
    )
    return proc.pid
