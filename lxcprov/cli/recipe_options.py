"""Options `new` and `fix` share: root access and which recipes run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete

if TYPE_CHECKING:
    from lxcprov.ops.access import Access


PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--root-password-file",
        metavar="FILE",
        help="File whose first line becomes root's password (only a SHA-512 hash is stored).",
    ),
]
SshKey = Annotated[
    list[Path] | None,
    typer.Option(
        "--ssh-key",
        metavar="KEY.pub",
        help="Public key file for root's authorized_keys (repeatable).",
    ),
]
RecipeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--recipe",
        metavar="RECIPE",
        help="Run only this recipe (repeatable).",
        autocompletion=complete.recipes,
    ),
]
SkipOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-recipe",
        metavar="RECIPE",
        help="Do not run this recipe (repeatable).",
        autocompletion=complete.recipes,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Plan only: print the diffs, change nothing.")
]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Also show each step that changes nothing, and why."),
]


def access_of(password_file: Path | None, keys: list[Path] | None) -> Access:
    from lxcprov.ops.access import Access

    return Access(password_file, keys or [])
