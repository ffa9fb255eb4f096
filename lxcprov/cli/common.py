"""What every command shares: the lxcpath, the two output streams, JSON printing, and
text made safe to show on a terminal."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from lxcprov.cli import complete
from lxcprov.errors import InvalidArgumentError
from lxcprov.system import lxc

if TYPE_CHECKING:
    from rich.console import Console


class _StderrConsole:
    """rich's Console on stderr, made at the first print: `ls --json`, `--version` and
    shell completion print nothing there and need not import rich's rendering (about 40
    ms of a command's start)."""

    _console: Console | None = None

    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.real(), attr)


# Human output goes to stderr so that stdout carries only --json data.
err = cast("Console", _StderrConsole())


def stderr_console() -> Console:
    """The console itself (a progress display needs the object, not this stand-in)."""
    return cast("_StderrConsole", err).real()


def fresh_console() -> None:
    """Forget the console made so far: a forked child makes its own on its own stderr."""
    cast("_StderrConsole", err)._console = None


@dataclass
class Options:
    lxcpath: Path | None = None

    def path(self) -> Path:
        # Absolute: containers are known by name@lxcpath (address books, locks, journals).
        found = Path(os.path.abspath(self.lxcpath or lxc.default_lxcpath()))
        if found.is_symlink() and not found.exists():
            # Else the first directory made under it fails as "File exists", naming a lock.
            raise InvalidArgumentError(
                f"the lxcpath {found} is a symlink to {os.readlink(found)}, which does not exist",
                hint="make that directory, or give --lxcpath (LXCPROV_LXCPATH) a directory",
            )
        return found

    def container(self, name: str) -> lxc.Container:
        lxc.check_name(name)
        return lxc.Container(name, self.path())


options = Options()

# What a terminal would act on rather than show: C0 controls but \n and \t (ESC starts
# escape sequences, \r overwrites the line), DEL, C1 controls (\x9b is a CSI on many
# terminals), the Unicode line and paragraph separators, the bidi overrides and isolates
# that reorder what follows them, and surrogates (surrogateescape's stand-ins for bytes
# that are not UTF-8, which a terminal cannot even be sent).
_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but \t and \n, DEL, C1
    r"\u2028\u2029\u202a-\u202e\u2066-\u2069"  # separators, bidi
    r"\ud800-\udfff]"  # surrogates
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        code -= 0xDC00  # the byte surrogateescape stood in for
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """text with what a terminal would act on shown as \\xNN or \\uNNNN."""
    return _UNSAFE.sub(_escaped, text)


def shown_name(text: str) -> str:
    """A name a container chose (a path, a file name), for a rich markup string on one
    line: as shown(), and a newline or tab in it shown as \\x0a, \\x09 too (a file named
    "x\\nerror: ..." must not forge a line of its own)."""
    return shown(text).replace("\n", "\\x0a").replace("\t", "\\x09")


def shown(text: str) -> str:
    """text to put in a rich markup string: control characters shown, markup escaped.

    Everything lxcprov prints that it did not write itself goes through here: a
    container's files (diffs, paths, hostnames), a template's output, error messages
    that quote either.
    """
    from rich.markup import escape

    return escape(printable(text))


def emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


MIB = 1024 * 1024  # sizes are shown in MiB

# Arguments and options most commands share: what to type is in the metavar, what it
# does in the help, and container names complete in the shell.
NameArg = Annotated[
    str,
    typer.Argument(metavar="NAME", help="The container.", autocompletion=complete.containers),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
