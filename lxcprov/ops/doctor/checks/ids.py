"""A container's id map: privileged, too small for a distro, or not the rootfs's owner."""

from __future__ import annotations

from lxcprov.engine import idmap
from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.model import Finding, FindingId, Severity
from lxcprov.ops.doctor.views import ContainerView


def ids_findings(view: ContainerView, prog: str) -> list[Finding]:
    """Privileged containers, maps too small for a distro, rootfs owners off the map."""
    out: list[Finding] = []
    name = view.name

    def add(id_: FindingId, severity: Severity, message: str, why: str, fix: str) -> None:
        out.append(Finding(id_, severity, "container", name, message, why, fix,
                           blocks_start=id_ == "rootfs-owner-mismatch"))  # fmt: skip

    if view.ids is None:
        add(
            "privileged-container",
            "warning",
            f"{name} is privileged: uid 0 inside is uid 0 on the host",
            "whoever becomes root in it and gets out of it (a kernel bug, a mistake in its "
            "config) is root on this host; LXC calls privileged containers not root-safe",
            f"{prog} stop {_q(name)} && {prog} convert {_q(name)} --unprivileged",
        )
    elif view.ids.count < idmap.BLOCK:
        add(
            "idmap-too-small",
            "warning",
            f"{name}'s id map holds {view.ids.count} ids: uid 65534 (nobody) is outside it",
            "files and processes of nobody, nogroup and high system users cannot exist inside: "
            "package installs and daemons fail in odd ways",
            f"give it {idmap.BLOCK} ids: {prog} convert {_q(name)} --privileged && "
            f"{prog} convert {_q(name)} --unprivileged",
        )
    if view.rootfs_owner is not None and view.rootfs_exists:
        want = (0, 0) if view.ids is None else (view.ids.host_uid, view.ids.host_gid)
        if view.rootfs_owner != want:
            kind = "privileged" if view.ids is None else "unprivileged"
            add(
                "rootfs-owner-mismatch",
                "error",
                f"{name}'s rootfs is owned by {view.rootfs_owner[0]}:{view.rootfs_owner[1]} on "
                f"the host, but its map says root is {want[0]}:{want[1]}",
                "its files are not where its map puts them: inside, everything would belong "
                "to nobody and root could not even write /etc",
                f"{prog} convert {_q(name)} --{kind}  # shifts the files to match the map",
            )
    return out
