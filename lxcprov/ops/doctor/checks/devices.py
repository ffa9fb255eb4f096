"""The host devices a container was given that the host no longer has."""

from __future__ import annotations

from lxcprov.ops.doctor.checks.text import q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView


def devices_missing(view: ContainerView, prog: str) -> list[Finding]:
    if not view.devices_missing:
        return []
    paths = ", ".join(view.devices_missing)
    fix = " && ".join(f"{prog} device rm {q(view.name)} {q(p)}" for p in view.devices_missing)
    return [
        Finding(
            "device-missing",
            "warning",
            "container",
            view.name,
            f"{view.name} was given {paths}, which this host does not have now (unplugged, "
            "or another device there): it starts without it",
            "programs inside that use the device fail; its mount entry is optional, so the "
            "start itself goes on",
            f"plug it back in and restart {view.name}, or: {fix}",
        )
    ]
