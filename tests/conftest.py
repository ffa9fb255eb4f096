"""Shared pytest set-up: recipes and config never come from the host's /etc in tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # No silent skips: every test here, real containers included, must run and pass.
    if _skipped and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nskipped tests are failures in this project: {', '.join(_skipped)}")
