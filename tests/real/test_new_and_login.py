"""`lxcprov new` on real templates ends with a container root can log into on its console."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from lxcprov.system import lxc
from tests.real.console import console, login_and_run, login_refused, press_enter_expect_login
from tests.real.harness import Lxc

pytestmark = pytest.mark.real


# For every getty-like process, the terminal its stdin is (as the container sees it).
# A getty, the prompt script `agetty --skip-login` became, or login(1): what answers a terminal.
_GETTY_TTYS = (
    "for p in /proc/[0-9]*; do"
    ' case "$(cat $p/comm 2>/dev/null)" in *getty*|login|login-prompt) readlink $p/fd/0;; esac;'
    " done"
)


def _gettys_per_terminal(lxc: Lxc, name: str, expected: set[str]) -> dict[str, int]:
    """Count gettys per terminal, waiting (bounded) for ones that are respawning."""
    counts: dict[str, int] = {}
    for _ in range(20):
        ps = lxc.attach(name, "/bin/sh", "-c", _GETTY_TTYS)
        assert ps.returncode == 0, ps.stderr
        counts = {}
        for tty in ps.stdout.split():
            counts[tty] = counts.get(tty, 0) + 1
        if set(counts) == expected:
            break
        time.sleep(0.5)
    return counts


def _terminals(ttys: int) -> set[str]:
    return {"/dev/console", *(f"/dev/tty{n}" for n in range(1, ttys + 1))}


def _new(lxc: Lxc, name: str, pw: Path, *args: str) -> dict[str, object]:
    out = lxc.cli(
        "new", name, "--network", "none", "--root-password-file", str(pw), "--json", *args
    )
    data = json.loads(out.stdout)
    assert isinstance(data, dict)
    return data


def test_busybox(lxcpath: Lxc, password_file: tuple[Path, str]) -> None:
    pw_path, password = password_file
    data = _new(lxcpath, "bb1", pw_path, "--template", "busybox")
    assert data["state"] == "RUNNING"
    assert data["login_tty"] == 1
    assert data["root_password"] is None, "a password was given: none is generated"
    assert "TOKEN-42\nbb1" in login_and_run(
        lxcpath, "bb1", password, "echo TOKEN-$((6*7)); hostname"
    )
    # The console (tty 0) has a login prompt too, not busybox's password-less shell.
    assert "TOKEN-7" in login_and_run(lxcpath, "bb1", password, "echo TOKEN-$((3+4))", tty=0)
    counts = _gettys_per_terminal(lxcpath, "bb1", _terminals(5))
    assert counts == dict.fromkeys(_terminals(5), 1)
    assert login_refused(lxcpath, "bb1", "not-the-password")
    # The plaintext is nowhere in the rootfs.
    shadow = lxcpath.attach("bb1", "cat", "/etc/shadow").stdout
    assert password not in shadow and "root:$6$" in shadow


def test_debian_systemd(lxcpath: Lxc, password_file: tuple[Path, str]) -> None:
    pw_path, password = password_file
    data = _new(lxcpath, "deb1", pw_path, "--template", "debian", "--release", "bookworm")
    assert data["state"] == "RUNNING"
    facts = data["facts"]
    assert isinstance(facts, dict) and facts["init"] == "systemd" and facts["ttys"] == 4
    out = login_and_run(lxcpath, "deb1", password, "hostname; systemctl is-active getty@tty1")
    assert "deb1\nactive" in out
    counts = _gettys_per_terminal(lxcpath, "deb1", _terminals(4))
    assert counts == dict.fromkeys(_terminals(4), 1)
    # Enter alone gives a fresh prompt after a refused password too (one try per login(1)).
    assert login_refused(lxcpath, "deb1", "not-the-password")
    shown = lxcpath.attach("deb1", "systemctl", "cat", "getty@tty1.service").stdout
    assert "--login-program /usr/libexec/lxcprov/login-prompt" in shown
    # Leaving the prompt with Ctrl-D again and again never leaves a dead console.
    child = console(lxcpath, "deb1", None)
    try:
        for _ in range(7):
            press_enter_expect_login(child, 1)
            child.send("\x04")
        press_enter_expect_login(child, 1)
    finally:
        child.close(force=True)
    assert lxcpath.attach("deb1", "systemctl", "is-active", "getty@tty1").stdout.strip() == (
        "active"
    )
    # Fewer ttys: the gettys of the ttys that went are no longer wanted, so systemd does
    # not start them again and again on terminals LXC no longer makes.
    lxcpath.cli("set", "deb1", "ttys=2")
    lxcpath.cli("restart", "deb1")
    wants = lxcpath.attach("deb1", "ls", "/etc/systemd/system/getty.target.wants").stdout
    assert "getty@tty2.service" in wants and "getty@tty3.service" not in wants, wants
    tty3 = lxcpath.attach(
        "deb1", "systemctl", "show", "-p", "ActiveState,NRestarts", "getty@tty3"
    ).stdout.split()
    assert sorted(tty3) == ["ActiveState=inactive", "NRestarts=0"], tty3
    assert "OK" in login_and_run(lxcpath, "deb1", password, "echo OK", tty=2)


@pytest.mark.bases("sysvinit")  # the run's sysvinit base (tests/real/seeds.py)
def test_debian_sysvinit(lxcpath: Lxc, password_file: tuple[Path, str]) -> None:
    pw_path, password = password_file
    data = _new(
        lxcpath,
        "sysv1",
        pw_path,
        "--template",
        "debian",
        "--",
        "--packages=sysvinit-core,orphan-sysvinit-scripts",
    )
    facts = data["facts"]
    assert isinstance(facts, dict) and facts["init"] == "sysvinit"
    out = login_and_run(lxcpath, "sysv1", password, "hostname; cat /proc/1/comm")
    assert "sysv1\ninit" in out
    counts = _gettys_per_terminal(lxcpath, "sysv1", _terminals(4))
    assert counts == dict.fromkeys(_terminals(4), 1)
    assert login_refused(lxcpath, "sysv1", "not-the-password")
    # Ctrl-C at the console (tty 0), whose controlling terminal is init's: it rebooted the
    # container (ctrlaltdel). Now nothing happens, and the password still logs in.
    child = console(lxcpath, "sysv1", 0)
    try:
        press_enter_expect_login(child, 1)
        child.send("root\r")
        child.expect("Password: ")
        child.send("\x03")
        child.send(password + "\r")
        child.expect("# ")
        # init takes a signal at once: a ctrlaltdel run would show as "3 6" by now (or
        # have ended this session); the boot's own runlevel is still the only one.
        child.sendline("echo RL-$(runlevel | tr ' ' -)")
        child.expect(r"RL-(\S+)\r")
        assert child.match.group(1) == "N-3", child.match.group(1)
        child.sendline("exit")
        child.send("\x01q")
    finally:
        child.close(force=True)
    assert lxcpath.cli("ls", "--json").stdout.count('"RUNNING"') == 1


def test_generated_password_when_no_access_given(lxcpath: Lxc) -> None:
    out = lxcpath.cli("new", "gen1", "-t", "busybox", "--network", "none", "--json")
    data = json.loads(out.stdout)
    password = data["root_password"]
    assert isinstance(password, str) and len(password) >= 12
    assert password in out.stderr, "the human output shows it once"
    assert "OK" in login_and_run(lxcpath, "gen1", password, "echo OK")


def test_ssh_key_lands_with_correct_modes(lxcpath: Lxc, tmp_path: Path) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjeHByb3YgcmVhbCB0ZXN0IGtleQ== t@lxcprov"
    key_file = tmp_path / "id.pub"
    key_file.write_text(key + "\n")
    lxcpath.cli(
        "new",
        "key1",
        "-t",
        "busybox",
        "--network",
        "none",
        "--ssh-key",
        str(key_file),
        "--no-start",
    )
    with lxcpath.mounted("key1") as root:
        ssh = root / "root/.ssh"
        assert oct(ssh.stat().st_mode & 0o777) == "0o700"
        assert oct((ssh / "authorized_keys").stat().st_mode & 0o777) == "0o600"
        assert key in (ssh / "authorized_keys").read_text()
    assert lxcpath.names() == ["key1"]


def test_dry_run_creates_nothing_and_prints_diffs(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    out = lxcpath.cli(
        "new",
        "dry1",
        "-t",
        "busybox",
        "--network",
        "none",
        "--dry-run",
        "--root-password-file",
        str(password_file[0]),
    )
    assert lxcpath.names() == []
    assert "+++ b/etc/inittab" in out.stderr
    assert "+tty2::respawn:/bin/getty -L tty2 115200 vt100" in out.stderr
    assert "(secret content changed, not shown)" in out.stderr
    assert password_file[1] not in out.stderr


def test_everyday_verbs(lxcpath: Lxc) -> None:
    lxcpath.cli("new", "v1", "-t", "busybox", "--network", "none")
    listed = json.loads(lxcpath.cli("ls", "--json").stdout)
    assert [(c["name"], c["state"]) for c in listed] == [("v1", "RUNNING")]
    assert lxcpath.cli("exec", "v1", "--", "sh", "-c", "exit 3", check=False).returncode == 3
    assert lxcpath.cli("exec", "v1", "--", "cat", "/etc/hostname").stdout == "v1\n"
    lxcpath.cli("stop", "v1")
    assert json.loads(lxcpath.cli("ls", "--json").stdout)[0]["state"] == "STOPPED"
    refused = lxcpath.cli("exec", "v1", "--", "true", check=False)
    assert refused.returncode != 0 and "not running" in refused.stderr
    lxcpath.cli("start", "v1")
    assert lxcpath.cli("destroy", "v1", check=False).returncode != 0  # running: refused
    lxcpath.cli("destroy", "--force", "v1")
    assert lxcpath.names() == []


def test_console_fd_closes_only_liblxcs_socket_while_another_thread_opens_sockets(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    # `new` reads the host in a thread while it waits on the console: console_fd must
    # close liblxc's command socket (or the tty stays busy) and nothing of that thread's.
    _new(lxcpath, "bb3", password_file[0], "--template", "busybox")
    container = lxc.Container("bb3", lxcpath.path)
    sockets_before = _socket_fds()
    stop, errors = threading.Event(), []

    def churn() -> None:
        while not stop.is_set():
            try:
                a, b = socket.socketpair()
                a.send(b"x")
                assert b.recv(1) == b"x"
                a.close()
                b.close()
            except OSError as exc:
                errors.append(exc)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            with lxc.console_fd(container, 1) as fd:
                os.fstat(fd)
    finally:
        stop.set()
        thread.join(10)
    assert errors == [], errors[:3]
    assert _socket_fds() == sockets_before  # liblxc's sockets were all closed
    with lxc.console_fd(container, 1) as fd:  # the tty is free again
        os.fstat(fd)


def _socket_fds() -> int:
    return sum(1 for n in os.listdir("/proc/self/fd") if "socket:" in _readlink(n))


def _readlink(n: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{n}")
    except OSError:
        return ""
