"""Container.handle when liblxc cannot load a config: short of file descriptors, it is
tried once more without the stderr sifting's two, and else said as that, never as a
broken config (outside review: `ulimit -n 9; lxcprov ls` showed a healthy container
BROKEN, with a hint to destroy it)."""

from __future__ import annotations

import resource
import types
from pathlib import Path
from typing import Any

import pytest

from lxcprov.errors import ContainerConfigError, LxcprovError
from lxcprov.system import lxc


class _Liblxc:
    """python3-lxc that fails the first `fails` opens, as liblxc does out of files."""

    def __init__(self, fails: int) -> None:
        self.fails, self.opens = fails, 0

    def Container(self, name: str, lxcpath: str) -> Any:  # python3-lxc names it so
        self.opens += 1
        if self.opens <= self.fails:
            raise RuntimeError("Container does not exist")
        return types.SimpleNamespace(name=name, defined=True)


@pytest.fixture
def container(tmp_path: Path) -> lxc.Container:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "config").write_text("lxc.uts.name = web\n")
    return lxc.Container("web", tmp_path)


def _use(monkeypatch: pytest.MonkeyPatch, fake: _Liblxc, short: str) -> None:
    monkeypatch.setattr(lxc, "module", lambda: fake)
    monkeypatch.setattr(lxc, "_descriptors_short", lambda: short)


def test_short_of_descriptors_it_is_opened_again_without_the_sifting(
    container: lxc.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _Liblxc(fails=1)
    _use(monkeypatch, fake, "only 3 free of 12")
    assert container.handle.defined
    assert fake.opens == 2


def test_short_of_descriptors_for_good_it_says_so(
    container: lxc.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, _Liblxc(fails=99), "only 1 free of 7")
    with pytest.raises(LxcprovError) as raised:
        _ = container.handle
    assert not isinstance(raised.value, ContainerConfigError)
    assert "short of file descriptors (only 1 free of 7)" in raised.value.message
    assert "ulimit -n" in (raised.value.hint or "")


def test_with_descriptors_to_spare_a_config_liblxc_refuses_is_its_config(
    container: lxc.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, _Liblxc(fails=99), "")
    with pytest.raises(ContainerConfigError):
        _ = container.handle


def test_descriptors_short_counts_against_the_soft_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (10, 4096))
    assert lxc._descriptors_short().endswith(" free of 10")
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1 << 20, 1 << 20))
    assert lxc._descriptors_short() == ""


def test_a_failed_starts_first_error_is_its_own_not_an_earlier_starts(tmp_path: Path) -> None:
    """LXC appends to the start log: the reason given is the first ERROR this start wrote."""
    log = tmp_path / "lxcprov-start.log"
    old = "lxc-start web 20261207 ERROR conf - conf.c:1: Unsupported config key\n"
    log.write_text(old)
    begun = log.stat().st_size
    with log.open("a") as f:
        f.write("lxc-start web 20261207 INFO start - start.c:2: starting\n")
        f.write("lxc-start web 20261207 ERROR cgfsng - cgfsng.c:3: Failed to initialize cgroups\n")
    assert lxc._first_error(log, begun) == "Failed to initialize cgroups"
    assert lxc._first_error(log) == "Unsupported config key"
    assert lxc._first_error(tmp_path / "missing", 0) == ""
