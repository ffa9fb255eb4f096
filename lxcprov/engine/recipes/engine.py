"""Plan recipes into changes against a rootfs, and apply a plan. Nothing else writes."""

from __future__ import annotations

import dataclasses
import errno

from lxcprov.engine.facts import Facts
from lxcprov.engine.recipes.actions import ACTIONS, Context, Skip
from lxcprov.engine.recipes.model import Change, Plan, Recipe, Step, StepPlan
from lxcprov.engine.recipes.roles import Role
from lxcprov.engine.recipes.secrets import Secrets
from lxcprov.engine.recipes.staging import StagedRootfs
from lxcprov.engine.recipes.when import evaluate
from lxcprov.errors import DiskFullError, RootfsError, UnknownRecipeError, did_you_mean, plural
from lxcprov.system.rootfs import Rootfs


def select(recipes: list[Recipe], only: list[str], skip: list[str]) -> list[Recipe]:
    """The recipes to run: all of them, or only those named, minus those skipped."""
    known = {r.name for r in recipes}
    for name in [*only, *skip]:
        if name not in known:
            raise UnknownRecipeError(
                f"unknown recipe {name!r}{did_you_mean(name, known)}",
                hint="known recipes: " + ", ".join(sorted(known)),
            )
    return [r for r in recipes if (not only or r.name in only) and r.name not in skip]


def providing(recipes: list[Recipe], *roles: Role) -> list[Recipe]:
    """The recipes that provide any of roles, in apply order."""
    return [r for r in recipes if any(role in r.provides for role in roles)]


def _terminals(step: Step, n: int | None, ttys: int) -> tuple[str, ...]:
    if step.terminal in ("ttys", "all"):
        every = tuple(f"tty{i}" for i in range(1, ttys + 1))
        return ("console", *every) if step.terminal == "all" else every
    if step.terminal:
        return (step.terminal.replace("{n}", str(n)),)
    return ()


def _plan_step(ctx: Context, recipe: Recipe, step: Step, n: int | None, ttys: int) -> StepPlan:
    path = getattr(step.params, "path", "")
    sp = StepPlan(recipe.name, step.action, f"{step.action} {path}".strip())
    if step.when is not None and not evaluate(step.when, ctx.facts):
        sp.status, sp.reason = "skipped", f"not for this container ({step.when_text})"
        return sp
    try:
        planned = ACTIONS[step.action].plan(ctx, step.params)
    except Skip as why:
        sp.status, sp.reason = "skipped", str(why)
        return sp
    terminals = _terminals(step, n, ttys)
    sp.changes = [
        dataclasses.replace(c, terminals=c.terminals or terminals) for c in planned.changes
    ]
    sp.status = "change" if sp.changes else "in-place"
    sp.reason = planned.reason
    return sp


def plan(
    rootfs: Rootfs, facts: Facts, recipes: list[Recipe], secrets: Secrets | None = None
) -> Plan:
    staged = StagedRootfs(rootfs)
    values = facts.as_dict()
    ctx = Context(staged, values, secrets or Secrets())
    result = Plan(container=facts.name)
    for recipe in recipes:
        if recipe.when is not None and not evaluate(recipe.when, values):
            result.steps.append(
                StepPlan(
                    recipe.name,
                    "-",
                    recipe.summary,
                    status="skipped",
                    reason=f"not for this container ({recipe.when_text})",
                )
            )
            continue
        for step in recipe.steps:
            rounds = range(1, int(facts.ttys) + 1) if step.each_tty else [None]
            for n in rounds:
                ctx.facts = values if n is None else {**values, "n": n}
                result.steps.append(_plan_step(ctx, recipe, step, n, int(facts.ttys)))
        ctx.facts = values
    return result


def _apply_change(rootfs: Rootfs, change: Change) -> None:
    if change.kind == "file":
        rootfs.write_bytes(
            change.path,
            change.after.encode("utf-8", errors="surrogateescape"),
            mode=change.mode,
            uid=change.uid,
            gid=change.gid,
            make_parents=True,
        )
    elif change.kind == "symlink":
        rootfs.symlink(change.path, change.after)
    elif change.kind == "mkdir":
        rootfs.mkdir(change.path, mode=change.mode or 0o755)
    elif change.kind == "remove":
        rootfs.remove(change.path)
    elif change.kind == "chardev":
        _c, major, minor = change.after.split()
        rootfs.mknod_char(change.path, int(major), int(minor), change.mode or 0o620)


def apply(rootfs: Rootfs, planned: Plan) -> list[Change]:
    """Make every planned change true, in order; returns what was changed.

    Each write is atomic (lxcprov.system.rootfs): a change that fails leaves the file as
    it was, and running the recipes again makes the rest.
    """
    done: list[Change] = []
    for change in planned.changes:
        try:
            _apply_change(rootfs, change)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(
                    f"no space left to write {change.path} in the container "
                    f"({len(done)} of {plural(len(planned.changes), 'change')} made)",
                    hint="free space on its filesystem, then run: lxcprov fix NAME",
                ) from None
            raise RootfsError(
                f"cannot {change.describe()}: {exc.strerror}",
                hint="the other changes are kept; lxcprov fix NAME tries again",
            ) from None
        done.append(change)
    return done
