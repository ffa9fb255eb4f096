"""Apply the fixes findings name, through the two mechanisms lxcprov already has.

The network through `hostnet.setup` (what `lxcprov net setup` runs), the container
through the recipes the findings name, in the container's opened rootfs (what `lxcprov fix
--recipe` runs). There is no third code path: a doctor fix is exactly its command.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.engine import recipes
from lxcprov.errors import LxcprovError
from lxcprov.ops.access import Access
from lxcprov.ops.doctor.model import Finding, FixReport
from lxcprov.ops.workspace import Workspace
from lxcprov.system import hostnet, lxcfs

NEEDS_ACCESS = "needs root access to set: give --root-password-file FILE or --ssh-key KEY.pub"


@dataclass(frozen=True)
class NetOptions:
    """Options passed on to `net setup` when a bridge is made or repaired."""

    address: str | None = None  # bridge address/prefix (default: the saved one or 10.0.3.1/24)
    uplink: str | None = None
    nat: bool | None = None


def apply_fixes(
    findings: list[Finding],
    ws: Workspace | None,
    access: Access,
    net: NetOptions | None = None,
) -> FixReport:
    """Fix the host first, then the container opened as ws (None: host findings only)."""
    report = FixReport()
    net = net or NetOptions()
    # The host first: a container's boot depends on its bridge, never the other way.
    bridges: dict[str, bool] = {}
    for f in findings:
        if f.fix_kind == "net-setup" and f.bridge:
            bridges[f.bridge] = bridges.get(f.bridge, False) or f.dhcp
    for bridge, dhcp in bridges.items():
        try:
            result = hostnet.setup(
                bridge, address=net.address, uplink=net.uplink, nat=net.nat, dhcp=dhcp or None
            )
        except LxcprovError as exc:
            for f in findings:
                if f.bridge == bridge and f.fix_kind == "net-setup":
                    report.skipped.append((f.id, f"net setup failed: {exc.message}"))
            continue
        done = result.actions or ("nothing to change",)
        report.applied += [f"net setup --bridge {bridge}: {a}" for a in done]
        report.notes += list(result.notes)

    wanted: list[str] = []
    for f in findings:
        if f.fix_kind != "recipe":
            continue
        if ws is None:
            report.skipped.append((f.id, "a container fix needs the container's name"))
        elif f.needs_secret and not access.given:
            report.skipped.append((f.id, NEEDS_ACCESS))
        else:
            wanted += [r for r in f.recipes if r not in wanted]
    if wanted and ws is not None:
        chosen = recipes.select(recipes.load_all(), wanted, [])
        _facts, plan, applied = ws.run(chosen, access.secrets())
        report.applied += [f"{s.recipe}: {c.describe()}" for s in plan.steps for c in s.changes]
        name = ws.container.name
        if applied and ws.container.running():
            report.notes.append(
                f"{name} is running: restart it for the changes to take effect "
                f"(lxcprov restart {name})"
            )

    for f in findings:
        if f.fix_kind == "service" and f.id in ("lxcfs-not-running", "lxcfs-dead"):
            try:
                report.applied.append(f"{f.id}: started lxcfs ({lxcfs.start()})")
            except LxcprovError as exc:
                report.skipped.append((f.id, exc.message))

    for f in findings:
        if f.fix_kind == "release" and f.owner:
            hostnet.release_address(f.bridge, f.owner)
            report.applied.append(f"address-stale: released {f.owner}'s address on {f.bridge}")

    for f in findings:
        if f.fix_kind == "manual" and f.severity != "info":
            report.skipped.append((f.id, f"not done automatically; run: {f.fix}"))
    return report
