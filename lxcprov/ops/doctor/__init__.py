"""lxcprov doctor: why a container will not boot, has no network or no console, and the fix.

Observe (views) -> judge (checks, pure) -> fix (through recipes and `net setup`).

Public API::

    check_host() -> list[Finding]
    check_container(container) -> list[Finding]
    fix(findings, container, access, net=None) -> FixReport   (re-checks: .remaining)
    remaining(container) -> list[Finding]      for the end of new/fix and a failed start
    start_blockers(findings) -> list[Finding]  what makes lxc-start fail
    findings_json(findings, ...) -> dict       the --json document (docs/doctor.schema.json)
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from lxcprov.errors import LxcprovError
from lxcprov.ops import provision
from lxcprov.ops.doctor import checks, views
from lxcprov.ops.doctor.fixes import NEEDS_ACCESS, NetOptions, apply_fixes
from lxcprov.ops.doctor.model import (
    Finding,
    FixReport,
    errors,
    ordered,
)
from lxcprov.ops.doctor.views import HostView
from lxcprov.system import lxc

__all__ = [
    "NEEDS_ACCESS",
    "SCHEMA_VERSION",
    "Finding",
    "FixReport",
    "HostView",
    "NetOptions",
    "check_container",
    "check_host",
    "errors",
    "findings_json",
    "fix",
    "remaining",
    "start_blockers",
]

SCHEMA_VERSION = 1


def prog_for(lxcpath: Path | None) -> str:
    """How the user calls lxcprov for this lxcpath, so fix commands can be pasted as-is."""
    if lxcpath is None:
        return "lxcprov"
    with contextlib.suppress(LxcprovError):
        if Path(lxcpath) == lxc.default_lxcpath():
            return "lxcprov"
    return f"lxcprov -P {lxcpath}"


def check_host() -> list[Finding]:
    return ordered(checks.check_host(views.observe_host()))


def _check_container(container: lxc.Container) -> tuple[list[Finding], HostView]:
    container.require()
    view = views.observe_container(container)
    host = views.observe_host(bridges=view.links())
    found = checks.check_container(view, host, prog_for(container.lxcpath))
    return ordered(found), host


def check_container(container: lxc.Container) -> list[Finding]:
    """The host parts the container needs and the container itself, without starting it."""
    return _check_container(container)[0]


def fix(
    findings: list[Finding],
    container: lxc.Container | None,
    access: provision.Access | None = None,
    net: NetOptions | None = None,
) -> FixReport:
    """Apply the fixes of findings, then check again; report.remaining is what is left."""
    report = apply_fixes(findings, container, access or provision.Access(), net)
    report.remaining = check_container(container) if container else check_host()
    return report


def remaining(container: lxc.Container) -> list[Finding]:
    """Errors and warnings left on a container; never raises (for end-of-command advice)."""
    try:
        return [f for f in check_container(container) if f.severity != "info"]
    except LxcprovError:
        return []


def start_blockers(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error" and f.blocks_start]


def findings_json(
    findings: list[Finding],
    *,
    host: HostView | None = None,
    container: lxc.Container | None = None,
    report: FixReport | None = None,
    before: list[Finding] | None = None,
) -> dict[str, object]:
    """The --json document; its shape is docs/doctor.schema.json."""
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    fixed: dict[str, object] | None = None
    if report is not None:
        fixed = {**report.as_dict(), "found": [f.id for f in before or []]}
    return {
        "schema_version": SCHEMA_VERSION,
        "target": "container" if container else "host",
        "container": None
        if container is None
        else {"name": container.name, "lxcpath": str(container.lxcpath)},
        "host": None if host is None else host.as_dict(),
        "ok": counts["error"] == 0,
        "summary": counts,
        "findings": [f.as_dict() for f in findings],
        "fix": fixed,
    }


def observe_host_for(container: lxc.Container | None) -> HostView:
    """The host view the JSON document shows (the container's bridges, or the host's)."""
    if container is None:
        return views.observe_host()
    try:
        links = views.observe_container(container).links()
    except LxcprovError:
        links = []
    return views.observe_host(bridges=links)
