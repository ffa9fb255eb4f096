"""Apply the fixes findings name, through the two mechanisms lxcprov already has.

The network through `hostnet.setup` (what `lxcprov net setup` runs), the container
through the recipes the findings name, in the container's opened rootfs (what `lxcprov fix
--recipe` runs). There is no third code path: a doctor fix is exactly its command.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.engine import hostlimits, recipes
from lxcprov.errors import LxcprovError
from lxcprov.ops import limits
from lxcprov.ops.access import Access
from lxcprov.ops.doctor.model import Finding, FindingId, FixReport
from lxcprov.ops.workspace import Workspace
from lxcprov.system import diskimage, hostnet, lxcfs, run

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
    """Fix the host first, then the container opened as ws (None: host findings only).

    The host first: a container's boot depends on its bridge, never the other way. Each
    kind of fix is chosen from the findings by a pure function, then carried out."""
    report = FixReport()
    # Stale entries first: a gone container's published port, still listed, must leave the
    # table before `net setup` writes the rules from it (or its port would open again).
    for f in findings:
        if f.fix_kind == "release" and f.owner:
            _release(f, report)
    for bridge, dhcp in bridges_to_set_up(findings).items():
        _set_up_bridge(bridge, dhcp, findings, net or NetOptions(), report)
    wanted, skipped = recipes_to_run(findings, has_container=ws is not None,
                                     access_given=access.given)  # fmt: skip
    report.skipped += skipped
    if wanted and ws is not None:
        _run_recipes(ws, wanted, access, report)
    for f in findings:
        if f.fix_kind == "service" and f.id in ("lxcfs-not-running", "lxcfs-dead"):
            _start_lxcfs(f, report)
    for f in findings:
        if f.fix_kind == "disk" and ws is not None:
            c = ws.container
            for device in diskimage.stale_loops(c.lxcpath / c.name):
                run.run(["losetup", "-d", device], check=False)
                report.applied.append(f"{f.id}: detached {device}")
    _raise_limits([f for f in findings if f.fix_kind == "sysctl"], report)
    report.skipped += [(f.id, f"not done automatically; run: {f.fix}") for f in findings
                       if f.fix_kind == "manual" and f.severity != "info"]  # fmt: skip
    return report


def bridges_to_set_up(findings: list[Finding]) -> dict[str, bool]:
    """The bridges `net setup` repairs, each with whether DHCP must be turned on."""
    bridges: dict[str, bool] = {}
    for f in findings:
        if f.fix_kind == "net-setup" and f.bridge:
            bridges[f.bridge] = bridges.get(f.bridge, False) or f.dhcp
    return bridges


def recipes_to_run(
    findings: list[Finding], *, has_container: bool, access_given: bool
) -> tuple[list[str], list[tuple[FindingId, str]]]:
    """The recipes the container's findings name (each once, in order), and the findings
    left unfixed with why: no container named, or no root access given for a secret."""
    wanted: list[str] = []
    skipped: list[tuple[FindingId, str]] = []
    for f in findings:
        if f.fix_kind != "recipe":
            continue
        if not has_container:
            skipped.append((f.id, "a container fix needs the container's name"))
        elif f.needs_secret and not access_given:
            skipped.append((f.id, NEEDS_ACCESS))
        else:
            wanted += [r for r in f.recipes if r not in wanted]
    return wanted, skipped


def _set_up_bridge(
    bridge: str, dhcp: bool, findings: list[Finding], net: NetOptions, report: FixReport
) -> None:
    try:
        result = hostnet.setup(
            bridge, address=net.address, uplink=net.uplink, nat=net.nat, dhcp=dhcp or None
        )
    except LxcprovError as exc:
        report.skipped += [(f.id, f"net setup failed: {exc.message}") for f in findings
                           if f.bridge == bridge and f.fix_kind == "net-setup"]  # fmt: skip
        return
    done = result.actions or ("nothing to change",)
    report.applied += [f"net setup --bridge {bridge}: {a}" for a in done]
    report.notes += list(result.notes)


def _run_recipes(ws: Workspace, wanted: list[str], access: Access, report: FixReport) -> None:
    chosen = recipes.select(recipes.load_all(), wanted, [])
    _facts, plan, applied = ws.run(chosen, access.secrets())
    report.applied += [f"{s.recipe}: {c.describe()}" for s in plan.steps for c in s.changes]
    name = ws.container.name
    if applied and ws.container.running():
        report.notes.append(
            f"{name} is running: restart it for the changes to take effect (lxcprov restart {name})"
        )


def _release(f: Finding, report: FixReport) -> None:
    """Give back everything the bridge's books hold for a container that is gone: its
    address, MAC and published ports with their rules (what destroy does)."""
    try:
        hostnet.forget(f.bridge, f.owner)
    except LxcprovError as exc:
        report.skipped.append((f.id, exc.message))
        return
    report.applied.append(f"address-stale: released {f.owner}'s address on {f.bridge}")


def _raise_limits(findings: list[Finding], report: FixReport) -> None:
    names = [n for f in findings for n in hostlimits.SYSCTLS_OF.get(f.id, ())]
    if not names:
        return
    try:
        report.applied += [f"raised {line}" for line in limits.raise_limits(names)]
    except (LxcprovError, OSError) as exc:
        report.skipped += [(f.id, f"could not raise it: {exc}") for f in findings]


def _start_lxcfs(f: Finding, report: FixReport) -> None:
    try:
        report.applied.append(f"{f.id}: started lxcfs ({lxcfs.start()})")
    except LxcprovError as exc:
        report.skipped.append((f.id, exc.message))
