"""A container doctor cannot examine as it is: half-made by a killed command, busy with
another command, or not observable at all."""

from __future__ import annotations

import shlex

from lxcprov.ops.doctor.model import Finding
from lxcprov.system.journal import Entry


def incomplete(name: str, entry: Entry, prog: str) -> Finding:
    """A container a killed lxcprov command left half-made (its journal is still there)."""
    again = f" && lxcprov {shlex.join(entry.argv)}" if entry.command == "new" and entry.argv else ""
    fix = f"{prog} destroy --force {shlex.quote(name)}{again}"
    if entry.command == "convert":
        flag = "--privileged" if entry.detail == "privileged" else "--unprivileged"
        fix = f"{prog} convert {shlex.quote(name)} {flag}  # the other flag rolls it back"
    # Ended in place, kept: a snapshot command, a move of its files into a disk image.
    if entry.command in ("snapshot", "snapshot rm", "restore") or entry.detail.startswith("disk:"):
        fix = f"{prog} doctor {shlex.quote(name)} --fix"
    return Finding(
        "incomplete-container",
        "error",
        "container",
        name,
        f"{name} was left half-made: {entry.describe()} was killed",
        "its recipes did not all run (root may be locked, a clone may share its base's SSH "
        "keys), a template run may still be going on, its address may be held; it must not "
        "be started as it is",
        fix,
        "undo",
        blocks_start=True,
    )


def busy(name: str, holder: str) -> Finding:
    return Finding(
        "container-busy",
        "info",
        "container",
        name,
        f"{name} is busy: {holder} is working on it",
        "doctor does not look at a container while another lxcprov command changes it",
        f"lxcprov doctor {shlex.quote(name)}  # again, once it is done",
    )


def unobservable(name: str, why: str) -> Finding:
    """What doctor says when it could not look at a container at all."""
    return Finding(
        "doctor-failed",
        "warning",
        "container",
        name,
        f"doctor could not check {name}: {why}",
        "the checks that follow a command could not run; the command itself worked",
        f"lxcprov doctor {shlex.quote(name)}",
    )
