"""Data of the recipe engine: recipes and steps as loaded, changes and plans as computed."""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lxcprov.engine.lines import split_lines
from lxcprov.engine.recipes.roles import Role

ChangeKind = Literal["file", "symlink", "chardev", "mkdir", "remove"]
Scope = Literal["base", "instance"]
# What a planned step amounts to: changes to make, already in place, or not applicable.
StepStatus = Literal["change", "in-place", "skipped"]


@dataclass(frozen=True)
class Step:
    action: str
    params: Any  # the action's typed parameters (a frozen dataclass, checked at load)
    when: ast.Expression | None
    when_text: str
    each_tty: bool
    line: int  # where the step starts in its recipe file, for messages
    # The terminal whose login prompt depends on this step: "console", "tty{n}", "ttys"
    # (every LXC tty) or "all" (the console and every tty); "" when none does. doctor
    # reads it from pending changes.
    terminal: str = ""


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    fixes: str
    when: ast.Expression | None
    when_text: str
    scope: Scope
    order: int
    steps: tuple[Step, ...]
    source: Path
    provides: tuple[Role, ...] = ()


@dataclass(frozen=True)
class Change:
    """One thing to make true in the rootfs; `before` is None when it does not exist yet."""

    path: str
    kind: ChangeKind
    before: str | None
    after: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    secret: bool = False  # never show the content (password hashes)
    # Terminals that have no login prompt until this change is made (see Step.terminal).
    terminals: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "remove":
            return f"remove {self.path}"
        verb = "create" if self.before is None else "update"
        what = {"file": "", "symlink": "symlink ", "chardev": "device ", "mkdir": "directory "}
        return f"{verb} {what[self.kind]}{self.path}"

    def diff(self) -> str:
        """A unified diff of the change, as `--dry-run` prints it."""
        if self.secret:
            return f"--- {self.path}\n+++ {self.path}\n(secret content changed, not shown)\n"
        if self.kind in ("file", "remove"):
            old = split_lines(self.before or "", keepends=True)
            new = split_lines(self.after, keepends=True)
            a = "/dev/null" if self.before is None else f"a{self.path}"
            b = "/dev/null" if self.kind == "remove" else f"b{self.path}"
            lines = list(difflib.unified_diff(old, new, a, b))
            return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        before = "(absent)" if self.before is None else self.before
        return f"--- {self.path}: {before}\n+++ {self.path}: {self.after}\n"


@dataclass(frozen=True)
class Planned:
    """What one action plans: changes, or the reason there are none."""

    changes: tuple[Change, ...] = ()
    reason: str = ""

    def __add__(self, other: Planned) -> Planned:
        reason = "; ".join(r for r in (self.reason, other.reason) if r)
        return Planned(self.changes + other.changes, reason)


def changed(*changes: Change) -> Planned:
    return Planned(tuple(changes))


def unchanged(reason: str) -> Planned:
    return Planned((), reason)


@dataclass
class StepPlan:
    recipe: str
    action: str
    description: str
    changes: list[Change] = field(default_factory=list)
    status: StepStatus = "in-place"
    reason: str = ""  # why nothing is planned: already in place, or not applicable

    @property
    def skipped(self) -> str | None:
        return self.reason if self.status == "skipped" else None


@dataclass
class Plan:
    container: str
    steps: list[StepPlan] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [c for s in self.steps for c in s.changes]

    def recipes_changing(self) -> list[str]:
        return sorted({s.recipe for s in self.steps if s.changes})
