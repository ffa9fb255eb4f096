"""The suite in parallel workers (pytest-xdist): what each worker owns, and what the run shares.

Each worker (PYTEST_XDIST_WORKER gw0, gw1, ...) gets its own share of the names and
subnets the real tests make, so two tests on two workers never pick the same bridge or
subnet. Host-wide state (forwarding sysctls, an lxcfs the tests started) is put back once,
at the end of the run, by the process that outlives every worker (tests/conftest.py).
A test that changes host-wide state other tests depend on holds the host alone
(`host_alone`), the others share it; the tests of the packages run on one worker
(HOST_GROUP).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def index() -> int:
    """This worker's number (0 without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


def count() -> int:
    """How many workers the run has (1 without xdist)."""
    return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


# Tests that install and remove the packages (host-wide: /usr/bin/lxcprov, apt's lock) or
# need them installed: one worker runs them, one after another (tests/conftest.py's
# scheduler). A list of node ids, not xdist_group marks: pytest 9.2 drops the node id
# suffix those marks work through, so xdist spreads the "group" (pytest-xdist#1386).
HOST_GROUP = (
    "tests/real/test_package.py::",
    "tests/real/test_demo.py::",
    "tests/real/test_cockpit.py::",
    "tests/real/test_errors.py::test_not_root",
)


def scope_of(nodeid: str) -> str:
    """The unit a worker takes as a whole: the host group, or one test."""
    return "host" if nodeid.startswith(HOST_GROUP) else nodeid


RUN_ENV = "LXCPROV_TEST_RUN"


def run_id() -> str:
    """The id of this run, which all its workers share (tests/conftest.py sets it)."""
    return os.environ.get(RUN_ENV) or f"pid{os.getpid()}"


def _lock_file(name: str, run: str | None = None) -> Path:
    return Path("/run") / f"lxcprov-tests-{run or run_id()}.{name}"


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing drops the lock


@contextlib.contextmanager
def host(alone: bool) -> Iterator[None]:
    """Share the host with the other workers' tests, or (alone) wait until no other test
    runs and keep them waiting. Writer first: a test that wants the host alone closes the
    turnstile, so tests that start later wait behind it instead of starving it."""
    if count() == 1:
        yield
        return
    turnstile, shared = _lock_file("turnstile"), _lock_file("host")
    if alone:
        with _flock(turnstile, fcntl.LOCK_EX), _flock(shared, fcntl.LOCK_EX):
            yield
        return
    with _flock(turnstile, fcntl.LOCK_EX):
        pass
    with _flock(shared, fcntl.LOCK_SH):
        yield


def remove_lock_files(run: str) -> None:
    """The run's lock files, removed by the controller at the end of the run."""
    for name in ("turnstile", "host"):
        with contextlib.suppress(OSError):
            _lock_file(name, run).unlink()
