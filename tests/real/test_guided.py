"""Guided `lxcprov new`: questions on a pseudo-terminal, and no questions without one."""

from __future__ import annotations

import subprocess
import sys

import pexpect
import pytest

from lxcprov.system import lxcconf
from tests.real.console import login_and_run
from tests.real.harness import Lxc

pytestmark = pytest.mark.real


def test_answering_the_questions_makes_a_working_container(lxcpath: Lxc) -> None:
    password = "Guided-pw-1"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "lxcprov", "new"],
        env=lxcpath.env(TERM="vt100"),
        timeout=60,
        encoding="utf-8",
    )
    try:
        child.expect("Template.*: ")
        child.sendline("busybox")
        child.expect(r"Name .*\(busybox1\): ")
        child.sendline("guided1")
        child.expect("Root access.*: ")
        child.sendline("")  # the default: a password, typed twice
        child.expect("Root password: ")
        child.sendline(password)
        child.expect("Again: ")
        child.sendline(password)
        child.expect("Network.*: ")
        child.sendline("none")
        child.expect("Memory limit.*: ")
        child.sendline("lots")
        child.expect("not a size")
        child.expect("Memory limit.*: ")
        child.sendline("128M")
        child.expect("CPUs.*: ")
        child.sendline("")
        child.expect("The same in one line")
        child.expect(
            "lxcprov new guided1 --template busybox --network none "
            "--root-password-file PASSWORD_FILE --memory 128M"
        )
        child.expect(pexpect.EOF, timeout=300)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    config = dict(lxcconf.items(lxcconf.parse((lxcpath.path / "guided1/config").read_text())))
    limit = config.get("lxc.cgroup.memory.limit_in_bytes") or config["lxc.cgroup2.memory.max"]
    assert limit == str(128 << 20)
    assert "guided1" in login_and_run(lxcpath, "guided1", password, "hostname")


def test_without_a_terminal_it_fails_fast_naming_what_is_missing(lxcpath: Lxc) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lxcprov", "new"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=lxcpath.env(),
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "missing NAME and --template" in proc.stderr
    proc = lxcpath.cli("new", "c9", check=False)
    assert proc.returncode == 2 and "missing --template" in proc.stderr
    assert lxcpath.names() == []
