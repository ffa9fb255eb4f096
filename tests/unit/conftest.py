"""Fixtures for unit tests that look inside synthetic rootfs trees."""

from __future__ import annotations

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
