"""Found by the second review of issue 24 (each failed before its fix): new-worker's JSON
is never a traceback, a Ctrl-C while the freezer waits never leaves the container frozen,
and a start names the command that stopped it, never one that only held the lock."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lxcprov.errors import InvalidArgumentError, StartFailedError
from lxcprov.ops import lifecycle
from lxcprov.ops import new as ops_new
from lxcprov.ops.request import NewRequest
from lxcprov.system import freezer

_HEAD = '{"name": "a", "template": "busybox", "lxcpath": "/var/tmp/x", "network": "none", '


@pytest.mark.parametrize(
    "text",
    [
        _HEAD + '"boot_timeout": ' + "9" * 5000 + "}",  # F1: int over 4300 digits
        _HEAD + '"settings": ' + "[" * 100000 + "]" * 100000 + "}",  # F2: deep nesting
    ],
    ids=["huge-int", "deep"],
)
def test_json_python_refuses_is_one_line(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not a request of lxcprov new"):
        NewRequest.from_json(text)


def test_an_int_timeout_too_big_for_a_float_is_refused_in_one_line() -> None:
    # F3: passes from_json as a number, then math.isfinite raised OverflowError.
    with pytest.raises(InvalidArgumentError):
        ops_new._validate(NewRequest.from_json(_HEAD + '"boot_timeout": 1' + "0" * 400 + "}"))


def test_a_duplicate_field_is_refused() -> None:
    # F4: the last "name" won silently.
    with pytest.raises(InvalidArgumentError):
        NewRequest.from_json(_HEAD + '"name": "b"}')


@dataclass
class _Handle:
    written: list[tuple[str, str]] = field(default_factory=list)

    def set_cgroup_item(self, key: str, value: str) -> bool:
        self.written.append((key, value))
        return True

    def get_cgroup_item(self, key: str) -> str:
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM, unwound alike) while it waits


@dataclass
class _Container:
    handle: _Handle
    name: str = "c1"

    def running(self) -> bool:
        return True


def test_ctrl_c_while_waiting_for_the_freeze_thaws(monkeypatch: pytest.MonkeyPatch) -> None:
    # F6: freeze() runs before frozen()'s try, so its finally never thaws.
    monkeypatch.setattr(freezer, "_v2", lambda: True)
    handle = _Handle()
    with pytest.raises(KeyboardInterrupt), freezer.frozen(_Container(handle)):  # type: ignore[arg-type]
        pass
    assert handle.written[-1] == ("cgroup.freeze", "0"), handle.written


@dataclass
class _Stopped:
    lxcpath: Path
    name: str = "c1"

    def state(self) -> str:
        return "STOPPED"


def test_a_lock_holder_that_stopped_nothing_is_not_named(tmp_path: Path) -> None:
    # F11: a raw lxc-stop while `lxcprov set` holds the lock: the start named `set`.
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\nfrom pathlib import Path\nfrom lxcprov.system import locks\n"
            f"with locks.container(Path({str(tmp_path)!r}), 'c1', 'set'):\n"
            "    print('held', flush=True); time.sleep(0.5)\n"
        )],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    started = lifecycle.Started("RUNNING", [], at=time.time() - 5)
    with pytest.raises(StartFailedError) as caught:
        lifecycle._after_stop_meanwhile(_Stopped(tmp_path), started, "start")  # type: ignore[arg-type]
    holder.wait(10)
    assert "lxcprov set" not in caught.value.message, caught.value.message
    assert "another command stopped it" in caught.value.message
