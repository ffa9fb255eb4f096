"""Log into a container through `lxcprov console` from a pseudo-terminal and run a command.

Used by scripts/demo to show, end to end, that the console has a login prompt and that
root's password works. Usage: console-login.py NAME PASSWORD_FILE COMMAND
"""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect


def main() -> int:
    name, password_file, command = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    password = password_file.read_text().splitlines()[0]
    child = pexpect.spawn(
        sys.executable, ["-m", "lxcprov", "console", name], timeout=30, encoding="utf-8"
    )
    child.logfile_read = sys.stdout
    child.expect("to exit the console")
    child.send("\r")
    child.expect("login: ")
    child.sendline("root")
    child.expect("Password: ")
    child.logfile_read = None  # the password is not echoed; keep the transcript clean anyway
    child.sendline(password)
    child.logfile_read = sys.stdout
    child.expect(["# ", r"\$ "])
    child.sendline(command)
    child.sendline("exit")
    child.expect("login: ")
    child.send("\x01q")
    child.expect(pexpect.EOF)
    child.close()
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
