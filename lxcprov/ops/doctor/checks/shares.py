"""The host directories a running container was given that are not mounted in it."""

from __future__ import annotations

from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView


def shares_not_mounted(view: ContainerView) -> list[Finding]:
    if not view.shares_not_mounted:
        return []
    targets = ", ".join(t for t, _ in view.shares_not_mounted)
    again = " && ".join(cmd for _, cmd in view.shares_not_mounted)
    return [
        Finding(
            "share-not-mounted",
            "warning",
            "container",
            view.name,
            f"{view.name} runs without {targets}, which `mount ls` lists: a `mount add` was "
            "stopped before it mounted it, or it was unmounted inside",
            "programs inside see an empty directory there until the next start",
            f"{again} (or restart {view.name})",
        )
    ]
