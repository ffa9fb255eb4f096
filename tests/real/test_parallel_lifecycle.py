"""`stop --all`, `start --all` and the lifecycle commands on several containers run them
at once (bounded), `start --all` a group of one lxc.start.order at a time; killed half-way
or raced, every container is left running or stopped whole, nothing stays locked, and the
same command again finishes the job.

Overlap is seen, never timed: the containers' locks all held at the same instant while
`stop --all` runs, and the start hooks' intervals (LXC runs lxc.hook.pre-start in
lxc-start, as the container starts) crossing each other within a group, and the states
the hooks of a later group see of the group before.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lxcprov.system import locks
from tests.real.harness import Lxc, wait_for_fault

pytestmark = pytest.mark.real

FIRST = ("p1", "p2", "p3")  # lxc.start.order 1
SECOND = ("p4", "p5", "p6")  # lxc.start.order 2
NAMES = FIRST + SECOND

# Each start writes when it begins (and, in the second group, what it sees of the first:
# never of a container that is starting, whose monitor runs this very hook and would not
# answer), waits a moment so that starts at once cross, and writes when it ends.
HOOK = """#!/bin/sh
log={log}
states=""
case "$LXC_NAME" in p4|p5|p6)
  for n in {first}; do
    states="$states $n=$(timeout 10 /usr/bin/lxc-info -P {path} -n $n -sH)"
  done;;
esac
echo "$LXC_NAME begin $(date +%s.%N)$states" >> $log
sleep 1
echo "$LXC_NAME end $(date +%s.%N)" >> $log
"""


def _spawn(lxc: Lxc, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
    env = lxc.env(**({"LXCPROV_FAULT_AT": fault} if fault else {}))
    return subprocess.Popen([sys.executable, "-m", "lxcprov", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _kill_at(lxc: Lxc, fault: str, *args: str) -> str:
    proc = _spawn(lxc, *args, fault=fault)
    seen = wait_for_fault(proc, fault, " ".join(args), 300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return seen


def _states(lxc: Lxc) -> dict[str, str]:
    return {r["name"]: r["state"] for r in json.loads(lxc.cli("ls", "--json").stdout)}


def _settled(lxc: Lxc) -> dict[str, str]:
    """The states once what a killed command began has ended: its lxc-stop and lxc-start
    processes are not its children to kill, they finish their container."""
    for _ in range(120):
        states = _states(lxc)
        if all(s in ("RUNNING", "STOPPED") for s in states.values()):
            return states
        time.sleep(0.5)
    raise AssertionError(f"containers never settled: {states}")


def _whole(lxc: Lxc) -> dict[str, str]:
    """Every container running or stopped, none locked, none half-made, no journal."""
    states = _settled(lxc)
    assert set(states) == set(NAMES)
    for name in NAMES:
        assert locks.busy(lxc.path, name) is None, f"{name} is still locked"
        found = json.loads(lxc.cli("doctor", name, "--json", check=False).stdout)["findings"]
        ids = {f["id"] for f in found}
        assert not ids & {"incomplete-container", "container-busy"}, found
    assert not list((lxc.path / ".lxcprov" / "journal").glob("*.toml"))
    return states


@pytest.fixture
def six(lxcpath: Lxc, tmp_path: Path) -> Lxc:
    lxcpath.cli("new", "p", "--count", "6", "-t", "busybox", "--network", "none")
    lxcpath.cli("set", "p*", "autostart=yes")
    hook = tmp_path / "hook.sh"
    hook.write_text(HOOK.format(log=tmp_path / "starts.log", first=" ".join(FIRST),
                                path=lxcpath.path))  # fmt: skip
    hook.chmod(0o755)
    for name in NAMES:
        config = lxcpath.path / name / "config"
        order = 1 if name in FIRST else 2
        config.write_text(config.read_text() + f"lxc.start.order = {order}\n"
                          f"lxc.hook.pre-start = {hook}\n")  # fmt: skip
    return lxcpath


def _starts(log: Path) -> dict[str, tuple[float, float, str]]:
    """name -> (began, ended, the first group's states it saw), from the hooks' log."""
    began: dict[str, tuple[float, str]] = {}
    ended: dict[str, float] = {}
    for line in log.read_text().splitlines():
        name, what, at, *seen = line.split()
        if what == "begin":
            began[name] = (float(at), " ".join(seen))
        else:
            ended[name] = float(at)
    return {n: (began[n][0], ended[n], began[n][1]) for n in began}


def _crossed(starts: dict[str, tuple[float, float, str]], names: tuple[str, ...]) -> bool:
    """Whether those starts were all under way at one instant."""
    return max(starts[n][0] for n in names) < min(starts[n][1] for n in names)


def test_stop_all_and_start_all_run_at_once_in_order_groups(six: Lxc, tmp_path: Path) -> None:
    stopping = _spawn(six, "stop", "--all")
    most = 0
    while stopping.poll() is None:
        most = max(most, sum(locks.busy(six.path, n) is not None for n in NAMES))
        time.sleep(0.02)
    _, err = stopping.communicate()
    assert stopping.returncode == 0, err
    assert most == len(NAMES), f"at most {most} stopped at once:\n{err}"
    assert all(f"{n} is STOPPED" in err for n in NAMES), err
    assert set(_states(six).values()) == {"STOPPED"}

    log = tmp_path / "starts.log"
    log.unlink(missing_ok=True)
    started = six.cli("start", "--all", "--json")
    shape = json.loads(started.stdout)
    assert shape["ok"] and {c["name"]: c["status"] for c in shape["containers"]} == dict.fromkeys(
        NAMES, "started"
    )
    assert set(_states(six).values()) == {"RUNNING"}
    starts = _starts(log)
    assert set(starts) == set(NAMES)
    assert _crossed(starts, FIRST) and _crossed(starts, SECOND), starts
    # A later group begins only when the one before is running.
    assert max(starts[n][1] for n in FIRST) < min(starts[n][0] for n in SECOND), starts
    for name in SECOND:
        assert starts[name][2] == " ".join(f"{n}=RUNNING" for n in FIRST), starts[name]

    # Several names: at once too (the second group, stopped then started by name).
    six.cli("stop", *SECOND)
    log.unlink()
    again = six.cli("start", *SECOND)
    assert all(f"{n} is RUNNING" in again.stderr for n in SECOND), again.stderr
    assert _crossed(_starts(log), SECOND), _starts(log)


def test_stop_all_killed_half_way_then_finished(six: Lxc) -> None:
    _kill_at(six, "next-container", "stop", "--all")  # one has stopped, the others go on
    states = _whole(six)
    assert "STOPPED" in states.values()
    finished = six.cli("stop", "--all")
    assert "Traceback" not in finished.stderr
    assert set(_states(six).values()) == {"STOPPED"}
    _whole(six)


def test_start_all_killed_half_way_then_finished(six: Lxc) -> None:
    six.cli("stop", "--all")
    # Between the two groups: the first is running whole, the second not begun.
    _kill_at(six, "next-start-group", "start", "--all")
    states = _whole(six)
    assert states == {n: ("RUNNING" if n in FIRST else "STOPPED") for n in NAMES}
    finished = six.cli("start", "--all")
    assert all(f"{n}: already running" in finished.stderr for n in FIRST), finished.stderr
    assert set(_states(six).values()) == {"RUNNING"}

    # Within a group: one has started, the others are under way when the kill lands.
    six.cli("stop", "--all")
    _kill_at(six, "next-container", "start", "--all")
    _whole(six)
    six.cli("start", "--all")
    assert set(_whole(six).values()) == {"RUNNING"}


def test_stop_all_raced_by_start_of_one(six: Lxc) -> None:
    for _round in range(3):
        stopping = _spawn(six, "stop", "--all")
        starting = _spawn(six, "start", "p1")
        for proc in (stopping, starting):
            code = proc.wait(300)
            _, err = proc.communicate()
            assert "Traceback" not in err
            # The start may come first and be stopped while it boots: it says so, by name.
            named = f"stopped while booting: lxcprov stop (pid {stopping.pid})"
            assert code == 0 or (proc is starting and named in err), err
        states = _whole(six)
        assert all(states[n] == "STOPPED" for n in NAMES[1:]), states
        six.cli("start", "--all")
