"""`stats`, `top`, `ls --columns memory_used,cpu_percent` and `show` on real containers:
what a container does inside shows in what lxcprov reads from outside."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import bridge as netbridge

pytestmark = pytest.mark.real

BUSYBOX = ["-t", "busybox", "--network", "none"]
MiB = 1 << 20


def _new(lxc: Lxc, name: str, pw: Path, *args: str) -> None:
    lxc.cli("new", name, "--root-password-file", str(pw), *(args or BUSYBOX))


def _stats(lxc: Lxc, *args: str) -> dict[str, dict[str, Any]]:
    out = lxc.cli("stats", "--json", *args).stdout
    return {s["name"]: s for s in json.loads(out)}


def _exec(lxc: Lxc, name: str, script: str) -> str:
    return lxc.cli("exec", name, "--", "sh", "-c", script).stdout


def test_memory_filled_in_a_tmpfs_shows_and_a_stopped_one_says_so(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    _new(lxcpath, "st1", password_file[0])
    _new(lxcpath, "st2", password_file[0], *BUSYBOX, "--no-start")
    # the tmpfs mounted and dd run once first: the reading before has their pages too
    fill = "dd if=/dev/zero of=/mnt/fill/f bs=1048576 count={} 2>/dev/null"
    _exec(lxcpath, "st1", "mkdir -p /mnt/fill && mount -t tmpfs -o size=100m tmpfs /mnt/fill && "
          + fill.format(0))  # fmt: skip
    before = _stats(lxcpath, "--interval", "0")
    assert set(before) == {"st1", "st2"}, "every container when none is named"
    used0 = before["st1"]["memory"]["used"]
    assert isinstance(used0, int) and used0 > 0
    _exec(lxcpath, "st1", fill.format(64))
    after = _stats(lxcpath, "st1", "--interval", "0")["st1"]
    # The working set leaves out file cache the kernel may drop, and between two readings
    # it may count a few of the container's cached pages as droppable: 256K of slack.
    assert after["memory"]["used"] >= used0 + 64 * MiB - 256 * 1024, (used0, after["memory"])
    assert after["pids"] >= 1 and after["uptime"] > 0
    assert after["disk"]["used"] > 0, "its rootfs (or its clone's upper layer) has files"
    assert after["state"] == "RUNNING"

    stopped = lxcpath.cli("stats", "st2")
    assert stopped.returncode == 0
    assert "st2: not running: nothing to measure but its disk" in stopped.stderr
    data = _stats(lxcpath, "st2")["st2"]
    assert data["state"] == "STOPPED" and data["memory"]["used"] is None
    assert data["cpu"] == {"seconds": None, "percent": None} and data["disk"]["used"] > 0

    # ls and show measure the same, when asked
    rows = json.loads(lxcpath.cli("ls", "--json", "--columns", "name,memory_used").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["st1"]["memory_used"] >= 64 * MiB and by_name["st2"]["memory_used"] is None
    assert "memory_used" not in json.loads(lxcpath.cli("ls", "--json").stdout)[0], (
        "measured only when asked"
    )
    table = lxcpath.cli("ls", "--columns", "name,memory_used,cpu_percent").stdout
    assert table.splitlines()[0].split() == ["NAME", "MEMORY_USED", "CPU_PERCENT"]
    shown = json.loads(lxcpath.cli("show", "st1", "--json").stdout)["usage"]
    assert shown["memory"]["used"] >= 64 * MiB and shown["cpu"]["percent"] is not None
    assert "usage" in lxcpath.cli("show", "st1").stdout


def test_a_busy_loop_is_about_one_core(lxcpath: Lxc, password_file: tuple[Path, str]) -> None:
    _new(lxcpath, "cpu1", password_file[0])
    _exec(lxcpath, "cpu1", "yes >/dev/null 2>&1 &")  # one busy process
    seconds0 = _stats(lxcpath, "cpu1", "--interval", "0")["cpu1"]["cpu"]["seconds"]
    start = time.monotonic()
    percent = _stats(lxcpath, "cpu1", "--interval", "2")["cpu1"]["cpu"]["percent"]
    seconds1 = _stats(lxcpath, "cpu1", "--interval", "0")["cpu1"]["cpu"]["seconds"]
    elapsed = time.monotonic() - start
    # One loop uses one core at most; on a busy 2-core test machine it may get less.
    assert 40 <= percent <= 110, percent
    assert 0.3 * elapsed <= seconds1 - seconds0 <= 1.1 * elapsed, (seconds0, seconds1, elapsed)
    listed = json.loads(lxcpath.cli("ls", "--json", "--columns", "name,cpu_percent").stdout)
    assert listed[0]["cpu_percent"] >= 30


def test_bytes_through_its_interface_show_in_rx_and_tx(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = netbridge(netlab, lxcpath, "--no-nat")
    ip = str(net.subnet.network_address + 60)
    net.new("nt1", password_file[0], "-t", "busybox", "--ip", ip)
    before = _stats(lxcpath, "nt1", "--interval", "0")["nt1"]["network"]
    ping = subprocess.run(["busybox", "ping", "-c", "20", "-i", "0.05", "-s", "1000", ip],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr
    after = _stats(lxcpath, "nt1", "--interval", "0")["nt1"]["network"]
    assert after["rx_bytes"] - before["rx_bytes"] >= 20 * 1000, (before, after)
    assert after["tx_bytes"] - before["tx_bytes"] >= 20 * 1000, (before, after)
    # Its root moves eth0 into a namespace of its own (the outside review hid its traffic
    # so): counted at the host's end, the bytes still show, and never go back.
    _exec(lxcpath, "nt1", "setsid unshare -n sleep 600 >/dev/null 2>&1 </dev/null & sleep 0.5; "
          "p=$(pidof sleep); ip link set eth0 netns $p && nsenter -t $p -n sh -c "
          f"'ip link set lo up; ip link set eth0 up; ip addr add {ip}/24 dev eth0'")  # fmt: skip
    ping = subprocess.run(["busybox", "ping", "-c", "20", "-i", "0.05", "-s", "1000", ip],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr
    hidden = _stats(lxcpath, "nt1", "--interval", "0")["nt1"]["network"]
    assert hidden["rx_bytes"] - after["rx_bytes"] >= 20 * 1000, (after, hidden)
    assert hidden["tx_bytes"] - after["tx_bytes"] >= 20 * 1000, (after, hidden)


def test_stats_while_the_container_starts_stops_and_goes(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """Raced against start, stop and destroy: every stats answers, with a state LXC has."""
    _new(lxcpath, "race1", password_file[0])
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            lxcpath.cli("stop", "race1", check=False)
            lxcpath.cli("start", "race1", check=False)

    worker = threading.Thread(target=churn)
    worker.start()
    seen: set[str] = set()
    try:
        for _ in range(15):
            for s in json.loads(lxcpath.cli("stats", "--json", "--interval", "0.1").stdout):
                seen.add(s["state"])
                if s["state"] == "RUNNING" and s["memory"]["used"] is not None:
                    assert s["memory"]["used"] > 0
    finally:
        stop.set()
        worker.join()
    assert seen <= {"RUNNING", "STOPPED", "STARTING", "STOPPING"}, seen
    nosuch = lxcpath.cli("stats", "--watch", "--json", "nosuch", check=False)
    assert nosuch.returncode == 1 and "no container 'nosuch'" in nosuch.stderr
    # destroyed while a watch runs: the watch goes on, the container leaves its lines
    watch = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", "stats", "--json", "--watch", "--interval", "0.2"],
        env=lxcpath.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        assert [s["name"] for s in json.loads(watch.stdout.readline())] == ["race1"]
        lxcpath.cli("destroy", "--force", "race1")
        for _ in range(50):
            if json.loads(watch.stdout.readline()) == []:
                break
        else:
            raise AssertionError("the destroyed container stayed in the watch")
        assert watch.poll() is None, "the watch goes on"
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(10)
    assert watch.stderr is not None
    assert "Failed to load config" not in watch.stderr.read(), "no liblxc noise for a gone one"


def _read_until(fd: int, text: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} never shown: {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_top_on_a_terminal_sorts_on_a_key_and_quits_on_q(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    _new(lxcpath, "top1", password_file[0])
    pid, fd = pty.fork()
    if pid == 0:  # the child: top on a terminal of its own
        os.environ.update(lxcpath.env(), COLUMNS="120", LINES="30", TERM="xterm")
        os.execv(sys.executable, [sys.executable, "-m", "lxcprov", "top", "--interval", "0.3"])
    try:
        shown = _read_until(fd, b"top1", 30)
        assert b"by cpu%" in shown
        os.write(fd, b"m")
        _read_until(fd, b"by memory", 10)
        os.write(fd, b"\x1b[A")  # an arrow key: ESC and more, never a quit
        _read_until(fd, b"by memory", 10)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), "an arrow key quit top"
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    # not on a terminal: the table as plain lines, N times
    plain = lxcpath.cli("top", "--count", "2", "--interval", "0.2", "--sort", "memory").stdout
    assert plain.count("by memory") == 2 and plain.count("top1") == 2
    assert "\x1b" not in plain, "no terminal codes in plain lines"


_CHURN = """
import os, sys
from pathlib import Path
where = Path(sys.argv[1])
while True:  # made whole, destroyed, made again: as destroy and new of one name do
    (where / "gone1" / "config.new").write_text("lxc.uts.name = gone1\\n" * 40)
    os.rename(where / "gone1" / "config.new", where / "gone1" / "config")
    os.unlink(where / "gone1" / "config")
"""

_OPEN_WHILE_IT_GOES = """
import json, subprocess, sys
from pathlib import Path
from lxcprov.errors import NoSuchContainerError
from lxcprov.ops import listing
from lxcprov.system import lxc
where = Path(sys.argv[1])
(where / "gone1").mkdir()
real = lxc.module()
failed = [0]  # python3-lxc's opens that liblxc failed: the race, hit
class Counting:
    def __getattr__(self, name):
        return getattr(real, name)
    def Container(self, *args):
        try:
            return real.Container(*args)
        except RuntimeError:
            failed[0] += 1
            raise
lxc.module = Counting
# Another process, not a thread: lxcprov sifts liblxc's stderr only while it runs one.
churn = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(where)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
outcomes = set()
try:
    for _ in range(500000):
        try:
            outcomes.add(lxc.Read("gone1", where).exists())
        except NoSuchContainerError:
            outcomes.add("gone")
        if failed[0] >= 5:
            break
    for _ in range(3000):
        for row in listing.listing(where):
            outcomes.add(row.state)
finally:
    churn.kill()
    churn.wait()
print(json.dumps({"failed": failed[0], "seen": sorted(map(str, outcomes))}))
"""


def test_a_container_whose_config_goes_while_it_is_opened_is_gone_not_broken(
    tmp_path: Path,
) -> None:
    """liblxc prints "Failed to load config" when a config goes between its check and its
    read (a destroy racing `stats --watch` or `ls`, in another process): lxcprov drops that
    line and says the container is gone, never BROKEN (CI saw the line in a watch's
    stderr)."""
    run = subprocess.run(
        [sys.executable, "-c", _OPEN_WHILE_IT_GOES, str(tmp_path), _CHURN],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr
    said = json.loads(run.stdout)
    assert said["failed"] >= 5, "the race was never hit: the test proves nothing"
    assert set(said["seen"]) <= {"True", "False", "gone", "STOPPED"}, said
