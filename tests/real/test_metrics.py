"""`lxcprov metrics` on real containers, read back by prometheus_client's parser: the
series of a running and a stopped busybox container, the textfile for node_exporter under
SIGKILL and racing writers, and the `--listen` endpoint.

Invariants: a running container has every series with its name; a stopped one its state
and disk and nothing it cannot measure; the textfile is always a whole exposition (the old
one, the new one, or none), never half of one, and a killed writer's temporary file is
gone after the next write; --listen answers each scrape with a fresh sample, 404 elsewhere,
refuses a port in use in one line, and ends cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.real.harness import Lxc, var_tmp, wait_for_fault

pytestmark = pytest.mark.real

P = "lxcprov_container_"
FAULT = "metrics-temp-written"
TEMP = re.compile(r"\.lxcprov\.prom\.[0-9a-f]{8}\.tmp")


def _new(lxc: Lxc, name: str, pw: Path, *extra: str) -> None:
    lxc.cli("new", name, "-t", "busybox", "--network", "none", "--root-password-file", str(pw),
            *extra)  # fmt: skip


def _series(text: str) -> dict[tuple[str, str], float]:
    """(sample name, container) -> value; every family parsed (a bad line raises)."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, s.labels.get("name", ""))
            assert key not in out, f"twice: {key}"
            out[key] = s.value
    return out


def _states(text: str) -> dict[str, str]:
    return {s.labels["name"]: s.labels["state"]
            for f in text_string_to_metric_families(text) if f.name == P + "state"
            for s in f.samples}  # fmt: skip


def _whole(text: str) -> bool:
    """A complete exposition: it parses, and its last family (written last) is there."""
    _series(text)
    return text.endswith("\n") and "\nlxcprov_scrape_duration_seconds " in text


def test_running_container_has_every_series_stopped_one_its_state_and_nothing_is_valid(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw = password_file[0]
    empty = lxcpath.cli("metrics").stdout
    assert _whole(empty)
    assert not [k for k in _series(empty) if k[1]]  # no container, no container series
    _new(lxcpath, "mrun", pw, "--memory", "256M")
    _new(lxcpath, "moff", pw, "--no-start")
    before = time.time()
    text = lxcpath.cli("metrics").stdout
    got = _series(text)
    assert _states(text) == {"mrun": "RUNNING", "moff": "STOPPED"}
    # The running one: every series, with its name.
    assert got[(P + "running", "mrun")] == 1
    assert got[(P + "cpu_seconds_total", "mrun")] > 0
    assert got[(P + "memory_bytes", "mrun")] > 0
    assert got[(P + "memory_limit_bytes", "mrun")] == 256 << 20
    assert got[(P + "pids", "mrun")] >= 1
    assert got[(P + "disk_bytes", "mrun")] > 0
    assert (P + "swap_bytes", "mrun") in got  # this host counts swap (memsw)
    assert got[(P + "network_receive_bytes_total", "mrun")] >= 0  # --network none: lo only
    assert got[(P + "network_transmit_bytes_total", "mrun")] >= 0
    started = got[(P + "start_time_seconds", "mrun")]
    assert before - 600 < started <= before + 1, started
    # The stopped one: its state and its disk; nothing it cannot measure, not even a 0.
    assert got[(P + "running", "moff")] == 0
    assert got[(P + "disk_bytes", "moff")] > 0
    for family in ("cpu_seconds_total", "memory_bytes", "memory_limit_bytes", "swap_bytes",
                   "pids", "start_time_seconds", "network_receive_bytes_total",
                   "network_transmit_bytes_total"):  # fmt: skip
        assert (P + family, "moff") not in got, family
    # Named: only those; a name that is no container is one error.
    assert _states(lxcpath.cli("metrics", "moff").stdout) == {"moff": "STOPPED"}
    missing = lxcpath.cli("metrics", "nosuch", check=False)
    assert missing.returncode != 0 and "no container 'nosuch'" in missing.stderr
    assert missing.stdout == ""


def _writer(lxc: Lxc, path: Path, fault: str = "") -> subprocess.Popen[str]:
    env = lxc.env(LXCPROV_FAULT_AT=fault) if fault else lxc.env()
    argv = [sys.executable, "-m", "lxcprov", "metrics", "--textfile", str(path)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _killed_at_the_rename(lxc: Lxc, path: Path) -> subprocess.Popen[str]:
    """A writer stopped with its temporary file written, not renamed (it holds the
    directory's lock); the caller kills it."""
    proc = _writer(lxc, path, FAULT)
    wait_for_fault(proc, FAULT, "metrics --textfile", 120)
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _wait_blocked_on_a_lock(proc: subprocess.Popen[str]) -> None:
    """Until /proc/locks lists proc waiting for a lock (a `->` line with its pid)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "->" and fields[5] == str(proc.pid):
                return
        time.sleep(0.05)
    raise AssertionError(f"pid {proc.pid} never waited for the directory's lock")


def _temps(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if TEMP.fullmatch(n))


def test_textfile_killed_mid_write_leaves_the_old_file_or_none_and_racers_a_whole_one(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    _new(lxcpath, "mtx", password_file[0])
    with var_tmp("m27-textfile-") as directory:
        path = directory / "lxcprov.prom"
        # Killed before its first file was renamed: no file (a half one is never there).
        _kill(_killed_at_the_rename(lxcpath, path))
        assert not path.exists() and len(_temps(directory)) == 1
        assert not list(directory.glob("*.prom"))  # the collector's glob finds nothing
        # Other programs' files, some named alike, are not ours to sweep.
        foreign = [".other.prom.0123abcd.tmp", ".lxcprov.prom.notours", "apt.prom"]
        for name in foreign:
            (directory / name).write_text("x 1\n")
        os.symlink("/etc/hostname", directory / ".lxcprov.prom.89abcdef.tmp")
        lxcpath.cli("metrics", "--textfile", str(path))
        first = path.read_text()
        assert _whole(first) and _states(first) == {"mtx": "RUNNING"}
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert _temps(directory) == [".lxcprov.prom.89abcdef.tmp"]  # the symlink stays
        assert all((directory / n).read_text() == "x 1\n" for n in foreign)
        # Killed again with a file there: the old file, whole and unchanged.
        _kill(_killed_at_the_rename(lxcpath, path))
        assert path.read_text() == first and len(_temps(directory)) == 2
        # A writer that finds another one at work waits for its turn (that one holds the
        # directory's lock), the file untouched meanwhile...
        stopped = _killed_at_the_rename(lxcpath, path)
        racer = _writer(lxcpath, path)
        _wait_blocked_on_a_lock(racer)
        assert path.read_text() == first
        _kill(stopped)
        # ...and once that one is killed, writes its own and sweeps the killed ones' files.
        assert racer.wait(60) == 0, racer.communicate()[1]
        assert _whole(path.read_text())
        assert _temps(directory) == [".lxcprov.prom.89abcdef.tmp"]
        # Writers racing while a reader reads as node_exporter does: always a whole file.
        seen: list[str] = []
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                seen.append(path.read_text())

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for _ in range(3):
                racers = [_writer(lxcpath, path) for _ in range(4)]
                assert [r.wait(120) for r in racers] == [0] * 4
        finally:
            done.set()
            reader.join()
        assert len(seen) > 10
        bad = [text for text in seen if not _whole(text)]
        assert not bad, bad[0][-300:]
        assert _temps(directory) == [".lxcprov.prom.89abcdef.tmp"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        # A directory that is not there is one error (nothing is created for a typo).
        wrong = lxcpath.cli("metrics", "--textfile", str(directory / "nope" / "x.prom"),
                            check=False)  # fmt: skip
        assert wrong.returncode != 0 and "no directory" in wrong.stderr
        assert not (directory / "nope").exists()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


class _Stderr:
    """proc's stderr, a line at a time with a deadline: a thread reads it into a queue
    (select on the pipe would miss lines already in the reader's buffer)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.lines = proc, queue.Queue[str]()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def line(self) -> str:
        try:
            return self.lines.get(timeout=60)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("lxcprov metrics --listen said nothing in 60 s") from None

    def rest(self) -> str:
        """What it wrote after the lines taken, once it has ended."""
        self.proc.wait(30)
        self.reader.join(30)  # the pipe's end: every line is in the queue
        return "".join(self.lines.get() for _ in range(self.lines.qsize()))


def _listening(lxc: Lxc, *args: str, argv0: tuple[str, ...] = ()) -> tuple[
        subprocess.Popen[str], _Stderr, str]:  # fmt: skip
    proc = subprocess.Popen([*argv0, sys.executable, "-m", "lxcprov", "metrics", "--listen",
                             *args], env=lxc.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    stderr = _Stderr(proc)
    line = stderr.line()
    found = re.search(r"answering at (http://\S+)", line)
    if not found:
        proc.kill()
        raise AssertionError(f"{line}{stderr.rest()}")
    return proc, stderr, found.group(1)


def test_listen_answers_fresh_samples_404s_elsewhere_and_refuses_a_taken_port(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    _new(lxcpath, "mweb", password_file[0])
    proc, stderr, url = _listening(lxcpath, "0")
    try:
        assert url.startswith("http://127.0.0.1:")  # a bare port is loopback
        code, kind, first = _get(url)
        assert (code, kind) == (200, "text/plain; version=0.0.4; charset=utf-8")
        # Work in the container between the scrapes: its counter moves, never back.
        lxcpath.attach("mweb", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
        code, _, second = _get(url)
        assert code == 200
        one, two = _series(first), _series(second)
        assert two[(P + "cpu_seconds_total", "mweb")] >= one[(P + "cpu_seconds_total", "mweb")]
        assert two[(P + "memory_bytes", "mweb")] > 0
        # A container made while it runs shows at the next scrape.
        _new(lxcpath, "mlate", password_file[0], "--no-start")
        assert _states(_get(url)[2]) == {"mweb": "RUNNING", "mlate": "STOPPED"}
        assert _get(url.replace("/metrics", "/"))[0] == 404
        assert _get(url.replace("/metrics", "/metricsx"))[0] == 404
        # The port taken: one error line and its hint, at once.
        port = url.rsplit(":", 1)[1].split("/")[0]
        taken = lxcpath.cli("metrics", "--listen", port, check=False, timeout=60)
        assert taken.returncode == 1
        errors = [ln for ln in taken.stderr.splitlines() if ln.startswith("error:")]
        assert errors == [f"error: cannot listen on 127.0.0.1:{port}: the port is in use"]
        assert "hint:" in taken.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0 and "stopped" in stderr.rest()
    with socket.socket() as probe:  # the port is free again: the socket was closed
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT ones
        probe.bind(("127.0.0.1", int(port)))


def test_listen_on_a_written_address_says_it_is_reachable_and_ctrl_c_ends_it(
    lxcpath: Lxc,
) -> None:
    # A network namespace of the test's own, with a veth pair inside it (this kernel has
    # no dummy driver): an address that is not loopback, which nothing outside this
    # namespace can reach; the namespace goes with the process.
    script = ("ip link set lo up && ip link add m27a type veth peer name m27b && "
              "ip addr add 198.18.27.1/24 dev m27a && ip link set m27b up && "
              'ip link set m27a up && exec "$@"')  # fmt: skip
    proc, stderr, url = _listening(lxcpath, "198.18.27.1:0",
                           argv0=("unshare", "--net", "sh", "-c", script, "sh"))  # fmt: skip
    try:
        warning = stderr.line()
        assert "198.18.27.1 is reachable from outside this host" in warning, warning
        assert url.startswith("http://198.18.27.1:")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0


def test_ctrl_c_at_any_instant_ends_listen_and_frees_its_port(lxcpath: Lxc) -> None:
    """Ctrl-C at random instants (seeded) of `metrics --listen`: while it starts, as it
    says where it answers, while it serves. It always ends (an interrupt that landed in a
    weakref callback once became a swallowed KeyboardInterrupt, and the server went on),
    with 0 once it served (130 or the signal's own status before), and the port it served
    on is free again."""
    rng = random.Random(2612)
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "lxcprov", "metrics", "--listen", "0"],
                                env=lxcpath.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        stderr = _Stderr(proc)
        port = None
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, 0.6))  # while it starts (or already serves)
        else:
            found = re.search(r"answering at http://127\.0\.0\.1:(\d+)", stderr.line())
            assert found, stderr.rest()
            port = int(found.group(1))
            time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"Ctrl-C did not end it: {stderr.rest()}") from None
        said = stderr.rest()
        # -SIGINT: interrupted while Python imported it, before lxcprov could say a word.
        # 1 with CPython's own "Could not import runpy module": interrupted earlier still,
        # while the interpreter loaded `-m`'s runner (seen once in CI on a loaded machine).
        in_runpy = code == 1 and "Could not import runpy module" in said and port is None
        in_runpy = in_runpy and "KeyboardInterrupt" in said
        assert code in (0, 130, -signal.SIGINT) or in_runpy, said
        if port is not None:
            assert code == 0, said
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))
