"""A container with Docker or Podman inside whose config lacks nesting: the engine is
installed, its daemon may even start, but its containers fail or run without their
limits (lxcprov.engine.nesting says what each key gives). The fix is one setting and a
restart, never a privileged container."""

from __future__ import annotations

from lxcprov.engine import nesting
from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView


def nesting_findings(view: ContainerView, prog: str) -> list[Finding]:
    if not view.engines:
        return []
    # view.raw holds the file's keys and its includes' in order: the last value counts,
    # whoever wrote it (`set nesting=yes` or a person).
    if nesting.in_effect(list(view.raw)):
        return []
    name, what = _q(view.name), " and ".join(view.engines)
    return [Finding(
        "nesting-off", "warning", "container", view.name,
        f"{what} inside {view.name} {'need' if len(view.engines) > 1 else 'needs'} nesting: "
        f"{prog} set {view.name} nesting=yes",
        f"nesting is off: {what} cannot run containers with CPU limits, "
        "and on an AppArmor host cannot start one at all",
        f"{prog} set {name} nesting=yes && {prog} restart {name}",
    )]  # fmt: skip
