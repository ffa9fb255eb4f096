"""Turning plans and outcomes into text for people and data for --json."""

from __future__ import annotations

from typing import Any

from lxcprov.cli.common import err, shown
from lxcprov.engine.lines import split_lines
from lxcprov.engine.recipes import Plan
from lxcprov.ops.outcome import Outcome


def plan_data(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "recipe": s.recipe,
            "step": s.description,
            "status": s.status,
            "reason": s.reason or None,
            "skipped": s.skipped,
            "changes": [
                {"path": c.path, "kind": c.kind, "action": c.describe(), "diff": c.diff()}
                for c in s.changes
            ],
        }
        for s in plan.steps
    ]


def show_plan(plan: Plan, *, diffs: bool, verbose: bool = False) -> None:
    changes = plan.changes
    if verbose:
        # Every step that changes nothing, and why: already in place, or not for this one.
        for step in plan.steps:
            if not step.changes:
                err.print(f"[dim]{shown(step.recipe)}: {shown(step.description)}: "
                          f"{step.status}, {shown(step.reason)}[/]")  # fmt: skip
    if not changes:
        err.print("[green]nothing to change[/]: every recipe is already in place")
        return
    for recipe in plan.recipes_changing():
        err.print(f"[bold]{recipe}[/]")
        for step in plan.steps:
            if step.recipe != recipe:
                continue
            for change in step.changes:
                err.print(f"  {shown(change.describe())}")
                if diffs:
                    for line in split_lines(change.diff()):
                        style = (
                            "green"
                            if line.startswith("+")
                            else "red"
                            if line.startswith("-")
                            else "dim"
                        )
                        err.print(f"    [{style}]{shown(line)}[/]")


def outcome_data(outcome: Outcome, *, dry_run: bool = False) -> dict[str, Any]:
    c = outcome.container
    return {
        "name": c.name,
        "lxcpath": str(c.lxcpath),
        "dry_run": dry_run,
        "facts": outcome.facts.as_dict() if outcome.facts else None,
        "changes": len(outcome.plan.changes) if outcome.plan else 0,
        "applied": outcome.applied,
        "plan": plan_data(outcome.plan) if outcome.plan else [],
        "started": outcome.started,
        "state": c.state() if c.exists() else None,
        "ipv4": outcome.ipv4 or c.ipv4(),
        "network": {
            "mode": outcome.network.mode,
            "bridge": outcome.network.bridge,
            "address": outcome.network.address,
            "gateway": outcome.network.gateway,
        },
        "login_tty": outcome.login_tty,
        "root_password": outcome.generated_password,
        "timings": outcome.timings,
        "base": outcome.base,
        "privileged": outcome.privileged,
        "clone_method": outcome.clone_method,
        "kind": outcome.kind,
        "notes": outcome.notes,
    }


def next_steps(outcome: Outcome) -> None:
    c = outcome.container
    if outcome.generated_password:
        err.print(
            f"root password (shown once, only its hash is stored): "
            f"[bold]{shown(outcome.generated_password)}[/]"
        )
    for note in outcome.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    err.print("next:")
    if outcome.started:
        tty = "" if outcome.login_tty in (None, 1) else f" --tty {outcome.login_tty}"
        err.print(f"  lxcprov console {c.name}{tty}    (log in as root; Ctrl-a q leaves)")
        err.print(f"  lxcprov exec {c.name} -- CMD...")
    else:
        err.print(f"  lxcprov start {c.name}")
    err.print(f"  lxcprov stop {c.name}   /   lxcprov destroy {c.name}")
