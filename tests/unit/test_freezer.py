"""freezer.freeze's wait for the tasks to freeze: a failed read of the freezer's state is
"not frozen yet", never a traceback (python3-lxc raised ValueError under load in CI)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lxcprov.errors import LxcprovError
from lxcprov.system import freezer


@dataclass
class _Handle:
    """liblxc's cgroup calls as python3-lxc gives them: reads fail `fails` times first."""

    fails: int
    error: type[Exception]
    written: list[tuple[str, str]] = field(default_factory=list)

    def set_cgroup_item(self, key: str, value: str) -> bool:
        self.written.append((key, value))
        return True

    def get_cgroup_item(self, key: str) -> str:
        if self.fails:
            self.fails -= 1
            raise self.error("Unable to read config value")
        return "frozen 1\n" if key == "cgroup.events" else "FROZEN"


@dataclass
class _Container:
    handle: _Handle
    name: str = "c1"

    def running(self) -> bool:
        return True


@pytest.mark.parametrize("error", [ValueError, KeyError])
@pytest.mark.parametrize("v2", [True, False])
def test_a_failed_read_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception], v2: bool
) -> None:
    monkeypatch.setattr(freezer, "_v2", lambda: v2)
    handle = _Handle(fails=3, error=error)
    freezer.freeze(_Container(handle))  # type: ignore[arg-type]
    assert handle.fails == 0 and len(handle.written) == 1  # frozen, not thawed


def test_reads_that_never_succeed_thaw_it_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(freezer, "_v2", lambda: False)
    monkeypatch.setattr(freezer, "_WAIT", 0.05)
    handle = _Handle(fails=10**9, error=ValueError)
    with pytest.raises(LxcprovError, match="could not be frozen"):
        freezer.freeze(_Container(handle))  # type: ignore[arg-type]
    assert handle.written == [("freezer.state", "FROZEN"), ("freezer.state", "THAWED")]
