"""Drive `lxcprov console` from a pseudo-terminal, as a person at a keyboard would."""

from __future__ import annotations

import sys

import pexpect

from tests.real.harness import Lxc

# What people do first at any console: press Enter, often more than once.
ENTERS_FIRST = 2


def console(lxc: Lxc, name: str, tty: int | None) -> pexpect.spawn:
    args = ["-m", "lxcprov", "console", name] + ([] if tty is None else ["--tty", str(tty)])
    child = pexpect.spawn(
        sys.executable, args, env=lxc.env(TERM="vt100"), timeout=30, encoding="utf-8"
    )
    child.expect("to exit the console")
    return child


def press_enter_expect_login(child: pexpect.spawn, times: int = ENTERS_FIRST) -> None:
    """Enter at an idle prompt answers with a fresh `login:`, never `Password:`."""
    for _ in range(times):
        child.send("\r")
        seen = child.expect(["login: ", "Password: "])
        assert seen == 0, f"Enter at the login prompt asked for a password: {child.before!r}"


def _console_at_password(lxc: Lxc, name: str, password: str, tty: int | None) -> pexpect.spawn:
    """`lxcprov console`, Enter (twice) answered by `login:`, root typed, `Password:` the
    password (sent). `new` and `start` return once the prompt is there, so nothing typed
    here can be flushed by a getty that is still starting."""
    child = console(lxc, name, tty)
    press_enter_expect_login(child)
    # Typed as a keyboard types: Enter is a carriage return (the getty sets the terminal
    # up for the line end it saw; pexpect's sendline would send a line feed).
    child.send("root\r")
    child.expect("Password: ")
    child.send(password + "\r")
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
    """True when the console asks for a password and refuses this one; after a refusal,
    Enter at the prompt that follows gives `login:` again, never `Password:`."""
    for _attempt in range(2):
        child = _console_at_password(lxc, name, password, None)
        try:
            # A getty banner instead: the getty whose login: we answered was being replaced
            # (systemd restarts it after the previous session logged out; on a loaded host
            # that comes late) and took the half-typed login with it: try once more.
            index = child.expect(["Login incorrect", "# ", r"\n\S+ login: "], timeout=20)
            if index == 2:
                _leave(child)
                continue
            if index == 0:
                child.expect("login: ", timeout=20)
                press_enter_expect_login(child)
            _leave(child)
            return bool(index == 0)
        finally:
            child.close(force=True)
    raise AssertionError("two logins in a row were cut short by a getty restarting")
