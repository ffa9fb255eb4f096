"""How a finding's fix command is written: words quoted for a shell, recipe flags."""

from __future__ import annotations

import shlex


def recipe_flags(names: tuple[str, ...]) -> str:
    return " ".join(f"--recipe {r}" for r in names)


def q(text: str) -> str:
    return shlex.quote(text)
