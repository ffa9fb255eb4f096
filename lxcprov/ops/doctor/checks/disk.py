"""A container's disk image (lxcprov.system.diskimage): loop devices nothing mounts, and
limits the host's free space could not hold if every image filled up."""

from __future__ import annotations

from lxcprov.engine.disklimit import human
from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding
from lxcprov.ops.doctor.views import ContainerView


def disk_findings(view: ContainerView, prog: str) -> list[Finding]:
    out: list[Finding] = []
    if view.disk_stale_loops:
        out.append(Finding(
            "disk-loop-stale", "warning", "container", view.name,
            f"loop device {', '.join(view.disk_stale_loops)} holds a disk image of "
            f"{view.name}'s but nothing mounts it",
            "a command was killed between attaching the image and mounting it: the device "
            "is taken from the host's few loop devices until it is detached",
            f"{prog} doctor {_q(view.name)} --fix", "disk",
        ))  # fmt: skip
    if view.disk_growth is not None:
        growth, free = view.disk_growth
        out.append(Finding(
            "disk-overcommit", "warning", "container", view.name,
            f"the disk images in this lxcpath can still grow by {human(growth)}, more than "
            f"the {human(free)} free on its filesystem",
            "the images are sparse: if they all fill up the host's filesystem fills first, "
            "and a container then gets I/O errors instead of \"No space left on device\"",
            f"{prog} set {_q(view.name)} disk=SMALLER  # (stopped), or free space on the host",
        ))  # fmt: skip
    return out
