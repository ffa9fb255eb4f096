"""Plan recipes into changes against a rootfs, and apply a plan. Nothing else writes."""

from __future__ import annotations

from lxcprov.engine.facts import Facts
from lxcprov.engine.recipes.actions import ACTIONS, Context, Secrets, Skip
from lxcprov.engine.recipes.model import Change, Plan, Recipe, StepPlan
from lxcprov.engine.recipes.staging import StagedRootfs
from lxcprov.engine.recipes.when import evaluate
from lxcprov.errors import UnknownRecipeError
from lxcprov.system.rootfs import Rootfs


def select(recipes: list[Recipe], only: list[str], skip: list[str]) -> list[Recipe]:
    """The recipes to run: all of them, or only those named, minus those skipped."""
    known = {r.name for r in recipes}
    for name in [*only, *skip]:
        if name not in known:
            raise UnknownRecipeError(
                f"unknown recipe {name!r}",
                hint="known recipes: " + ", ".join(sorted(known)),
            )
    return [r for r in recipes if (not only or r.name in only) and r.name not in skip]


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
                    skipped=f"not for this container ({recipe.when_text})",
                )
            )
            continue
        for step in recipe.steps:
            fn = ACTIONS[step.action][0]
            rounds = range(1, int(facts.ttys) + 1) if step.each_tty else [None]
            for n in rounds:
                ctx.facts = values if n is None else {**values, "n": n}
                label = f"{step.action} {step.params.get('path', '')}".strip()
                sp = StepPlan(recipe.name, step.action, label)
                if step.when is not None and not evaluate(step.when, ctx.facts):
                    sp.skipped = f"not for this container ({step.when_text})"
                else:
                    try:
                        sp.changes = fn(ctx, step.params)
                    except Skip as why:
                        sp.skipped = str(why)
                result.steps.append(sp)
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
    """Make every planned change true, in order; returns what was changed."""
    done: list[Change] = []
    for change in planned.changes:
        _apply_change(rootfs, change)
        done.append(change)
    return done
