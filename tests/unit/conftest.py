"""Fixtures for unit tests that look inside synthetic rootfs trees."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcprov.system import openat2


@pytest.fixture(params=["openat2", "walk"])
def lookups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the kernel's openat2 lookups, then with the walk kernels before
    5.6 get: both must keep the same rules."""
    if request.param == "walk":
        monkeypatch.setattr(openat2, "available", lambda: False)
    else:
        assert openat2.available(), "this kernel has openat2 (5.6+): the test needs it"
    return str(request.param)


@pytest.fixture
def disk() -> Iterator[Path]:
    """A directory under /var/tmp, removed after the test: a disk filesystem (xattrs,
    sparse files), where pytest's tmp_path may be a tmpfs; one filesystem for the trees a
    test makes in it (hard links from one to another)."""
    path = Path(tempfile.mkdtemp(prefix="lxcprov-unit-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path)
