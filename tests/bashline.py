"""A real interactive bash in a pseudo-terminal, with `lxcprov completion bash` sourced:
its readline splits the line (at COMP_WORDBREAKS, `=` and `:` among them), calls the
completion function and edits the line, exactly as for a user at a terminal.

What the tests read back is the line itself after the keys, taken from readline
(READLINE_LINE in a `bind -x` function), never the screen: `tab(TYPED)` is the line after
one Tab, `offered(TYPED)` the line after readline's insert-completions (every candidate
Tab Tab would list, inserted in place of the word, in readline's order).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parents[1]
# As the console script runs it (click names the completion variable after argv[0]).
PROGRAM = "import sys; sys.argv[0] = 'lxcprov'; from lxcprov.cli.program import run; run()"
_DONE = "@@line-read@@"
_SAY_DONE = "echo @@line''-read@@"  # what bash echoes while it is typed does not match _DONE


class Bash:
    INSERT_ALL = "\x18i"  # Ctrl-X i: readline's insert-completions

    def __init__(self, path: str, cwd: Path, env: dict[str, str]) -> None:
        self.dump = cwd.parent / f"{cwd.name}.line"
        full = {**os.environ, **env, "PATH": f"{path}:{env.get('PATH', os.environ['PATH'])}",
                "INPUTRC": "/dev/null", "TERM": "dumb"}  # fmt: skip
        self.child = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], cwd=str(cwd),
                                   env=full, encoding="utf-8", timeout=60)  # fmt: skip
        for command in (
            "PS1='$ '",
            "source <(lxcprov completion bash)",
            f'__line() {{ printf %s "$READLINE_LINE" > {self.dump}; {_SAY_DONE}; }}',
            "bind -x '\"\\C-xp\": __line'",
            "bind '\"\\C-xi\": insert-completions'",
            _SAY_DONE,
        ):
            self.child.sendline(command)
        self.child.expect_exact(f"{_DONE}\r\n")

    def run(self, command: str) -> None:
        """A command line of the test's own, run to its end."""
        self.child.sendline(f"\x15{command}; {_SAY_DONE}")
        self.child.expect_exact(f"{_DONE}\r\n")

    def enter(self, typed: str, keys: str) -> None:
        """TYPED, then KEYS (a Tab, insert-completions), then Enter: the line readline
        made is run, as the user's Enter would run it."""
        self.child.send(f"\x15{typed}{keys}\r")
        self.run(":")

    def _line_after(self, typed: str, keys: str) -> str:
        self.dump.unlink(missing_ok=True)
        # Ctrl-U empties the line first; Ctrl-X p hands the edited line to __line.
        self.child.send(f"\x15{typed}{keys}\x18p")
        self.child.expect_exact(f"{_DONE}\r\n")
        return self.dump.read_text()

    def tab(self, typed: str) -> str:
        return self._line_after(typed, "\t")

    def offered(self, typed: str) -> list[str]:
        """The candidates for bash's word before the cursor (after its last blank, `=` or
        `:`: `512M` for `memory=`), as readline inserts them all in its place."""
        line = self._line_after(typed, self.INSERT_ALL)
        start = max(typed.rfind(c) for c in " =:") + 1
        assert line.startswith(typed[:start]), line
        return line[start:].split()

    def close(self) -> None:
        try:
            self.child.sendline("\x15exit")
            self.child.expect(pexpect.EOF)
        finally:
            self.child.close(force=True)
            self.dump.unlink(missing_ok=True)


@contextmanager
def bash(path: str, cwd: Path, env: dict[str, str]) -> Iterator[Bash]:
    """An interactive bash with `lxcprov` (of the directory path) completing."""
    shell = Bash(path, cwd, env)
    try:
        yield shell
    finally:
        shell.close()


def program_dir(where: Path) -> Path:
    """A directory holding `lxcprov`: this tree's, run by this interpreter."""
    bindir = where / "bin"
    bindir.mkdir()
    wrapper = bindir / "lxcprov"
    wrapper.write_text(f'#!/bin/sh\ncd {REPO} && exec {sys.executable} -c "{PROGRAM}" "$@"\n')
    wrapper.chmod(0o755)
    return bindir
