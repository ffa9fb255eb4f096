"""`lxcprov fix`: apply the recipes to an existing container (made by lxcprov or by hand)."""

from __future__ import annotations

from lxcprov.engine import recipes
from lxcprov.ops import doctor, recovery, targets, workspace
from lxcprov.ops.access import Access
from lxcprov.ops.outcome import Outcome
from lxcprov.system import locks, lxc


def fix(
    container: lxc.Container,
    *,
    access: Access | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Plan the chosen recipes and, unless dry_run, apply them; one opening of the rootfs."""
    lxc.require_root()
    targets.refuse_base(container, "fix")
    secrets = (access or Access()).secrets()
    chosen = recipes.select(recipes.load_all(), only or [], skip or [])
    with locks.container(container.lxcpath, container.name, "fix"):
        recovery.refuse_incomplete(container)
        container.require()
        with workspace.opened(container) as ws:
            facts, plan, applied = ws.run(chosen, secrets, dry_run=dry_run)
            left = [] if dry_run else doctor.remaining(container, ws)
    outcome = Outcome(container, facts, plan, applied, remaining=left)
    if applied and container.running():
        outcome.notes.append(
            f"{container.name} is running: restart it for the changes to take effect "
            f"(lxcprov restart {container.name})"
        )
    return outcome
