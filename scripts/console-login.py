"""Log into a container through `lxcprov console` from a pseudo-terminal and run a command.

Used by scripts/demo to show, end to end, what a person at the console sees: Enter gives
`login:` (again and again), root's password works, a command runs. Only the standard
library: the demo runs it with Debian's python3, before any virtualenv exists.

Usage: console-login.py NAME PASSWORD_FILE COMMAND
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import sys
import termios
import time
from pathlib import Path

TIMEOUT = 30.0


class Console:
    """`lxcprov console NAME` on a pseudo-terminal, read until a pattern shows."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp(argv[0], argv)
        self.seen = ""
        self.echo = True

    def _read(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            return False
        try:
            data = os.read(self.fd, 4096).decode(errors="replace")
        except OSError:  # EIO: the console ended
            data = ""
        if not data:
            raise SystemExit(f"console-login: the console ended; it showed:\n{self.seen[-400:]}")
        self.seen += data
        if self.echo:
            sys.stdout.write(data)
            sys.stdout.flush()
        return True

    def expect(self, *patterns: str) -> int:
        """Wait for the first of patterns after what was matched before; its index."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for index, pattern in enumerate(patterns):
                match = re.search(pattern, self.seen)
                if match:
                    self.seen = self.seen[match.end() :]
                    return index
            if not self._read(deadline):
                raise SystemExit(
                    f"\nconsole-login: no {' or '.join(map(repr, patterns))} after"
                    f" {TIMEOUT:.0f} s; the console showed:\n{self.seen[-400:]!r}"
                )

    def wait_raw(self) -> None:
        """Wait until lxc-console has put the terminal in raw mode: it prints its banner
        first, then switches with TCSAFLUSH, which drops whatever was typed before."""
        deadline = time.monotonic() + TIMEOUT
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            if time.monotonic() > deadline:
                raise SystemExit("console-login: the console never took the terminal")
            time.sleep(0.01)

    def type(self, text: str) -> None:
        """Keys as a keyboard sends them: Enter is a carriage return."""
        os.write(self.fd, text.encode())

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def main() -> int:
    name, password_file, command = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    password = password_file.read_text().splitlines()[0]
    lxcprov = shutil.which("lxcprov") or "lxcprov"
    console = Console([lxcprov, "console", name])
    console.expect("to exit the console")
    console.wait_raw()
    # What everybody does first at a console: Enter, more than once. Each answers with a
    # fresh prompt; a `Password:` here would mean Enter was taken as a user name.
    for _ in range(2):
        console.type("\r")
        if console.expect("login: ", "Password: ") != 0:
            raise SystemExit("\nconsole-login: Enter at the login prompt asked for a password")
    console.type("root\r")
    console.expect("Password: ")
    console.type(password + "\r")  # not echoed by the terminal
    console.expect(r"[#$] ")
    console.type(command + "\r")
    console.expect(r"[#$] ")
    console.type("exit\r")
    console.expect("login: ")
    console.echo = False
    console.type("\x01q")  # Ctrl-a q: lxc-console's way out
    status = console.wait()
    print()
    if status != 0:
        raise SystemExit(f"console-login: lxcprov console exited {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
