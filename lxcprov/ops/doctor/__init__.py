"""lxcprov doctor: why a container will not boot, has no network or no console, and the fix.

Observe (views) -> judge (checks, pure) -> fix (through recipes and `net setup`).

Public API::

    check_host() -> list[Finding]
    check_container(container) -> list[Finding]
    examine(container | None, fix=, access=, net=) -> Examination   (the doctor command)
    remaining(container) -> list[Finding]      for the end of new/fix and a failed start
    observe(container, ws) / remaining_for(container, view)   the same in two halves
    start_blockers(findings) -> list[Finding]  what makes lxc-start fail
    findings_json(findings, ...) -> dict       the --json document (docs/doctor.schema.json)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.errors import ContainerBusyError, LxcprovError
from lxcprov.ops import convert, recovery
from lxcprov.ops.access import Access
from lxcprov.ops.doctor import checks, views
from lxcprov.ops.doctor.fixes import NEEDS_ACCESS, NetOptions, apply_fixes
from lxcprov.ops.doctor.model import (
    Finding,
    FixReport,
    errors,
    ordered,
)
from lxcprov.ops.doctor.views import ContainerView, HostView
from lxcprov.ops.workspace import Workspace
from lxcprov.system import locks, lxc

__all__ = [
    "NEEDS_ACCESS",
    "SCHEMA_VERSION",
    "ContainerView",
    "Finding",
    "FixReport",
    "HostView",
    "NetOptions",
    "as_details",
    "check_container",
    "check_host",
    "errors",
    "examine",
    "findings_json",
    "observe",
    "remaining",
    "remaining_for",
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


def check_host(lxcpath: Path | None = None) -> list[Finding]:
    host = views.observe_host(lxcpath=lxcpath, limits_too=True)
    return ordered(checks.check_host(host, prog_for(lxcpath)))


def _check(container: lxc.Container, ws: Workspace | None) -> tuple[list[Finding], HostView]:
    return _judge(container, views.observe_container(container, ws))


def _judge(container: lxc.Container, view: ContainerView) -> tuple[list[Finding], HostView]:
    """The findings on a container already observed, with the host observed now."""
    host = views.observe_host(bridges=view.links())
    found = checks.check_container(view, host, prog_for(container.lxcpath))
    return ordered(found), host


def check_container(container: lxc.Container) -> list[Finding]:
    """The host parts the container needs and the container itself, without starting it."""
    container.require()
    with views.opened(container) as ws:
        return _check(container, ws)[0]


@dataclass
class Examination:
    """One `lxcprov doctor` run: what it found, what --fix did, what is left."""

    findings: list[Finding]  # after the fixes, when there were any
    host: HostView
    before: list[Finding] = field(default_factory=list)
    report: FixReport | None = None


def examine(
    container: lxc.Container | None,
    *,
    fix: bool = False,
    access: Access | None = None,
    net: NetOptions | None = None,
    lxcpath: Path | None = None,
    only: tuple[str, ...] = (),
) -> Examination:
    """Check the host (and a container), and with fix apply the fixes and check again.

    only: fix just the findings with these ids (a page's Fix button next to one finding);
    every finding is still reported. The container's files are opened once for the whole run.
    """
    access = access or Access()
    if access.given:
        access.secrets()  # a bad file is reported before anything else happens
    if container is None:
        prog = prog_for(lxcpath)
        host = views.observe_host(lxcpath=lxcpath, limits_too=True)
        found = ordered(checks.check_host(host, prog))
        if not fix:
            return Examination(found, host)
        report = apply_fixes(_only(found, only), None, access, net)
        host = views.observe_host(lxcpath=lxcpath, limits_too=True)
        after = ordered(checks.check_host(host, prog))
        return Examination(after, host, found, report)
    # --fix waits for another command on the container; a look does not (it says so).
    try:
        with locks.container(container.lxcpath, container.name, "doctor",
                             wait=locks.WAIT_SECONDS if fix else 0):  # fmt: skip
            return _examine(container, fix, access, net, only)
    except ContainerBusyError:
        holder = locks.busy(container.lxcpath, container.name) or "another lxcprov command"
        host = views.observe_host(bridges=[])
        return Examination([checks.busy(container.name, holder)], host)


def _only(found: list[Finding], only: tuple[str, ...]) -> list[Finding]:
    return [f for f in found if f.id in only] if only else found


def _examine(
    container: lxc.Container,
    fix: bool,
    access: Access,
    net: NetOptions | None,
    only: tuple[str, ...] = (),
) -> Examination:
    prog = prog_for(container.lxcpath)
    left = recovery.leftover(container.lxcpath, container.name)
    if left is not None:
        found = [checks.incomplete(container.name, left, prog)]
        host = views.observe_host(bridges=[])
        if not fix or not _only(found, only):
            return Examination(found, host)
        if left.command == "convert":  # finished in the direction it was going
            done = convert.convert(
                container, unprivileged=left.detail != "privileged", progress=None
            ).done
            report = FixReport(applied=[f"incomplete-container: {line}" for line in done])
            after, host = _check_after(container)
            return Examination(after, host, found, report)
        if left.detail.startswith(recovery.NET_DETAIL):  # finished: the same `set` again
            # Here only: `new` imports doctor, and settings (with its table) is not new's.
            from lxcprov.ops import settings

            results = settings.finish_network(container, left)
            report = FixReport(applied=[
                f"incomplete-container: set {r.setting}={r.value}: {r.status}" for r in results
            ])  # fmt: skip
            after, host = _check_after(container)
            return Examination(after, host, found, report)
        removed = recovery.undo(container, left)
        report = FixReport(applied=[f"incomplete-container: {line}" for line in removed.done])
        again = checks.incomplete(container.name, left, prog).fix.partition(" && ")[2]
        if again:
            report.notes.append(f"{container.name} is removed; make it again with: {again}")
        return Examination([], host, found, report)
    container.require()
    with views.opened(container) as ws:
        found, host = _check(container, ws)
        if not fix:
            return Examination(found, host)
        report = apply_fixes(_only(found, only), ws, access, net)
        after, host = _check(container, ws)
        return Examination(after, host, found, report)


def _check_after(container: lxc.Container) -> tuple[list[Finding], HostView]:
    with views.opened(container) as ws:
        return _check(container, ws)


def remaining(container: lxc.Container, ws: Workspace | None = None) -> list[Finding]:
    """Errors and warnings left on a container (for end-of-command advice).

    ws: the container as the command already opened it (no second mount of a clone).
    """
    try:
        if ws is not None:
            view = views.observe_container(container, ws)
        else:
            container.require()
            with views.opened(container) as opened:
                view = views.observe_container(container, opened)
    except LxcprovError as exc:
        # Advice must not turn a command that worked into a failure; say why it is missing.
        return [checks.unobservable(container.name, exc.message)]
    return remaining_for(container, view)


def observe(container: lxc.Container, ws: Workspace | None) -> ContainerView:
    """The container's half of remaining(), read while its files are open."""
    return views.observe_container(container, ws)


def remaining_for(container: lxc.Container, view: ContainerView) -> list[Finding]:
    """remaining() for a container already observed: the host is looked at now (`new`
    does it while the container boots)."""
    try:
        found = _judge(container, view)[0]
    except LxcprovError as exc:
        return [checks.unobservable(container.name, exc.message)]
    return [f for f in found if f.severity != "info"]


def as_details(findings: list[Finding]) -> list[str]:
    """Findings as the details of an error (one line each, with its fix)."""
    return [f"{f.severity} {f.id}: {f.message} (fix: {f.fix})" for f in findings]


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
