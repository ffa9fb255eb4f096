"""The host devices a container was given that the host no longer has (or has another
device at their path now)."""

from __future__ import annotations

from lxcprov.ops.doctor.checks.text import q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView


def devices_missing(view: ContainerView, prog: str) -> list[Finding]:
    gone, other = view.devices_missing, view.devices_other
    if not gone and not other:
        return []
    said, fixes = [], []
    if gone:
        said.append(f"{', '.join(gone)}, which this host does not have now (unplugged)")
        rm = " && ".join(f"{prog} device rm {q(view.name)} {q(p)}" for p in gone)
        fixes.append(f"plug it back in and restart {view.name}, or: {rm}")
    if other:
        said.append(f"{', '.join(other)}, which is another device on this host now")
        again = " && ".join(f"{prog} device rm {q(view.name)} {q(p)} && {prog} device add "
                            f"{q(view.name)} {q(p)}" for p in other)  # fmt: skip
        fixes.append(f"to give it the device there now: {again}")
    return [
        Finding(
            "device-missing",
            "warning",
            "container",
            view.name,
            f"{view.name} was given {'; and '.join(said)}: it starts without it",
            "programs inside that use the device fail; its mount entry is optional, so the "
            "start itself goes on",
            "; ".join(fixes),
        )
    ]
