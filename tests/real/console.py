"""Drive `lxcprov console` from a pseudo-terminal, as a person at a keyboard would."""

from __future__ import annotations

import sys

import pexpect

from tests.real.harness import Lxc


def _console_at_password(lxc: Lxc, name: str, password: str, tty: int | None) -> pexpect.spawn:
    """`lxcprov console`, root typed at the prompt `new` or `start` already saw (both wait
    for it: typed before the getty runs, the name would be flushed), `Password:` the
    password (sent). No Enter first: a systemd container's tty runs login(1) directly
    (agetty --skip-login), where an empty line is an empty user name."""
    args = ["-m", "lxcprov", "console", name] + ([] if tty is None else ["--tty", str(tty)])
    child = pexpect.spawn(
        sys.executable, args, env=lxc.env(TERM="vt100"), timeout=30, encoding="utf-8"
    )
    child.expect("to exit the console")
    child.sendline("root")
    child.expect("Password: ")
    child.sendline(password)
    return child


def _leave(child: pexpect.spawn) -> None:
    child.send("\x01q")  # Ctrl-a q, lxc-console's way out
    child.expect(pexpect.EOF)


def login_and_run(
    lxc: Lxc, name: str, password: str, command: str, *, tty: int | None = None
) -> str:
    """Log in as root through `lxcprov console`, run command, leave with Ctrl-a q.

    Returns what the command printed between two markers.
    """
    child = _console_at_password(lxc, name, password, tty)
    try:
        child.expect(["# ", r"\$ "])
        child.sendline(f"echo BEGIN-OUT; {command}; echo END-OUT")
        child.expect(r"BEGIN-OUT\r+\n")
        child.expect("END-OUT")
        output = str(child.before).replace("\r", "").strip("\n") + "\n"
        child.sendline("exit")
        _leave(child)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, f"lxcprov console exited {child.exitstatus}"
    return output


def login_refused(lxc: Lxc, name: str, password: str) -> bool:
    """True when the console asks for a password and refuses this one."""
    child = _console_at_password(lxc, name, password, None)
    try:
        index = child.expect(["Login incorrect", "# "], timeout=20)
        _leave(child)
        return bool(index == 0)
    finally:
        child.close(force=True)
