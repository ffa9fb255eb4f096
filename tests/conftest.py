"""Shared pytest set-up: recipes and config never come from the host's /etc in tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    base = tmp_path_factory.mktemp("lxcprov-config")
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(base / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(base / "state"))
    monkeypatch.delenv("LXCPROV_RECIPES_DIR", raising=False)
    yield
