"""Shared pytest set-up: recipes and config never come from the host's /etc in tests; the
host-wide state the real tests change is put back once, when the whole run ends."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from lxcprov.system import lxcfs
from tests import workers
from tests.real import seeds
from tests.real.hostnet.hostnet_lab import (
    LimitState,
    forwarding_sysctls,
    kill_pid,
    limit_sysctls,
    processes_mentioning,
    restore_sysctls,
)
from tests.trees import OPENED


@pytest.fixture(autouse=True)
def _private_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    base = tmp_path_factory.mktemp("lxcprov-config")
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(base / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(base / "state"))
    monkeypatch.delenv("LXCPROV_RECIPES_DIR", raising=False)
    yield


@pytest.fixture(autouse=True)
def _close_rootfs() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


_skipped: list[str] = []
# What the controller found on the host before the run (and whether real tests ran).
_found: dict[str, object] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)
    if report.nodeid.startswith("tests/real/"):
        _found["real"] = True  # (under xdist, the controller sees every worker's reports)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # No silent skips: every test here, real containers included, must run and pass.
    # (Under xdist the controller sees every worker's reports.)
    if _skipped and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nskipped tests are failures in this project: {', '.join(_skipped)}")


# -- the host as found, put back once at the end of the run ---------------------------------


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config):
        return
    # The run's id, which the workers inherit (their shared lock files and seeds are named
    # by it): chosen here, so that this process, which outlives them, removes those.
    os.environ.setdefault(workers.RUN_ENV, uuid.uuid4().hex[:12])
    # net setup turns forwarding on (teardown leaves it), tests turn it off: a restore
    # after one test would cut the forwarding of another worker's, so only here.
    _found["sysctls"] = forwarding_sysctls()
    # doctor --fix raises the host limits many containers meet (lxcprov.engine.hostlimits)
    # and keeps them in a file of /etc/sysctl.d: both are put back too.
    _found["limits"] = limit_sysctls()
    # lxcprov starts lxcfs when the host's boot did not (no systemd here): a service it
    # leaves running. The suite leaves the machine as it found it: an lxcfs the tests
    # started is stopped (and its mount removed) once no worker has a container any more.
    _found["lxcfs_running"] = lxcfs.state() == "running"  # a dead mount is restarted


def pytest_unconfigure(config: pytest.Config) -> None:
    # Only after real tests ran (under the machine's lock for them): a run of unit tests
    # alone must not touch what another run's real tests are using.
    if _is_worker(config) or "sysctls" not in _found or not _found.get("real"):
        return
    saved = _found["sysctls"]
    assert isinstance(saved, dict)
    restore_sysctls(saved)
    limits = _found["limits"]
    assert isinstance(limits, LimitState)
    limits.restore()
    if not _found["lxcfs_running"] and lxcfs.state() == "running":
        for pid in processes_mentioning(str(lxcfs.PROGRAM)):
            kill_pid(pid)
        subprocess.run(["umount", "--lazy", str(lxcfs.MOUNT)], capture_output=True, check=False)
    run = os.environ.get(workers.RUN_ENV)
    if run:
        seeds.remove_all(run)
        workers.remove_lock_files(run)


# -- which worker takes which tests, in what order -----------------------------------------

# Real tests that take longest (measured: a minute or more each), started first so that no
# worker is left with one of them at the end while the others are idle; then the other real
# tests, then the unit tests, short ones that fill the gaps. (The scheduler below starts the
# host group, the longest chain, before everything.) Only the order changes.
_SLOW_FIRST = (
    "tests/real/test_archive_fuzz.py",
    "tests/real/test_first_hour.py::test_a_killed_template_run_leaves_no_partial_cache",
    "tests/real/test_docs_examples.py::test_example_runs[README.md:67]",
    "tests/real/test_archive.py::test_export_import_keeps_every_attribute_without_the_base",
    "tests/real/test_first_hour.py::test_sysvinit_with_an_emptied_inittab",
    "tests/real/test_ansible.py",
    "tests/unit/test_fix_fuzz.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for i, prefix in enumerate(_SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return i
        return len(_SLOW_FIRST) + (0 if item.nodeid.startswith("tests/real/") else 1)

    items.sort(key=rank)  # stable: the collection's order within a rank


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """--dist loadgroup, with the groups of tests/workers.py (HOST_GROUP), longest unit
    first (xdist's reorder puts the group, the unit with most tests, before the others)."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class HostGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return workers.scope_of(nodeid)

    return HostGroupScheduling(config, log)
